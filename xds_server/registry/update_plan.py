"""What an ITI-57 will write, built while its checks run (update.py and its rule modules)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..model.errors import ErrorCode
from ..model.metadata import Association
from ..model.registered import DocumentRecord
from ..security.access import DELETED
from ..security.principal import SYSTEM, Principal
from ..store.database import UnitOfWork
from .caller_view import CallerView
from .register import _Plan

UPDATE = ErrorCode.METADATA_UPDATE_ERROR
VERSION = ErrorCode.METADATA_VERSION_ERROR
OPERATION = ErrorCode.METADATA_UPDATE_OPERATION_ERROR
RECONCILIATION = ErrorCode.PATIENT_ID_RECONCILIATION_ERROR
ARCHIVED = "urn:asip:ci-sis:2010:StatusType:Archived"
ASSOCIATION_PROPAGATION = "AssociationPropagation"
__all__ = ["ARCHIVED", "DELETED", "StatusChange", "UpdatePlan"]


@dataclass
class StatusChange:
    association: Association
    kind: str
    original: str
    new: str


@dataclass
class UpdatePlan(_Plan):
    inherited_status: dict[str, str] = field(default_factory=dict)   # new version → status
    status_changes: list[StatusChange] = field(default_factory=list)
    # a version an update moves to the request's patient: its entryUUID → (kind, the patient
    # whose record it stays in, Deprecated)
    moved: dict[str, tuple[str, str]] = field(default_factory=dict)
    principal: Principal = SYSTEM
    # new DocumentEntry versions whose hash, size or repositoryUniqueId is not the latest's:
    # what repositories.py (rule A) checks against the bytes held
    rebound: set[str] = field(default_factory=set)
    # new DocumentEntry version's entryUUID → the registered version it follows
    latest: dict[str, DocumentRecord] = field(default_factory=dict)
    _view: CallerView | None = field(default=None, repr=False, compare=False)

    def hidden(self, uow: UnitOfWork, uuids: list[str]) -> set[str]:
        """Which of these name objects the caller may not see: to them, not registered."""
        if self.principal.is_system or not uuids:
            return set()
        if self._view is None:
            self._view = CallerView(uow, self.principal, self.patient)
        return self._view.hidden(uuids)


def short(urn: str | None) -> str:
    return (urn or "?").rsplit(":", 1)[-1]
