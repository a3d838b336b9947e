"""A patient's record as the records actor keeps it: open or closed, with the patient's
oppositions, and the professionals the patient authorised to read it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

OPEN = "open"
CLOSED = "closed"


@dataclass(frozen=True)
class PatientRecord:
    patient_id: str                           # the registry key: ID^^^&OID&ISO
    status: str                               # OPEN or CLOSED
    opened_at: dt.datetime
    closed_at: dt.datetime | None = None
    opposed_modes: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Authorization:
    """A patient's authorisation for a professional (national id) to read their record."""

    patient_id: str
    professional_id: str
    granted_at: dt.datetime


MERGED = "merged"     # a record merged into another (HL7 v2 A40): its documents moved there


@dataclass(frozen=True)
class ConsentChange:
    """What a patient decided, as an identity feed reports it (PAM-FR ZFA, ROL): oppositions
    (security.access.OPPOSITIONS) to add or withdraw, professionals (national ids) to authorise
    or no longer authorise. What the message does not say is left as it was."""

    oppose: frozenset[str] = frozenset()
    withdraw: frozenset[str] = frozenset()
    grant: tuple[str, ...] = ()
    revoke: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.oppose or self.withdraw or self.grant or self.revoke)
