"""What a record must be for a submission to go into it (ITI-41, ITI-42, ITI-57): known and
open, and, for who may add documents, the access decision's feeding rule applied to the
record's facts; each refused with an answer that says which rule."""

from __future__ import annotations

from ..model.errors import ErrorCode, RegistryFailure, error
from ..model.hl7 import patient_key
from ..model.patients import OPEN
from ..security.access import FEEDING, Action, may_ask, may_feed
from ..security.principal import Principal
from ..store import records_store
from ..store.database import UnitOfWork


def open_record(uow: UnitOfWork, patient_id: str, label: str) -> str:
    """The registry key of a patient whose record is open; XDSUnknownPatientId otherwise."""
    patient = patient_key(patient_id)
    if records_store.patient_status(uow, patient) != OPEN:
        raise RegistryFailure([error(
            ErrorCode.UNKNOWN_PATIENT_ID, f"{label}: patientId '{patient_id}' is not a patient "
            "known to this registry (or the record is closed)", "SubmissionSet.patientId")])
    return patient


def check_feeding(uow: UnitOfWork, principal: Principal, patient: str) -> None:
    """RegistryFailure when this caller may not feed this (open) record."""
    if principal.is_system:
        return
    if not may_ask(principal, Action.FEED):
        raise RegistryFailure([error(ErrorCode.REGISTRY_ERROR,
                                     f"a caller with the role {principal.role} may not add "
                                     "documents to a record", "VIHF role")])
    access = records_store.record_access(uow, patient, principal.subject_id)
    if not may_feed(principal, access):
        raise RegistryFailure([error(ErrorCode.REGISTRY_ERROR,
                                     "the patient opposed the feeding of their record "
                                     f"(opposition '{FEEDING}'): it takes no new document "
                                     "from professionals", "SubmissionSet.patientId")])
