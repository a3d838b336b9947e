"""The access policy on stored-query answers and retrievals (security/access.py decides; this
applies it to rows): hidden documents are left out, with the associations touching them."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import Connection

from ..security.access import (
    DELETED,
    MASQUE_PS,
    RecordAccess,
    may_read_record,
    may_remove,
    may_see,
    scope,
)
from ..security.principal import Principal
from ..store import access_store
from ..store import registry_store as store
from ..validation.errors import ErrorCode, RegistryError, warning
from .caller_view import CallerView
from .query_result import QueryResult


def visible_part(connection: Connection, result: QueryResult,
                 principal: Principal) -> QueryResult:
    """What of a one-patient answer this caller may see (registry/caller_view.py says what is
    hidden, of every kind): hidden documents are left out, and so is every association that
    touches a hidden object, whether that object is in the answer or only at the
    association's other end; a professional the record is closed to keeps only the documents
    they wrote and the associations between them."""
    patient = next(iter(result.patients()))
    if result.documents and not result.associations and _carries_policy(result.documents[0]):
        first = result.documents[0]
        access = RecordAccess(bool(first.policy_granted),
                              frozenset((first.policy_opposed or "").split()))
        if may_read_record(principal, access) and principal.role != "administrator" and not any(
                row.visibility_codes or row.status == DELETED for row in result.documents) \
                and not result.submission_sets and not result.folders:
            return result            # the usual case: an open record, nothing masked
        facts = {row.entry_uuid: access_store.facts_of(row) for row in result.documents}
    else:
        access, facts = access_store.access_and_facts(connection, patient,
                                                      principal.subject_id, result.documents)
    view = CallerView(connection, principal, patient, access)
    view.know({uuid: not may_see(principal, access, fact) for uuid, fact in facts.items()})
    hidden = view.hidden([row.entry_uuid for rows in (result.documents, result.submission_sets,
                                                       result.folders, result.associations)
                          for row in rows])
    return QueryResult(*([row for row in rows if row.entry_uuid not in hidden]
                         for rows in (result.documents, result.submission_sets, result.folders,
                                      result.associations)))


def _carries_policy(row) -> bool:
    try:
        row.policy_granted  # noqa: B018 (probing the row's columns)
    except (AttributeError, KeyError):   # SQLAlchemy's NoSuchColumnError is a KeyError
        return False
    return True


def hidden_objects(connection: Connection, principal: Principal, patient: str,
                   uuids: list[str]) -> set[str]:
    """Which of these entryUUIDs name objects of the record hidden from this caller (any kind:
    registry/caller_view.py): a query or a write about them answers as if they did not
    exist."""
    if principal.is_system or not uuids:
        return set()
    return CallerView(connection, principal, patient).hidden(uuids)


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
    """(the documents by uniqueId the caller sees, those whose bytes they may remove). The bytes
    of a uniqueId are every registration's of it: they may be removed only by a caller who may
    remove each one (an administrator, or the author of each), and none lies in another
    record."""
    patient = scope(principal)
    if patient is None:
        return set(unique_ids), set(unique_ids)
    rows = store.object_rows(connection, "document", patient, unique_ids, by="unique_id")
    shown = visible_part(connection, QueryResult(documents=rows), principal).documents if rows \
        else []
    seen = {row.unique_id for row in shown}
    elsewhere = {entry.unique_id for entry in store.find_by_unique_ids(connection, seen,
                                                                       "document")
                 if entry.patient_id != patient}
    shown_ids = {row.entry_uuid for row in shown}
    refused = {row.unique_id for row in rows
               if row.entry_uuid not in shown_ids
               or not may_remove(principal, access_store.facts_of(row).author_ids)}
    return seen, seen - refused - elsewhere


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
