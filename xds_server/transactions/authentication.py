"""The SOAP front's authentication adapter: the caller of a SOAP request, read from the VIHF in
its one wsse:Security header (XDS_SECURITY=vihf), or nobody in particular (`none`, test
platforms: every call acts as the SYSTEM principal). The DMP services use it too."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable

from lxml import etree

from ..security.principal import SYSTEM, Principal
from ..security.vihf import VihfError, VihfVerifier
from ..soap.faults import sender
from ..soap.message import SoapRequest
from ..soap.namespaces import SOAP12, WSSE, qn

# WS-Security 1.0 fault codes (OASIS WSS SOAP Message Security §12)
INVALID_SECURITY = "InvalidSecurity"
FAILED_AUTHENTICATION = "FailedAuthentication"
SECURITY = qn(WSSE, "Security")
_ROLE = qn(SOAP12, "role")
# the SOAP 1.2 roles this node plays (a header without a role is for the ultimate receiver)
OUR_ROLES = (None, f"{SOAP12}/role/next", f"{SOAP12}/role/ultimateReceiver")


def security_headers(headers: Iterable[etree._Element]) -> list[etree._Element]:
    """The wsse:Security header blocks addressed to this node: one targeted at another SOAP
    role is not ours to read (nor to be tricked by)."""
    return [block for block in headers if block.tag == SECURITY
            and block.get(_ROLE) in OUR_ROLES]


def vihf_principal(verifier: VihfVerifier, header_blocks: Iterable[etree._Element]) -> Principal:
    """The caller the VIHF of the one wsse:Security header addressed to this node names;
    VihfError otherwise."""
    blocks = security_headers(header_blocks)
    if len(blocks) > 1:    # which one would be read? (a forged one beside the signed)
        raise VihfError("the message carries more than one wsse:Security header")
    return verifier.principal(blocks[0] if blocks else None)


def authenticator_for(verifier: VihfVerifier | None) -> Callable[[SoapRequest], Principal] | None:
    """What the SOAP endpoints run before each operation."""
    if verifier is None:
        return None

    def authenticate(request: SoapRequest) -> Principal:
        headers = request.envelope.headers
        try:
            return vihf_principal(verifier, headers)
        except VihfError as exc:
            code = FAILED_AUTHENTICATION if security_headers(headers) else INVALID_SECURITY
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
