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
