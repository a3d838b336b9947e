"""The access policy on stored-query answers and retrievals (security/access.py decides; this
applies it to rows): hidden documents are left out, with the associations touching them."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import Connection

from ..model.errors import ErrorCode, RegistryError, warning
from ..security.access import (
    DELETED,
    MASQUE_PS,
    DocumentFacts,
    RecordAccess,
    may_read_record,
    may_remove,
    may_see,
    scope,
)
from ..security.principal import Principal
from ..store import access_store
from ..store import registry_store as store
from .query_result import QueryResult


def visible_part(connection: Connection, result: QueryResult,
                 principal: Principal) -> QueryResult:
    """What of a one-patient answer this caller may see (security/access.py decides): hidden
    documents are left out, and so is every association that touches one, whether the
    document is in the answer or only at the association's other end (a HasMember of a set to
    a masked document would name it); a professional the record is closed to keeps only the
    documents they wrote and the associations between them."""
    patient = next(iter(result.patients()))
    if result.documents and not result.associations and _carries_policy(result.documents[0]):
        first = result.documents[0]
        access = RecordAccess(bool(first.policy_granted),
                              frozenset((first.policy_opposed or "").split()))
        if may_read_record(principal, access) and principal.role != "administrator" and not any(
                row.visibility_codes or row.status == DELETED for row in result.documents):
            return result            # the usual case: an open record, nothing masked
        facts = {row.entry_uuid: access_store.facts_of(row) for row in result.documents}
    else:
        access, facts = access_store.access_and_facts(connection, patient,
                                                      principal.subject_id, result.documents)
    facts.update(_facts_at_the_far_end(connection, patient, result))
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


def _facts_at_the_far_end(connection: Connection, patient: str,
                          result: QueryResult) -> dict[str, DocumentFacts]:
    """The policy facts of the documents the answer's associations point to but the answer
    does not hold."""
    held = {row.entry_uuid for rows in (result.documents, result.submission_sets,
                                        result.folders, result.associations) for row in rows}
    ends = sorted({end for row in result.associations for end in (row.source, row.target)}
                  - held)
    if not ends:
        return {}
    rows = store.object_rows(connection, "document", patient, ends)
    return access_store.document_facts(connection, patient, rows) if rows else {}


def _without_dangling(kept: list, before: list) -> list:
    """Drop, until none is left, an association whose end is an association dropped (the
    HasMember from a set that records a folder membership of a hidden document)."""
    dropped = {row.entry_uuid for row in before} - {row.entry_uuid for row in kept}
    while dropped:
        now = [row for row in kept if row.source not in dropped and row.target not in dropped]
        dropped = {row.entry_uuid for row in kept} - {row.entry_uuid for row in now}
        kept = now
    return kept


def _carries_policy(row) -> bool:
    try:
        row.policy_granted  # noqa: B018 (probing the row's columns)
    except (AttributeError, KeyError):   # SQLAlchemy's NoSuchColumnError is a KeyError
        return False
    return True


def hidden_documents(connection: Connection, principal: Principal, patient: str,
                     uuids: list[str]) -> set[str]:
    """Which of these entryUUIDs name documents of the record hidden from this caller: a
    query about them answers as if they did not exist."""
    if principal.is_system or not uuids:
        return set()
    rows = store.object_rows(connection, "document", patient, sorted(set(uuids)))
    if not rows:
        return set()
    access, facts = access_store.access_and_facts(connection, patient, principal.subject_id,
                                                  rows)
    return {row.entry_uuid for row in rows
            if not may_see(principal, access, facts[row.entry_uuid])}


def readable(connection: Connection, principal: Principal, unique_ids: list[str]) -> set[str]:
    """The documents (by uniqueId) of the caller's patient that the caller may see."""
    patient = scope(principal)
    if patient is None:
        return set(unique_ids)
    rows = store.object_rows(connection, "document", patient, unique_ids, by="unique_id")
    shown = visible_part(connection, QueryResult(documents=rows), principal).documents if rows \
        else []
    return {row.unique_id for row in shown}


def removable(connection: Connection, principal: Principal,
              unique_ids: list[str]) -> tuple[set[str], set[str]]:
    """(the documents by uniqueId the caller sees, those they may remove: as administrator or
    author)."""
    patient = scope(principal)
    if patient is None:
        return set(unique_ids), set(unique_ids)
    rows = store.object_rows(connection, "document", patient, unique_ids, by="unique_id")
    shown = visible_part(connection, QueryResult(documents=rows), principal).documents if rows \
        else []
    return ({row.unique_id for row in shown},
            {row.unique_id for row in shown
             if may_remove(principal, access_store.facts_of(row).author_ids)})


def masked_notice(connection: Connection, before: QueryResult, after: QueryResult,
                  principal: Principal) -> RegistryError | None:
    """The opt-in notice (XDS_DISCLOSE_MASKED_COUNT): how many documents of the record are
    masked from this professional, and of which classes, without showing them."""
    if principal.role != "professional" or not before.documents:
        return None
    patient = next(iter(before.patients()))
    shown = {row.entry_uuid for row in after.documents}
    hidden = [row.entry_uuid for row in before.documents if row.entry_uuid not in shown]
    rows = store.object_rows(connection, "document", patient, hidden)
    facts = access_store.document_facts(connection, patient, rows)
    masked = [row for row in rows if MASQUE_PS in facts[row.entry_uuid].visibility_codes
              and row.status != DELETED]
    if not masked:
        return None
    classes = Counter(f"{row.class_code}" for row in masked)
    listing = ", ".join(f"{code} x{count}" for code, count in sorted(classes.items()))
    return warning(ErrorCode.REGISTRY_ERROR,
                   f"{len(masked)} document(s) of this record are masked from you by the "
                   f"patient (MASQUE_PS); classCode {listing}. They are not shown; the "
                   "patient or their author can show them", "MASQUE_PS")
