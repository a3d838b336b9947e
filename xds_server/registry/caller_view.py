"""The registry as one caller sees it: which objects of a record, of any kind, are hidden from
them (security/access.py decides; this gathers the facts and applies the rules to every kind).

- a DocumentEntry: by its visibility codes, status and authors (`may_see`);
- a Folder: when the record is closed to the caller, or it is Deleted and they are not an
  administrator;
- a SubmissionSet: when the record is closed to the caller and they are not among its
  authors, or every document it holds is hidden from them (its time and author would tell
  that hidden documents were filed);
- an Association: when either end is hidden (an end may be an association: the HasMember from
  a set that records a folder membership). A professional the record is closed to thus sees
  what they wrote (their documents, their submission sets) and the links between those.

To a caller a hidden object is an object that does not exist: queries leave it out, and every
write that names it (ITI-57, ITI-62, ITI-86, an association of ITI-41/42) answers as for an id
never registered.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..model import vocabulary as v
from ..model.facts import RecordAccess
from ..security.access import ADMINISTRATOR, DELETED, may_read_record, may_see
from ..security.principal import Principal
from ..store import records_store
from ..store import registry_store as store
from ..store.database import UnitOfWork
from .query_versions import version_number, versions_of

_MAX_DEPTH = 3          # association → association → object: HasMember of a folder membership


class CallerView:
    """One caller's view of one patient's record, for one unit of work (facts are cached)."""

    def __init__(self, uow: UnitOfWork, principal: Principal, patient: str,
                 access: RecordAccess | None = None) -> None:
        self.uow = uow
        self.principal = principal
        self.patient = patient
        self.access = access if access is not None else records_store.record_access(
            uow, patient, principal.subject_id)
        self.open_record = may_read_record(principal, self.access)
        self._hidden: dict[str, bool] = {}

    def hidden(self, uuids: Iterable[str]) -> set[str]:
        """Which of these ids name objects of the record hidden from the caller (ids of other
        records or of nothing are not named: the caller's scope handles those)."""
        wanted = sorted(set(uuids) - set(self._hidden))
        if wanted and not self.principal.is_system:
            self._decide(wanted, 0)
        return {uuid for uuid in uuids if self._hidden.get(uuid)}

    def sees(self, uuid: str) -> bool:
        return not self.hidden([uuid])

    def know(self, decisions: dict[str, bool]) -> None:
        """Decisions already taken (the documents of an answer, decided from their rows)."""
        self._hidden.update(decisions)

    def know_documents(self, rows: Iterable[Any]) -> None:
        """Decide these document versions from their rows (with their facts) and, for an older
        version, its document's latest: a version is hidden when it or the document as it now
        is hides from the caller. Attack stopped (issue 16 re-test, B1's metadata side): a
        patient read, with $MetadataLevel 2, the Deprecated version a masking update left,
        without the INVISIBLE_PATIENT code the update added."""
        rows = list(rows)
        later = latest_versions(self.uow, self.patient, rows)
        for row in rows:
            last = later.get(row.entry_uuid, row)
            self._hidden[row.entry_uuid] = not may_see(self.principal, self.access, row) or \
                last.patient_id != self.patient or not may_see(self.principal, self.access, last)

    def _decide(self, uuids: list[str], depth: int) -> None:
        kinds: dict[str, list[str]] = {}
        for uuid, entry in store.find_by_uuids(self.uow, uuids).items():
            if entry.patient_id == self.patient:
                kinds.setdefault(entry.kind, []).append(uuid)
        for uuid in uuids:
            self._hidden.setdefault(uuid, False)
        self._documents(kinds.get("document", []))
        self._folders(kinds.get("folder", []))
        self._submission_sets(kinds.get("submission_set", []), depth)
        self._associations(kinds.get("association", []), depth)

    def _documents(self, uuids: list[str]) -> None:
        if not uuids:
            return
        self.know_documents(store.objects(self.uow, "document", self.patient, uuids))

    def _folders(self, uuids: list[str]) -> None:
        if not uuids:
            return
        for row in store.objects(self.uow, "folder", self.patient, uuids):
            deleted = row.status == DELETED and self.principal.role != ADMINISTRATOR
            self._hidden[row.entry_uuid] = deleted or not self.open_record

    def _submission_sets(self, uuids: list[str], depth: int) -> None:
        if not uuids:
            return
        if not self.open_record:
            authors = store.authors_of(self.uow, self.patient, uuids)
            theirs = [uuid for uuid in uuids
                      if self.principal.subject_id in authors.get(uuid, frozenset())]
            self._hidden.update({uuid: True for uuid in uuids if uuid not in theirs})
            uuids = theirs
        members: dict[str, list[str]] = {}
        for row in store.associations_touching(self.uow, self.patient, uuids, "source"):
            if row.type == v.HAS_MEMBER:
                members.setdefault(row.source, []).append(row.target)
        held = sorted({target for targets in members.values() for target in targets})
        # each filed version is decided with its document's latest (know_documents): a set
        # whose one document was masked after submission stayed listed, title, time and
        # author telling the reader it is hidden from that something was filed (m11)
        documents = {row.entry_uuid for row in store.objects(
            self.uow, "document", self.patient, held)} if held else set()
        self._documents(sorted(documents - set(self._hidden)))
        for uuid in uuids:
            filed = [target for target in members.get(uuid, []) if target in documents]
            self._hidden[uuid] = bool(filed) and all(self._hidden.get(t) for t in filed)

    def _associations(self, uuids: list[str], depth: int) -> None:
        if not uuids:
            return
        rows = store.objects(self.uow, "association", self.patient, uuids)
        ends = sorted({end for row in rows for end in (row.source, row.target)}
                      - set(self._hidden) - set(uuids))
        if ends and depth < _MAX_DEPTH:
            self._decide(ends, depth + 1)
        for row in rows:
            self._hidden[row.entry_uuid] = bool(self._hidden.get(row.source)
                                                or self._hidden.get(row.target))
        changed = True
        while changed:                   # an association whose end is a hidden association
            changed = False
            for row in rows:
                if not self._hidden[row.entry_uuid] and (
                        self._hidden.get(row.source) or self._hidden.get(row.target)):
                    self._hidden[row.entry_uuid] = changed = True


def latest_versions(uow: UnitOfWork, patient: str, rows: Iterable[Any]) -> dict[str, Any]:
    """The latest version (in whichever record) of each Deprecated one of these document rows,
    by the row's entryUUID; a current version is its own latest and is not listed."""
    older = [row.entry_uuid for row in rows if row.status == v.DEPRECATED]
    if not older:
        return {}
    full = store.objects(uow, "document", patient, older)     # Find* rows are lean
    latest: dict[str, Any] = {}
    for version in versions_of(uow, "document", full):
        lid = version.logical_id or version.entry_uuid
        if lid not in latest or version_number(version) > version_number(latest[lid]):
            latest[lid] = version
    return {row.entry_uuid: latest.get(row.logical_id or row.entry_uuid, row) for row in full}
