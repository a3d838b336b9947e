"""The access policy on stored-query answers and retrievals (security/visibility.py decides;
this applies it to rows): hidden documents are left out, with the associations touching them."""

from __future__ import annotations

from sqlalchemy import Connection

from ..security.principal import Principal
from ..security.visibility import may_read_record, may_see
from ..store import access_store
from ..store import registry_store as store
from .query_result import QueryResult


def visible_part(connection: Connection, result: QueryResult,
                 principal: Principal) -> QueryResult:
    """What of a one-patient answer this caller may see (security/visibility.py): hidden
    documents are left out with the associations that touch them; a professional the record
    is closed to keeps only the documents they wrote."""
    patient = next(iter(result.patients()))
    access = access_store.record_access(connection, patient, principal.subject_id)
    facts = access_store.document_facts(connection, patient, result.documents)
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


def readable(connection: Connection, principal: Principal, unique_ids: list[str]) -> set[str]:
    """The documents (by uniqueId) of the caller's patient that the caller may see."""
    if not principal.patient_id:
        return set()
    patient = store.patient_key(principal.patient_id)
    rows = store.object_rows(connection, "document", patient, unique_ids, by="unique_id")
    shown = visible_part(connection, QueryResult(documents=rows), principal).documents if rows \
        else []
    return {row.unique_id for row in shown}
