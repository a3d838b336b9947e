"""The signed-submission-set settings read together, at start (outside test 19b, F6): what
cannot work is refused (one `Error: configuration:` line), what works but is likely a mistake,
or a documented exemption an operator must know of, is a WARNING line.

Refused: a repository bound to a subject ('OID=DN') on a server that asks no client
certificate (no TLS, XDS_CLIENT_CERT none): the subject comes only from the verified handshake,
so every ITI-42 from that repository would be refused.
Warnings: XDS_SIGNATURE_VERIFYING_REPOSITORIES while signatures are not required (the list is
read only under XDS_REQUIRE_SUBMISSION_SIGNATURE); the list naming this server's own repository
(its entries are held to the bytes it holds, rule A: the listing adds nothing); an unbound
listed repository while VIHF is the authentication (any VIHF holder may then register a set
naming it, rule B); signatures required with the MLLP front on and no XDS_FRONT_SEAL_KEY (HL7
v2 messages carry no XAdES: that front's sets are unsigned, docs/hl7v2.md).
"""

from __future__ import annotations

from .config import Settings
from .config_values import verifying_repositories

SETTING = "XDS_SIGNATURE_VERIFYING_REPOSITORIES"


def refusals(settings: Settings) -> list[str]:
    """What cannot work with this server's TLS (serve says it before starting)."""
    listed = verifying_repositories(settings.signature_verifying_repositories)
    bound = sorted(oid for oid, subject in listed.items() if subject)
    if not bound or not settings.require_submission_signature:
        return []
    if not settings.certfile or settings.client_cert == "none":
        return [f"{SETTING} binds {', '.join(bound)} to a TLS client certificate, but this "
                "server asks for none (it needs HTTPS, XDS_CERTFILE/KEYFILE, and "
                "XDS_CLIENT_CERT=required or optional): every ITI-42 from that repository "
                "would be refused"]
    return []


def warnings(settings: Settings) -> list[str]:
    listed = verifying_repositories(settings.signature_verifying_repositories)
    said = []
    if listed and not settings.require_submission_signature:
        said.append(f"{SETTING} is set but XDS_REQUIRE_SUBMISSION_SIGNATURE is false: the list "
                    "is not used")
    elif listed:
        if settings.repository_unique_id in listed:
            said.append(f"{SETTING} names this server's own repository "
                        f"({settings.repository_unique_id}): its entries are held to the bytes "
                        "it holds, the listing adds nothing")
        unbound = sorted(oid for oid, subject in listed.items()
                         if not subject and oid != settings.repository_unique_id)
        if unbound and settings.security == "vihf":
            said.append(f"{SETTING}: {', '.join(unbound)} not bound to a client certificate: "
                        "any VIHF holder may register a set naming it (bind it: 'OID=DN', "
                        "docs/security.md)")
    return said


def hl7_warning(settings: Settings) -> str | None:
    """Said when the MLLP listener starts (with `serve --mllp-port` or `mllp`)."""
    if settings.require_submission_signature and not settings.front_seal_key:
        return ("the HL7 v2 front registers unsigned submission sets although "
                "XDS_REQUIRE_SUBMISSION_SIGNATURE is on (no XDS_FRONT_SEAL_KEY to seal them "
                "with): it may not replace a document of a signed set (docs/hl7v2.md)")
    return None
