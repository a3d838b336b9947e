"""One audit record: who (the caller, its request and transaction), did what (C, R, U, D) to
which patient's documents, with which outcome. Built from any caller that carries these
attributes (security.principal.Principal does), so the store writes it without knowing the
access core."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


class Caller(Protocol):
    """What the audit trail records of a caller."""

    subject_id: str
    role: str
    structure_id: str
    purpose_of_use: str
    request_id: str
    transaction: str
    client_address: str
    client_subject: str
    client_serial: str
    endpoint: str


@dataclass(frozen=True)
class AuditEvent:
    at: dt.datetime
    request_id: str
    transaction: str
    action: str                  # C create, R read, U update, D delete
    outcome: str                 # success, failure
    subject_id: str
    role: str
    structure_id: str
    purpose_of_use: str
    patient_id: str | None
    documents: str               # the documents' uniqueIds, each once, space-separated
    client_address: str = ""     # the network caller (ATNA Source / Destination)
    client_subject: str = ""     # its TLS certificate's subject and serial (mutual TLS)
    client_serial: str = ""
    endpoint: str = ""
    detail: str = ""             # key=value lines: the submission set, the query

    @classmethod
    def of(cls, caller: Caller, action: str, outcome: str, patient_id: str | None,
           documents: Sequence[str] = (), transaction: str = "", detail: str = "",
           at: dt.datetime | None = None) -> AuditEvent:
        """The record of what `caller` did, now (or `at`, when the act was queued)."""
        return cls(at or dt.datetime.now(dt.UTC), caller.request_id or "-",
                   caller.transaction or transaction or "-", action, outcome,
                   caller.subject_id, caller.role, caller.structure_id, caller.purpose_of_use,
                   _recordable(patient_id), " ".join(dict.fromkeys(documents)),
                   caller.client_address[:64],
                   caller.client_subject[:256], caller.client_serial[:64],
                   caller.endpoint[:256], detail)


# the longest patient id a record holds (the registry's patient columns): a refusal of a
# submission naming a longer one (no record can have it) is recorded without it, not lost
PATIENT_ID_MAX = 256


def _recordable(patient_id: str | None) -> str | None:
    return patient_id if patient_id is None or len(patient_id) <= PATIENT_ID_MAX else None
