"""The Find* stored queries (ITI TF-2a 3.18.4.1.2.3.7.1-3): the parameters of one patient's
search turned into the filters of store/queries.py, one SQL statement each."""

from __future__ import annotations

from ..model import vocabulary as v
from ..model.hl7 import bound_key, patient_key
from ..model.registered import QueryResult
from ..model.stored_queries import (
    FindDocuments,
    FindDocumentsByReferenceId,
    FindFolders,
    FindSubmissionSets,
    ReturnType,
)
from ..store import queries as sql
from ..store.database import UnitOfWork
from .query_context import QueryContext

# FindDocuments' coded parameters → the columns they filter (store/tables.py prefixes)
_CODES = (("class_codes", "class"), ("type_codes", "type"), ("practice_setting_codes", "practice"),
          ("healthcare_facility_type_codes", "facility"), ("format_codes", "format"))
_CODE_GROUPS = (("event_codes", "event_code"), ("confidentiality_codes", "confidentiality_code"))
_TIMES = (("creation_time", "creation_time"), ("service_start_time", "service_start_time"),
          ("service_stop_time", "service_stop_time"))


def _time(filters: sql.Filters, column: str, start: str | None, end: str | None) -> None:
    """[start, end) over stored times read as their earliest instant (hl7.bound_key)."""
    if start is not None or end is not None:
        filters.times[column] = (start and bound_key(start), end and bound_key(end))


def find_documents(uow: UnitOfWork, query: FindDocuments, context: QueryContext,
                   max_leaf_class_results: int) -> QueryResult:
    filters = sql.Filters(patient_key(query.patient_id), list(query.statuses))
    filters.object_types = list(query.object_types) or [v.DOC_STABLE]
    for field, prefix in _CODES:
        if codes := getattr(query, field):
            filters.codes[prefix] = list(codes)
    for field, kind in _CODE_GROUPS:
        filters.value_groups += [(kind, list(group)) for group in getattr(query, field)]
    if query.author_persons:    # % and _ are wildcards, as in SQL LIKE
        filters.patterns.append(("author_person", list(query.author_persons)))
    for field, column in _TIMES:
        _time(filters, column, getattr(query, f"{field}_from"), getattr(query, f"{field}_to"))
    filters.policy_reader = context.reader
    filters.policy_needs = context.reader_needs
    if isinstance(query, FindDocumentsByReferenceId):
        filters.value_groups.append(
            ("reference_id", [(value, None) for value in query.reference_ids]))
    leaf_class = query.return_type is ReturnType.LEAF_CLASS
    documents, access = sql.find_documents(
        uow, filters, max_leaf_class_results + 1 if leaf_class else None, leaf_class)
    return QueryResult(documents=documents, access=access)


def find_submission_sets(uow: UnitOfWork, query: FindSubmissionSets) -> QueryResult:
    filters = sql.Filters(patient_key(query.patient_id), list(query.statuses))
    if query.source_ids:
        filters.column_in["source_id"] = list(query.source_ids)
    if query.content_type_codes:
        filters.codes["content_type"] = list(query.content_type_codes)
    if query.author_persons:
        filters.patterns.append(("author_person", list(query.author_persons)))
    _time(filters, "submission_time", query.submission_time_from, query.submission_time_to)
    return QueryResult(submission_sets=sql.find_submission_sets(uow, filters))


def find_folders(uow: UnitOfWork, query: FindFolders) -> QueryResult:
    filters = sql.Filters(patient_key(query.patient_id), list(query.statuses))
    filters.value_groups += [("folder_code", list(group)) for group in query.codes]
    _time(filters, "last_update_time", query.last_update_time_from, query.last_update_time_to)
    return QueryResult(folders=sql.find_folders(uow, filters))
