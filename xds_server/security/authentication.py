"""What every authentication adapter shares, whatever its transport: the VIHF verifier the
settings ask for, and the calling system's certificate attached to a principal.

The adapters themselves sit with their fronts (the SOAP one in transactions/authentication.py
reads the VIHF from the wsse:Security header); each produces the same `Principal`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from ..config import ConfigError, Settings
from .principal import Principal
from .vihf import VihfVerifier


def verifier_for(settings: Settings) -> VihfVerifier | None:
    """The VIHF verifier XDS_SECURITY asks for (None: security off), or ConfigError."""
    if settings.security == "none":
        return None
    if settings.vihf_trusted_certs and not Path(settings.vihf_trusted_certs).exists():
        raise ConfigError(f"XDS_VIHF_TRUSTED_CERTS={settings.vihf_trusted_certs}: no such file "
                          "or directory (the PEM file or directory of the authorities that "
                          "sign VIHF assertions)")
    if not settings.vihf_trusted_certs:
        raise ConfigError("XDS_SECURITY=vihf needs XDS_VIHF_TRUSTED_CERTS: the PEM file or "
                          "directory of the authorities that sign VIHF assertions (or "
                          "XDS_SECURITY=none on a test platform)")
    try:
        return VihfVerifier.from_path(Path(settings.vihf_trusted_certs),
                                      accept_sha1=settings.vihf_accept_sha1,
                                      audiences=frozenset(settings.vihf_audience.split()))
    except Exception as exc:   # VihfError, or xmlsec's own errors on an unreadable PEM
        raise ConfigError(f"XDS_VIHF_TRUSTED_CERTS: cannot load the certificates: {exc}"
                          ) from None


def with_client_certificate(principal: Principal, subject: str, serial: str) -> Principal:
    """The principal with the calling system's verified TLS certificate (mutual TLS)."""
    if not subject and not serial:
        return principal
    return dataclasses.replace(principal, client_subject=subject, client_serial=serial)
