"""What a retrieval leaves in the audit trail and the log (ITI-43, ITI-68 with its HEAD and
Range forms): the documents served, and every document asked and not served, with what was
asked (its uniqueId, the repositoryUniqueId the caller named, the patient when the server
knows whose it is) and why (issue 18 M4: a failed read named neither).

The caller is answered alike for a document hidden from them and one never held
(XDSDocumentUniqueIdError, FHIR 404); the record, which only the operator and the patient's
own history read (a hidden document is left out of the latter, records/actor.py), says which
it was. One record per (patient, repository asked, reason): the DICOM message of a record
names one patient and one repository (security/audit_export.py).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from ..model.errors import ErrorCode
from ..model.held import HeldDocument
from ..model.hl7 import patient_key
from ..security.principal import Principal

log = logging.getLogger("xds_server.repository")

# why a document asked was not served (the record's `outcome=` detail)
UNKNOWN_DOCUMENT = "unknown-document"        # this repository holds no such document
REFUSED_BY_POLICY = "refused-by-policy"      # held, but the access decision hides it
UNKNOWN_REPOSITORY = "unknown-repository"    # the repositoryUniqueId asked is not this one
# the error each reason is answered with (the same for a hidden and an unknown document)
ANSWERED = {UNKNOWN_DOCUMENT: ErrorCode.DOCUMENT_UNIQUE_ID_ERROR,
            REFUSED_BY_POLICY: ErrorCode.DOCUMENT_UNIQUE_ID_ERROR,
            UNKNOWN_REPOSITORY: ErrorCode.UNKNOWN_REPOSITORY_ID}
MAX_ID = 256        # an id longer than any real one is recorded cut (the caller chose it)


@dataclass(frozen=True)
class Unserved:
    """A document asked and not served."""

    document_unique_id: str
    repository_unique_id: str
    reason: str


# (caller, action, outcome, patient, documents, transaction, detail): audit_store.record's
Record = tuple[Principal, str, str, str | None, list[str], str, str]


def clean(value: str) -> str:
    """An id the caller sent, fit for the record: one token (the documents field is
    space-separated, the detail one key=value a line), bounded."""
    return "".join(c if c.isprintable() and not c.isspace() else "?" for c in value[:MAX_ID])


def records(principal: Principal, transaction: str, repository_unique_id: str,
            served: list[str], unserved: list[Unserved],
            held: dict[str, HeldDocument]) -> list[Record]:
    """The records of one retrieval: the documents served (one record, as before), then one
    per (patient, repository asked, reason) of those not served. `held` has this
    repository's rows of the unserved documents: whose they are."""
    caller_patient = patient_key(principal.patient_id) if principal.patient_id else None
    result: list[Record] = []
    if served or not unserved:
        result.append((principal, "R", "success" if served else "failure", caller_patient,
                       served, transaction, f"repository={repository_unique_id}"))
    groups: dict[tuple[str | None, str, str], list[str]] = {}
    for item in unserved:
        row = held.get(item.document_unique_id)
        patient = row.patient_id if row is not None and row.patient_id else caller_patient
        key = (patient, clean(item.repository_unique_id), item.reason)
        groups.setdefault(key, []).append(clean(item.document_unique_id))
    for (patient, repository, reason), documents in groups.items():
        result.append((principal, "R", "failure", patient, documents, transaction,
                       f"repository={repository}\noutcome={reason}\n"
                       f"error={ANSWERED[reason].value}"))
    return result


LOGGED_IDS = 5      # the uniqueIds a log line names; the rest counted (a request may ask many)


def named(documents: list[str], most: int = LOGGED_IDS) -> str:
    """The uniqueIds for a text log line, as the DICOM export names them (outsider F8: the
    line said how many, not which), bounded: the first `most`, then how many more."""
    shown = ", ".join(documents[:most])
    return shown + (f" and {len(documents) - most} more" if len(documents) > most else "")


def log_unserved(principal: Principal, transaction: str, failures: Iterable[Record]) -> None:
    """One WARNING line per failure record (a client's request refused), with its fields as
    data for the JSON log (logs.py)."""
    for _, _, _, patient, documents, _, detail in failures:
        fields = dict(line.split("=", 1) for line in detail.splitlines())
        log.warning("%s: %d document(s) asked and not served (%s) from repository %s: %s",
                    principal.transaction or transaction, len(documents), fields["outcome"],
                    fields["repository"], named(documents),
                    extra={"xds": {"request_id": principal.request_id or "-",
                                   "transaction": principal.transaction or transaction,
                                   "outcome": f"refused:{fields['error']}",
                                   "reason": fields["outcome"], "documents": documents,
                                   "repository": fields["repository"], "patient": patient,
                                   "caller": principal.subject_id}})
