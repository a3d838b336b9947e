"""The Find* stored queries (ITI TF-2a 3.18.4.1.2.3.7.1-3): the parameters of one patient's
search turned into the filters of store/queries.py, one SQL statement each."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection

from ..model import vocabulary as v
from ..store import queries as sql
from ..store import registry_store as store
from .query_args import QueryArgs
from .query_result import QueryResult

DE = "$XDSDocumentEntry"


def _patterns(values: Iterable[str]) -> list[str]:
    """AuthorPerson values use % and _ as wildcards, like SQL LIKE."""
    return list(values)


def _document_filters(args: QueryArgs, patient: str) -> sql.Filters:
    filters = sql.Filters(store.patient_key(patient), args.values(f"{DE}Status"))
    filters.object_types = args.values(f"{DE}Type") or [v.DOC_STABLE]
    for param, prefix in (("ClassCode", "class"), ("TypeCode", "type"),
                          ("PracticeSettingCode", "practice"),
                          ("HealthcareFacilityTypeCode", "facility"),
                          ("FormatCode", "format")):
        if args.has(f"{DE}{param}"):
            filters.codes[prefix] = args.values(f"{DE}{param}")
    for param, kind in (("EventCodeList", "event_code"),
                        ("ConfidentialityCode", "confidentiality_code")):
        for group in args.and_groups(f"{DE}{param}"):
            filters.value_groups.append((kind, group))
    if args.has(f"{DE}AuthorPerson"):
        filters.patterns.append(("author_person", _patterns(args.values(f"{DE}AuthorPerson"))))
    for param, column in (("CreationTime", "creation_time"),
                          ("ServiceStartTime", "service_start_time"),
                          ("ServiceStopTime", "service_stop_time")):
        start, end = args.value(f"{DE}{param}From"), args.value(f"{DE}{param}To")
        if start is not None or end is not None:
            filters.times[column] = (start, end)
    return filters

def find_documents(connection: Connection, args: QueryArgs, max_leaf_class_results: int
                   ) -> QueryResult:
    filters = _document_filters(args, args.value(f"{DE}PatientId"))
    filters.policy_reader = args.reader
    filters.policy_needs = args.reader_needs
    if args.has(f"{DE}ReferenceIdList"):
        filters.value_groups.append(
            ("reference_id", [(value, None) for value in args.values(f"{DE}ReferenceIdList")]))
    limit = max_leaf_class_results + 1 if args.return_type == "LeafClass" else None
    return QueryResult(documents=sql.find_documents(
        connection, filters, limit, with_xml=args.return_type == "LeafClass"))

def find_submission_sets(connection: Connection, args: QueryArgs) -> QueryResult:
    filters = sql.Filters(store.patient_key(args.value("$XDSSubmissionSetPatientId")),
                          args.values("$XDSSubmissionSetStatus"))
    if args.has("$XDSSubmissionSetSourceId"):
        filters.column_in["source_id"] = args.values("$XDSSubmissionSetSourceId")
    if args.has("$XDSSubmissionSetContentType"):
        filters.codes["content_type"] = args.values("$XDSSubmissionSetContentType")
    if args.has("$XDSSubmissionSetAuthorPerson"):
        filters.patterns.append(("author_person",
                                 _patterns(args.values("$XDSSubmissionSetAuthorPerson"))))
    start = args.value("$XDSSubmissionSetSubmissionTimeFrom")
    end = args.value("$XDSSubmissionSetSubmissionTimeTo")
    if start is not None or end is not None:
        filters.times["submission_time"] = (start, end)
    return QueryResult(submission_sets=sql.find_submission_sets(connection, filters))

def find_folders(connection: Connection, args: QueryArgs) -> QueryResult:
    filters = sql.Filters(store.patient_key(args.value("$XDSFolderPatientId")),
                          args.values("$XDSFolderStatus"))
    for group in args.and_groups("$XDSFolderCodeList"):
        filters.value_groups.append(("folder_code", group))
    start = args.value("$XDSFolderLastUpdateTimeFrom")
    end = args.value("$XDSFolderLastUpdateTimeTo")
    if start is not None or end is not None:
        filters.times["last_update_time"] = (start, end)
    return QueryResult(folders=sql.find_folders(connection, filters))
