"""The access policy on stored-query answers and retrievals (security/visibility.py decides;
this applies it to rows): hidden documents are left out, with the associations touching them."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import Connection

from ..security.principal import Principal
from ..security.visibility import (
    DELETED,
    MASQUE_PS,
    RecordAccess,
    may_read_record,
    may_see,
)
from ..store import access_store
from ..store import registry_store as store
from ..validation.errors import ErrorCode, RegistryError, warning
from .query_result import QueryResult


def visible_part(connection: Connection, result: QueryResult,
                 principal: Principal) -> QueryResult:
    """What of a one-patient answer this caller may see (security/visibility.py): hidden
    documents are left out with the associations that touch them; a professional the record
    is closed to keeps only the documents they wrote."""
    patient = next(iter(result.patients()))
    if result.documents and _carries_policy(result.documents[0]):
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
    documents = [row for row in result.documents
                 if may_see(principal, access, facts[row.entry_uuid])]
    hidden = {row.entry_uuid for row in result.documents} - {row.entry_uuid for row in documents}
    open_record = may_read_record(principal, access)
    return QueryResult(
        documents=documents,
        submission_sets=result.submission_sets if open_record else [],
        folders=result.folders if open_record else [],
        associations=[row for row in result.associations
                      if row.source not in hidden and row.target not in hidden
                      and (open_record or (row.source in {d.entry_uuid for d in documents}
                                           and row.target in {d.entry_uuid for d in documents}))])


def _carries_policy(row) -> bool:
    try:
        row.policy_granted  # noqa: B018 (probing the row's columns)
    except (AttributeError, KeyError):   # SQLAlchemy's NoSuchColumnError is a KeyError
        return False
    return True


def readable(connection: Connection, principal: Principal, unique_ids: list[str]) -> set[str]:
    """The documents (by uniqueId) of the caller's patient that the caller may see."""
    if not principal.patient_id:
        return set()
    patient = store.patient_key(principal.patient_id)
    rows = store.object_rows(connection, "document", patient, unique_ids, by="unique_id")
    shown = visible_part(connection, QueryResult(documents=rows), principal).documents if rows \
        else []
    return {row.unique_id for row in shown}


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
