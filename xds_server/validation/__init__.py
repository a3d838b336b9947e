"""Metadata rules as data tables, per profile (ihe, cisis); errors.py: the one ErrorCode enum."""
