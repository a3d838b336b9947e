"""The caller of a transaction. Every actor method takes one from the first day, so access policy
is a parameter of the actors rather than something bolted on later."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Principal:
    """Who acts: a national identifier, a role, a structure, a purpose of use (VIHF fields)."""

    subject_id: str
    role: str
    structure_id: str = ""
    purpose_of_use: str = "normal"
    patient_id: str | None = None
    attributes: dict[str, str] = field(default_factory=dict, hash=False, compare=False)
    # the calling system, from its verified TLS client certificate (mutual TLS): the DMP
    # authenticates the system by its IGC Santé certificate and the person by the VIHF
    client_subject: str = field(default="", compare=False)
    client_serial: str = field(default="", compare=False)
    # what proved the caller (the verified wsse:Security header), forwarded when the
    # repository asks a remote registry on their behalf; None for the system
    credential: Any = field(default=None, compare=False, repr=False)
    # the request this principal acts in, for the audit trail
    request_id: str = field(default="", compare=False)
    transaction: str = field(default="", compare=False)
    # the network caller (peer address) and the endpoint it called, for the audit trail:
    # without VIHF they are all that identifies a caller
    client_address: str = field(default="", compare=False)
    endpoint: str = field(default="", compare=False)

    @property
    def is_system(self) -> bool:
        return self.role == "system"


# The principal of unauthenticated calls while XDS_SECURITY is `none` (test labs, IHE profile).
SYSTEM = Principal(subject_id="xds-server", role="system")
