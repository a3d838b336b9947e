"""Runs NIST XDS Toolkit test directories as shipped against any XDS.b registry/repository."""
