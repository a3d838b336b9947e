"""Who may add documents to a record (ITI-41, ITI-42): the access decision's feeding rule
applied to the record's facts, refused with an answer that says which rule."""

from __future__ import annotations

from sqlalchemy import Connection

from ..model.errors import ErrorCode, RegistryFailure, error
from ..security.access import FEEDING, Action, may_ask, may_feed
from ..security.principal import Principal
from ..store import access_store


def check_feeding(connection: Connection, principal: Principal, patient: str) -> None:
    """RegistryFailure when this caller may not feed this (open) record."""
    if principal.is_system:
        return
    if not may_ask(principal, Action.FEED):
        raise RegistryFailure([error(ErrorCode.REGISTRY_ERROR,
                                     f"a caller with the role {principal.role} may not add "
                                     "documents to a record", "VIHF role")])
    access = access_store.record_access(connection, patient, principal.subject_id)
    if not may_feed(principal, access):
        raise RegistryFailure([error(ErrorCode.REGISTRY_ERROR,
                                     "the patient opposed the feeding of their record "
                                     f"(opposition '{FEEDING}'): it takes no new document "
                                     "from professionals", "SubmissionSet.patientId")])
