"""Who is calling, for every SOAP transaction: by VIHF (XDS_SECURITY=vihf) or nobody in
particular (`none`, test platforms: every call acts as the SYSTEM principal)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

from ..config import ConfigError, Settings
from ..soap.faults import sender
from ..soap.message import SoapRequest
from ..soap.namespaces import SOAP12, WSSE, qn
from .principal import SYSTEM, Principal
from .vihf import VihfError, VihfVerifier

# WS-Security 1.0 fault codes (OASIS WSS SOAP Message Security §12)
INVALID_SECURITY = "InvalidSecurity"
FAILED_AUTHENTICATION = "FailedAuthentication"
_SECURITY = qn(WSSE, "Security")
_ROLE = qn(SOAP12, "role")
# the SOAP 1.2 roles this node plays (a header without a role is for the ultimate receiver)
OUR_ROLES = (None, f"{SOAP12}/role/next", f"{SOAP12}/role/ultimateReceiver")


def security_headers(headers) -> list:
    """The wsse:Security header blocks addressed to this node: one targeted at another SOAP
    role is not ours to read (nor to be tricked by)."""
    return [block for block in headers if block.tag == _SECURITY
            and block.get(_ROLE) in OUR_ROLES]


def verifier_for(settings: Settings) -> VihfVerifier | None:
    """The VIHF verifier XDS_SECURITY asks for (None: security off), or ConfigError."""
    if settings.security == "none":
        return None
    if not settings.vihf_trusted_certs or not Path(settings.vihf_trusted_certs).exists():
        raise ConfigError("XDS_SECURITY=vihf needs XDS_VIHF_TRUSTED_CERTS: the PEM file or "
                          "directory of the authorities that sign VIHF assertions (or "
                          "XDS_SECURITY=none on a test platform)")
    try:
        return VihfVerifier.from_path(Path(settings.vihf_trusted_certs),
                                      accept_sha1=settings.vihf_accept_sha1)
    except Exception as exc:   # VihfError, or xmlsec's own errors on an unreadable PEM
        raise ConfigError(f"XDS_VIHF_TRUSTED_CERTS: cannot load the certificates: {exc}"
                          ) from None


def authenticator_for(verifier: VihfVerifier | None) -> Callable[[SoapRequest], Principal] | None:
    """What the SOAP endpoints run before each operation."""
    if verifier is None:
        return None

    def authenticate(request: SoapRequest) -> Principal:
        blocks = security_headers(request.envelope.headers)
        security = blocks[0] if blocks else None
        try:
            if len(blocks) > 1:    # which one would be read? (a forged one beside the signed)
                raise VihfError("the message carries more than one wsse:Security header")
            return verifier.principal(security)
        except VihfError as exc:
            code = INVALID_SECURITY if security is None else FAILED_AUTHENTICATION
            raise sender(f"VIHF refused: {exc}", code, WSSE) from None

    return authenticate


def caller(request: SoapRequest) -> Principal:
    """The request's principal (the authenticated caller, or SYSTEM when security is off),
    carrying the request id and transaction the audit trail records, and the header that
    proved it (forwarded to a remote registry)."""
    principal = request.principal if isinstance(request.principal, Principal) else SYSTEM
    blocks = [] if principal.is_system else security_headers(request.envelope.headers)
    credential = blocks[0] if blocks else None
    return dataclasses.replace(principal, request_id=request.request_id,
                               transaction=request.transaction, credential=credential,
                               client_address=request.client_address,
                               endpoint=request.endpoint,
                               client_subject=request.client_subject,
                               client_serial=request.client_serial)


def with_client_certificate(principal: Principal, subject: str, serial: str) -> Principal:
    """The principal with the calling system's verified TLS certificate (mutual TLS)."""
    if not subject and not serial:
        return principal
    return dataclasses.replace(principal, client_subject=subject, client_serial=serial)
