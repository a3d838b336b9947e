"""The access policy on stored-query answers and retrievals (security/access.py decides; this
applies it to the registry's records): hidden documents are left out, with the associations
touching them."""

from __future__ import annotations

from collections import Counter

from ..model.errors import ErrorCode, RegistryError, warning
from ..model.registered import DocumentRecord, QueryResult
from ..security.access import (
    DELETED,
    MASQUE_PS,
    may_read_record,
    may_remove,
    may_see,
    scope,
)
from ..security.principal import Principal
from ..store import records_store
from ..store import registry_store as store
from ..store.database import UnitOfWork


def visible_part(uow: UnitOfWork, result: QueryResult,
                 principal: Principal) -> QueryResult:
    """What of a one-patient answer this caller may see (security/access.py decides): hidden
    documents are left out, and so is every association that touches one, whether the
    document is in the answer or only at the association's other end (a HasMember of a set to
    a masked document would name it); a professional the record is closed to keeps only the
    documents they wrote and the associations between them."""
    patient = next(iter(result.patients()))
    access = result.access        # read with the documents, with their facts (Find*)
    if result.documents and not result.associations and access is not None:
        if may_read_record(principal, access) and principal.role != "administrator" and not any(
                row.visibility_codes or row.status == DELETED for row in result.documents):
            return result            # the usual case: an open record, nothing masked
        facts = {row.entry_uuid: row for row in result.documents}
    else:
        access = records_store.record_access(uow, patient, principal.subject_id)
        facts = store.with_facts(uow, patient, result.documents)
    facts.update(_facts_at_the_far_end(uow, patient, result))
    hidden = {uuid for uuid, fact in facts.items() if not may_see(principal, access, fact)}
    documents = [row for row in result.documents if row.entry_uuid not in hidden]
    open_record = may_read_record(principal, access)
    own = {row.entry_uuid for row in documents}
    associations = [row for row in result.associations
                    if row.source not in hidden and row.target not in hidden
                    and (open_record or (row.source in own and row.target in own))]
    return QueryResult(documents=documents,
                       submission_sets=result.submission_sets if open_record else [],
                       folders=result.folders if open_record else [],
                       associations=_without_dangling(associations, result.associations))


def _facts_at_the_far_end(uow: UnitOfWork, patient: str,
                          result: QueryResult) -> dict[str, DocumentRecord]:
    """The policy facts of the documents the answer's associations point to but the answer
    does not hold."""
    held = {row.entry_uuid for rows in (result.documents, result.submission_sets,
                                        result.folders, result.associations) for row in rows}
    ends = sorted({end for row in result.associations for end in (row.source, row.target)}
                  - held)
    if not ends:
        return {}
    return {row.entry_uuid: row for row in store.objects(uow, "document", patient, ends)}


def _without_dangling(kept: list, before: list) -> list:
    """Drop, until none is left, an association whose end is an association dropped (the
    HasMember from a set that records a folder membership of a hidden document)."""
    dropped = {row.entry_uuid for row in before} - {row.entry_uuid for row in kept}
    while dropped:
        now = [row for row in kept if row.source not in dropped and row.target not in dropped]
        dropped = {row.entry_uuid for row in kept} - {row.entry_uuid for row in now}
        kept = now
    return kept


def hidden_documents(uow: UnitOfWork, principal: Principal, patient: str,
                     uuids: list[str]) -> set[str]:
    """Which of these entryUUIDs name documents of the record hidden from this caller: a
    query about them answers as if they did not exist."""
    if principal.is_system or not uuids:
        return set()
    rows = store.objects(uow, "document", patient, sorted(set(uuids)))
    if not rows:
        return set()
    access = records_store.record_access(uow, patient, principal.subject_id)
    return {row.entry_uuid for row in rows if not may_see(principal, access, row)}


def readable(uow: UnitOfWork, principal: Principal, unique_ids: list[str]) -> set[str]:
    """The documents (by uniqueId) of the caller's patient that the caller may see."""
    patient = scope(principal)
    if patient is None:
        return set(unique_ids)
    rows = store.objects(uow, "document", patient, unique_ids, by="unique_id")
    shown = visible_part(uow, QueryResult(documents=rows), principal).documents if rows \
        else []
    return {row.unique_id for row in shown}


def removable(uow: UnitOfWork, principal: Principal,
              unique_ids: list[str]) -> tuple[set[str], set[str]]:
    """(the documents by uniqueId the caller sees, those they may remove: as administrator or
    author)."""
    patient = scope(principal)
    if patient is None:
        return set(unique_ids), set(unique_ids)
    rows = store.objects(uow, "document", patient, unique_ids, by="unique_id")
    shown = visible_part(uow, QueryResult(documents=rows), principal).documents if rows \
        else []
    return ({row.unique_id for row in shown},
            {row.unique_id for row in shown
             if may_remove(principal, row.author_ids or frozenset())})


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
