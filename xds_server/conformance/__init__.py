"""Conformance scenarios (converted from the NIST XDS Toolkit) and a runner for any endpoint."""
