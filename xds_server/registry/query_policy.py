"""The access policy on stored-query answers and retrievals (security/access.py decides; this
applies it to the registry's records): hidden documents are left out, with the associations
touching them."""

from __future__ import annotations

from collections import Counter

from ..model.errors import ErrorCode, RegistryError, warning
from ..model.registered import DocumentRecord, QueryResult
from ..model.vocabulary import DEPRECATED
from ..security.access import (
    DELETED,
    MASQUE_PS,
    may_read_record,
    may_remove,
    scope,
)
from ..security.principal import Principal
from ..store import records_store
from ..store import registry_store as store
from ..store.database import UnitOfWork
from .caller_view import CallerView
from .query_versions import version_number, versions_of


def visible_part(uow: UnitOfWork, result: QueryResult,
                 principal: Principal) -> QueryResult:
    """What of a one-patient answer this caller may see (caller_view.py says what is hidden,
    of every kind): hidden documents are left out, and so is every association that touches a
    hidden object, whether that object is in the answer or only at the association's other
    end; a professional the record is closed to keeps only the documents they wrote and the
    associations between them."""
    patient = next(iter(result.patients()))
    access = result.access        # read with the documents, with their facts (Find*)
    if result.documents and not result.associations and access is not None:
        if may_read_record(principal, access) and principal.role != "administrator" and not any(
                row.visibility_codes or row.status in (DELETED, DEPRECATED)
                for row in result.documents) \
                and not result.submission_sets and not result.folders:
            return result            # the usual case: an open record, nothing masked, no
            #                          older version (a later one may mask it: know_documents)
        facts = {row.entry_uuid: row for row in result.documents}
    else:
        access = records_store.record_access(uow, patient, principal.subject_id)
        facts = store.with_facts(uow, patient, result.documents)
    view = CallerView(uow, principal, patient, access)
    view.know_documents(facts.values())
    hidden = view.hidden([row.entry_uuid for _, rows in result.by_kind() for row in rows])
    return QueryResult(*([row for row in rows if row.entry_uuid not in hidden]
                         for _, rows in result.by_kind()))


def hidden_objects(uow: UnitOfWork, principal: Principal, patient: str,
                   uuids: list[str]) -> set[str]:
    """Which of these entryUUIDs name objects of the record hidden from this caller (any kind:
    caller_view.py): a query or a write about them answers as if they did not exist."""
    if principal.is_system or not uuids:
        return set()
    return CallerView(uow, principal, patient).hidden(uuids)


def current_versions(uow: UnitOfWork, patient: str,
                     unique_ids: list[str]) -> tuple[list[DocumentRecord], set[str]]:
    """(the current version of each document these uniqueIds name in the patient's record, the
    uniqueIds none may read). Attack stopped (issue 16 re-test, B1): a document masked by an
    update (a new version adding INVISIBLE_PATIENT, INVISIBLE_REPRESENTANTS_LEGAUX or
    MASQUE_PS) or deleted still has its Deprecated versions under the same uniqueId, without
    the code; deciding on every registration let the patient, a representative or a
    professional in bris de glace retrieve its bytes (ITI-43, ITI-68, Range, HEAD) through
    the old version. The decision is the latest version's, in whichever record it now is (an
    update may move a document to another patient: its bytes are then that patient's)."""
    rows = store.objects(uow, "document", patient, unique_ids, by="unique_id")
    # a uniqueId with a version that is not Deprecated has its latest here (a new version
    # deprecates the one before); one whose versions here are all Deprecated may have moved
    # on to another record: only those are followed (two more reads)
    current_here = {row.unique_id for row in rows if row.status != DEPRECATED}
    moved = [row for row in rows if row.unique_id not in current_here]
    latest: dict[str, DocumentRecord] = {}      # uniqueId → its latest version, any record
    for version in [*rows, *(versions_of(uow, "document", moved) if moved else ())]:
        if version.unique_id is None:
            continue
        last = latest.get(version.unique_id)
        if last is None or version_number(version) > version_number(last):
            latest[version.unique_id] = version
    current = [row for row in rows if latest.get(row.unique_id, row).entry_uuid == row.entry_uuid]
    refused = {row.unique_id for row in rows if row.unique_id not in
               {last.unique_id for last in current}}     # moved to another patient's record
    return current, refused


def readable(uow: UnitOfWork, principal: Principal, unique_ids: list[str]) -> set[str]:
    """The documents (by uniqueId) of the caller's patient that the caller may see: decided on
    each one's current version (current_versions says why), a Deleted one by no one but an
    administrator (security/access.py may_see)."""
    patient = scope(principal)
    if patient is None:
        return set(unique_ids)
    current, refused = current_versions(uow, patient, unique_ids)
    if not current:
        return set()
    shown = {row.entry_uuid for row in
             visible_part(uow, QueryResult(documents=current), principal).documents}
    refused |= {row.unique_id for row in current if row.entry_uuid not in shown}
    return {row.unique_id for row in current if row.unique_id not in refused}


def removable(uow: UnitOfWork, principal: Principal,
              unique_ids: list[str]) -> tuple[set[str], set[str]]:
    """(the documents by uniqueId the caller sees, those whose bytes they may remove). The bytes
    of a uniqueId are every registration's of it: they may be removed only by a caller who may
    remove each one (an administrator, or the author of each), and none lies in another
    record."""
    patient = scope(principal)
    if patient is None:
        return set(unique_ids), set(unique_ids)
    seen = readable(uow, principal, unique_ids)
    if not seen:
        return set(), set()
    rows = store.objects(uow, "document", patient, sorted(seen), by="unique_id")
    elsewhere = {entry.unique_id for entry in store.find_by_unique_ids(uow, seen, "document")
                 if entry.patient_id != patient}
    refused = {row.unique_id for row in rows
               if not may_remove(principal, row.author_ids or frozenset())}
    return seen, seen - refused - elsewhere


def masked_notice(uow: UnitOfWork, before: QueryResult, after: QueryResult,
                  principal: Principal) -> RegistryError | None:
    """The opt-in notice (XDS_DISCLOSE_MASKED_COUNT): how many documents of the record are
    masked from this professional, and of which classes, without showing them."""
    if principal.role != "professional" or not before.documents:
        return None
    patient = next(iter(before.patients()))
    shown = {row.entry_uuid for row in after.documents}
    hidden = [row.entry_uuid for row in before.documents if row.entry_uuid not in shown]
    masked = [row for row in store.objects(uow, "document", patient, hidden)
              if MASQUE_PS in (row.visibility_codes or ()) and row.status != DELETED]
    if not masked:
        return None
    classes = Counter(f"{row.class_code}" for row in masked)
    listing = ", ".join(f"{code} x{count}" for code, count in sorted(classes.items()))
    return warning(ErrorCode.REGISTRY_ERROR,
                   f"{len(masked)} document(s) of this record are masked from you by the "
                   f"patient (MASQUE_PS); classCode {listing}. They are not shown; the "
                   "patient or their author can show them", "MASQUE_PS")
