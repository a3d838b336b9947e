"""Registry Stored Query (ITI-18): runs the 14 stored queries (typed: model/stored_queries.py)
and answers with model records (model/registered.py); a front renders them (ebxml/stored.py).

Each query is a small method named in `HANDLERS`; they share the lookups (by entryUUID, uniqueId
or logicalId, always resolved to one patient first). Then the answer is cut to what the query's
$MetadataLevel and $XDSAssociationStatus show (query_versions.py) and to what the caller may see
(query_policy.py), every read is audited, and the IHE limits apply.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..model import vocabulary as v
from ..model.errors import ErrorCode, RegistryError, RegistryFailure, error
from ..model.hl7 import patient_key
from ..model.registered import AssociationRecord, QueryResult, Record
from ..model.stored_queries import (
    CodeValue,
    FindDocuments,
    FindDocumentsByReferenceId,
    FindFolders,
    FindSubmissionSets,
    GetAll,
    GetAssociations,
    GetDocuments,
    GetDocumentsAndAssociations,
    GetFolderAndContents,
    GetFolders,
    GetFoldersForDocument,
    GetRelatedDocuments,
    GetSubmissionSetAndContents,
    GetSubmissionSets,
    Kind,
    ReturnType,
    StoredQuery,
)
from ..security.access import check_scope
from ..security.principal import Principal
from ..store import queries as sql
from ..store import query_reads
from ..store import registry_store as store
from ..store.audit_writer import ReadAuditWriter
from ..store.database import Database, UnitOfWork, read_together
from .query_context import QueryContext
from .query_find import find_documents, find_folders, find_submission_sets
from .query_policy import hidden_objects, masked_notice, visible_part
from .query_versions import association_filter, hidden_at_level, level_view


@dataclass
class QueryAnswer:
    """What a stored query found that the caller may see, and the warnings that go with it
    (the masked-documents notice)."""

    result: QueryResult
    notices: list[RegistryError] = field(default_factory=list)


def _document_ids(documents) -> list[str]:
    """The uniqueIds when the query read them (Get*), else the entryUUIDs (Find* records are
    lean); asked of the first record only."""
    if not documents:
        return []
    if documents[0].unique_id is None:
        return [record.entry_uuid for record in documents]
    return [record.unique_id for record in documents]


class StoredQueries:
    def __init__(self, database: Database, max_leaf_class_results: int,
                 disclose_masked_count: bool = False) -> None:
        self.database = database
        self.disclose_masked_count = disclose_masked_count
        self.audit_writer = ReadAuditWriter(database)
        self.max_leaf_class_results = max_leaf_class_results

    def run(self, query: StoredQuery, principal: Principal,
            audit_empty: bool = True) -> QueryAnswer:
        """The objects and the warnings that go with them, or RegistryFailure."""
        context = QueryContext.of(principal)
        check_scope(principal, query.named_patients, query.NAME)
        handler = HANDLERS[type(query)]
        notices: list[RegistryError] = []

        def answer(uow: UnitOfWork) -> QueryResult:
            result = level_view(uow, handler(self, uow, query, context), query)
            patients = result.patients()
            check_scope(principal, patients, query.NAME)
            if not principal.is_system and len(patients) == 1:
                shown = visible_part(uow, result, principal)
                if self.disclose_masked_count:
                    notice = masked_notice(uow, result, shown, principal)
                    notices.extend([notice] if notice is not None else [])
                result = shown
            return result

        # One-statement queries run in autocommit on the kept connection: no BEGIN/ROLLBACK
        # round trips, no pool checkout. Queries of several statements see what each of their
        # statements sees (the store says where: Database.read_several).
        if type(query) in SINGLE_STATEMENT:
            result = self.database.read(answer)
        else:
            result = self.database.read_several(answer)
        patients = result.patients()
        if audit_empty or result.count:
            self._audit_read(principal, result, patients, query)   # every read, VIHF or not
        if len(patients) > 1 and _one_patient_only(query):
            raise RegistryFailure([error(ErrorCode.RESULT_NOT_SINGLE_PATIENT,
                                         f"{query.NAME}: the objects asked for belong to "
                                         f"{len(patients)} patients; a stored query "
                                         "answers for one patient", "")])
        if query.return_type is ReturnType.LEAF_CLASS and \
                result.count > self.max_leaf_class_results:
            raise RegistryFailure([error(ErrorCode.TOO_MANY_RESULTS,
                                         f"{query.NAME}: {result.count} objects match, more "
                                         f"than the {self.max_leaf_class_results} this registry "
                                         "returns as LeafClass; ask for ObjectRef and fetch them "
                                         "in pages", "")])
        return QueryAnswer(result, notices)

    def _audit_read(self, principal: Principal, result: QueryResult,
                    patients: set[str], query: StoredQuery) -> None:
        """Every read is traced, for the patient to see; without VIHF the record names the
        network caller (its address, its TLS subject) the principal carries."""
        # a query that found nothing is still a read of the patient it named (the patient's
        # trail shows who looked, found or not): the query's patient, else the VIHF's
        named = query.named_patients[0] if query.named_patients else principal.patient_id
        patient = next(iter(patients)) if patients else (
            patient_key(named) if named else None)
        self.audit_writer.record(principal, "R", "success", patient,
                                 _document_ids(result.documents), "ITI-18",
                                 f"query={query.ID}\nreturn_type={query.return_type}\n"
                                 f"slots={json.dumps(query_slots(query), separators=(',', ':'))}")

    @staticmethod
    def _links(uow: UnitOfWork, query: StoredQuery, patient: str, uuids: Sequence[str],
               side: str = "both") -> list[AssociationRecord]:
        """The associations touching these objects that the query may return (its
        $MetadataLevel and $XDSAssociationStatus): what it selects through them follows."""
        shown = association_filter(query)
        return [row for row in store.associations_touching(uow, patient, uuids, side)
                if shown(row)]

    # --- Find* (query_find.py) and GetAll -----------------------------------------------------

    def get_all(self, uow: UnitOfWork, query: GetAll, context: QueryContext) -> QueryResult:
        patient = patient_key(query.patient_id)
        reads = sql.content_reads(uow, _content_filters(query, patient, list(query.statuses)),
                                  sql.Filters(patient, list(query.submission_set_statuses)),
                                  sql.Filters(patient, list(query.folder_statuses)))
        # the patient's associations in one range of the index: GetAll returns the record whole
        reads.append(store.associations_read(uow, patient))
        # level 1 leaves older versions out: which of the patient's Deprecated documents have
        # a later one, asked with the rest (query_versions.py would ask once they are read)
        if query.metadata_level == 1 and v.DEPRECATED in query.statuses:
            reads.append(query_reads.superseded_read(uow, "document", patient))
        documents, sets, folders, associations, *later = read_together(uow, reads)
        result = QueryResult(documents=documents, submission_sets=sets, folders=folders,
                             superseded=later[0] if later else None)
        returned = _uuids(result.documents, result.submission_sets, result.folders)
        shown = association_filter(query)
        touching = [row for row in associations
                    if (row.source in returned or row.target in returned) and shown(row)]
        between = [row for row in touching if row.source in returned and row.target in returned]
        # ... and the set→association HasMembers that record folder memberships among them
        memberships = {row.entry_uuid for row in between}
        result.associations = between + [row for row in touching if row.source in returned
                                         and row.target in memberships]
        return result

    # --- Get* by id ---------------------------------------------------------------------------

    @staticmethod
    def _resolve(uow: UnitOfWork, query: StoredQuery, context: QueryContext,
                 kind: str) -> tuple[str | None, list[Any]]:
        patient, records, _ = StoredQueries._resolve_versions(uow, query, context, kind)
        return patient, records

    @staticmethod
    def _resolve_versions(uow: UnitOfWork, query: StoredQuery, context: QueryContext,
                          kind: str) -> tuple[str | None, list[Any], set[str] | None]:
        """Records of `kind` the query names by entryUUID, uniqueId or logicalId; one patient
        or an error. A uniqueId or logicalId names every version of an object, wherever an
        update moved it (its versions share the uniqueId object_index holds for every
        patient)."""
        by, values = query.ids()
        records: list[Any] = []
        superseded: set[str] | None = None     # the records with a later version, if known
        if by == "entry_uuid":
            entries = [e for e in store.find_by_uuids(uow, values).values()
                       if e.kind == kind and context.in_scope(e.patient_id)]
            for patient in sorted({e.patient_id for e in entries}):
                records += store.objects(uow, kind, patient, [
                    e.entry_uuid for e in entries if e.patient_id == patient])
        else:
            unique_ids = values if by == "unique_id" else \
                [e.unique_id for e in store.find_by_uuids(uow, values).values()
                 if e.kind == kind and e.unique_id is not None]
            # the index and the records in one statement; other patients' rows are dropped
            # here, unread by anyone (the caller's scope)
            found = query_reads.objects_by_id(uow, kind, by, values, unique_ids) \
                if unique_ids else []
            # every version of each is there (versions share the uniqueId and the logicalId):
            # the level 1 answer needs no other read (query_versions.py)
            if kind == "document":
                superseded = query_reads.superseded_among(found)
            records = [row for row in found if context.in_scope(row.patient_id)]
        if kind == "document":     # a hidden document, asked for by id, does not exist
            hidden: set[str] = set()
            for patient in sorted({row.patient_id for row in records}):
                hidden |= hidden_objects(uow, context.principal, patient, [
                    row.entry_uuid for row in records if row.patient_id == patient])
            records = [row for row in records if row.entry_uuid not in hidden]
        patients = {row.patient_id for row in records}
        if len(patients) > 1 and _one_patient_only(query):
            field_name = f"{by}s"
            parameter = next(p.name for p in query.PARAMS if p.field == field_name)
            raise RegistryFailure([error(ErrorCode.RESULT_NOT_SINGLE_PATIENT,
                                         f"{query.NAME}: the ids given name objects of "
                                         f"{len(patients)} patients", parameter)])
        return (patients.pop() if len(patients) == 1 else None), records, superseded

    def get_documents(self, uow: UnitOfWork, query: GetDocuments,
                      context: QueryContext) -> QueryResult:
        _, documents, superseded = self._resolve_versions(uow, query, context, "document")
        return QueryResult(documents=documents, superseded=superseded)

    def get_folders(self, uow: UnitOfWork, query: GetFolders,
                    context: QueryContext) -> QueryResult:
        return QueryResult(folders=self._resolve(uow, query, context, "folder")[1])

    @staticmethod
    def _asked_objects(uow: UnitOfWork, uuids: Sequence[str],
                       context: QueryContext) -> dict[str, list[str]]:
        """The $uuid objects of a query, by patient: those of the caller's patient only, hidden
        documents left out (to the caller, they do not exist)."""
        by_patient: dict[str, list[str]] = {}
        for entry in store.find_by_uuids(uow, uuids).values():
            if context.in_scope(entry.patient_id):
                by_patient.setdefault(entry.patient_id, []).append(entry.entry_uuid)
        for patient, asked in by_patient.items():
            hidden = hidden_objects(uow, context.principal, patient, asked)
            by_patient[patient] = [uuid for uuid in asked if uuid not in hidden]
        return by_patient

    def get_associations(self, uow: UnitOfWork, query: GetAssociations,
                         context: QueryContext) -> QueryResult:
        result = QueryResult()
        for patient, uuids in self._asked_objects(uow, query.uuids, context).items():
            result.associations += self._links(uow, query, patient, uuids)
        return result

    def get_documents_and_associations(self, uow: UnitOfWork,
                                       query: GetDocumentsAndAssociations,
                                       context: QueryContext) -> QueryResult:
        documents = self._resolve(uow, query, context, "document")[1]
        result = QueryResult(documents=documents)
        for patient in sorted({row.patient_id for row in documents}):
            result.associations += self._links(
                uow, query, patient, [row.entry_uuid for row in documents
                                      if row.patient_id == patient])
        return result

    def get_submission_sets(self, uow: UnitOfWork, query: GetSubmissionSets,
                            context: QueryContext) -> QueryResult:
        result = QueryResult()
        for patient, uuids in self._asked_objects(uow, query.uuids, context).items():
            links = [row for row in self._links(uow, query, patient, uuids, "target")
                     if row.type == v.HAS_MEMBER]
            sets = store.objects(uow, "submission_set", patient,
                                 sorted({row.source for row in links}))
            set_ids = {row.entry_uuid for row in sets}
            result.submission_sets += sets
            result.associations += [row for row in links if row.source in set_ids]
        return result

    def _package_contents(self, uow: UnitOfWork, query: Any, patient: str,
                          package: Record, include_folders: bool) -> QueryResult:
        links = [row for row in self._links(uow, query, patient, [package.entry_uuid],
                                            "source")
                 if row.type == v.HAS_MEMBER]
        members = [row.target for row in links]
        filters = _content_filters(query, patient, list(v.STATUSES))
        filters.column_in["entry_uuid"] = members or [""]
        documents, _ = sql.find_documents(uow, filters)
        found = {row.entry_uuid for row in documents}
        folder_records: list[Any] = []
        if include_folders:
            folder_records = store.objects(uow, "folder", patient, members)
            found |= {row.entry_uuid for row in folder_records}
        result = QueryResult(documents=documents, folders=folder_records)
        result.associations = [row for row in links if row.target in found]
        if include_folders:
            # the folder memberships this set recorded, and the set's HasMember on each
            # (ITI TF-2a 3.18.4.1.2.3.7.6: HasMember SubmissionSet → Association)
            linked = {row.target for row in links}
            shown = association_filter(query)
            memberships = [row for row in store.objects(uow, "association", patient,
                                                        sorted(linked))
                           if row.source in found and row.target in found and shown(row)]
            kept = {row.entry_uuid for row in memberships}
            result.associations += memberships + [row for row in links if row.target in kept]
        return result

    def _package_and_contents(self, uow: UnitOfWork, query: Any, context: QueryContext,
                              kind: str) -> QueryResult:
        """A submission set or folder named by id, with its members (and, for a set, its
        folders and the folder memberships it recorded). A folder's uniqueId names its
        versions: each one the level shows comes with its own members (NIST 20000d/e)."""
        patient, packages = self._resolve(uow, query, context, kind)
        if not packages or patient is None:
            return QueryResult()
        is_set = kind == "submission_set"
        if is_set:
            packages = packages[:1]
        else:
            hidden = hidden_at_level(uow, "folder", packages, query.metadata_level)
            packages = [row for row in packages if row.entry_uuid not in hidden]
        result = QueryResult(submission_sets=packages if is_set else [],
                             folders=[] if is_set else packages)
        seen: set[str] = set()
        for package in packages:
            contents = self._package_contents(uow, query, patient, package, is_set)
            for mine, theirs in ((result.documents, contents.documents),
                                 (result.folders, contents.folders),
                                 (result.associations, contents.associations)):
                mine += [row for row in theirs if row.entry_uuid not in seen]
                seen |= {row.entry_uuid for row in theirs}
        return result

    def get_submission_set_and_contents(self, uow: UnitOfWork,
                                        query: GetSubmissionSetAndContents,
                                        context: QueryContext) -> QueryResult:
        return self._package_and_contents(uow, query, context, "submission_set")

    def get_folder_and_contents(self, uow: UnitOfWork, query: GetFolderAndContents,
                                context: QueryContext) -> QueryResult:
        return self._package_and_contents(uow, query, context, "folder")

    def get_folders_for_document(self, uow: UnitOfWork, query: GetFoldersForDocument,
                                 context: QueryContext) -> QueryResult:
        patient, documents = self._resolve(uow, query, context, "document")
        if not documents or patient is None:
            return QueryResult()
        links = [row for row in self._links(
            uow, query, patient, [row.entry_uuid for row in documents], "target")
            if row.type == v.HAS_MEMBER]
        return QueryResult(folders=store.objects(uow, "folder", patient,
                                                 sorted({row.source for row in links})))

    def get_related_documents(self, uow: UnitOfWork, query: GetRelatedDocuments,
                              context: QueryContext) -> QueryResult:
        patient, documents = self._resolve(uow, query, context, "document")
        hidden = hidden_at_level(uow, "document", documents, query.metadata_level)
        documents = [row for row in documents if row.entry_uuid not in hidden]
        if not documents or patient is None:
            return QueryResult()
        wanted_types = {v.LEGACY_ASSOCIATION_TYPES.get(t, t) for t in query.association_types}
        origin = documents[0].entry_uuid
        links = [row for row in self._links(uow, query, patient, [origin])
                 if row.type in wanted_types]
        others = sorted({row.source if row.target == origin else row.target for row in links})
        types = query.object_types or v.DOCUMENT_ENTRY_TYPES
        related = [row for row in store.objects(uow, "document", patient, others)
                   if row.object_type in types]
        if not related:  # only documents count: a set or folder is not a related document
            return QueryResult()
        kept = {row.entry_uuid for row in related} | {origin}
        return QueryResult(documents=[documents[0], *related],
                           associations=[row for row in links
                                         if row.source in kept and row.target in kept])


def _content_filters(query: Any, patient: str, statuses: list[str]) -> sql.Filters:
    """What GetAll and the *AndContents queries filter documents by."""
    filters = sql.Filters(patient, statuses)
    filters.object_types = list(query.object_types) or [v.DOC_STABLE]
    if query.format_codes:
        filters.codes["format"] = list(query.format_codes)
    filters.value_groups += [("confidentiality_code", list(group))
                             for group in query.confidentiality_codes]
    return filters


def _one_patient_only(query: StoredQuery) -> bool:
    """XDSResultNotSinglePatient guards full metadata only: "a single request would have
    returned content for multiple Patient Ids" (ITI TF-3 Table 4.2.4.1-2) is about LeafClass
    content; an ObjectRef answer lists UUIDs and discloses no patient data (the NIST toolkit's
    test 12368 reads it so: "When ObjectRefs are requested, there is no restriction")."""
    return query.return_type is ReturnType.LEAF_CLASS


def _uuids(*groups: Sequence[Record]) -> set[str]:
    return {row.entry_uuid for rows in groups for row in rows}


SINGLE_STATEMENT = frozenset({FindDocuments, FindDocumentsByReferenceId, FindSubmissionSets,
                              FindFolders})

Handler = Callable[[StoredQueries, UnitOfWork, Any, QueryContext], QueryResult]
HANDLERS: dict[type[StoredQuery], Handler] = {
    FindDocuments: lambda queries, uow, query, context: find_documents(
        uow, query, context, queries.max_leaf_class_results),
    FindDocumentsByReferenceId: lambda queries, uow, query, context: find_documents(
        uow, query, context, queries.max_leaf_class_results),
    FindSubmissionSets: lambda _queries, uow, query, _context: find_submission_sets(uow, query),
    FindFolders: lambda _queries, uow, query, _context: find_folders(uow, query),
    GetAll: StoredQueries.get_all,
    GetDocuments: StoredQueries.get_documents,
    GetFolders: StoredQueries.get_folders,
    GetAssociations: StoredQueries.get_associations,
    GetDocumentsAndAssociations: StoredQueries.get_documents_and_associations,
    GetSubmissionSets: StoredQueries.get_submission_sets,
    GetSubmissionSetAndContents: StoredQueries.get_submission_set_and_contents,
    GetFolderAndContents: StoredQueries.get_folder_and_contents,
    GetFoldersForDocument: StoredQueries.get_folders_for_document,
    GetRelatedDocuments: StoredQueries.get_related_documents,
}


def query_slots(query: StoredQuery) -> dict[str, list[str]]:
    """The query's parameters as the AdhocQueryRequest's Slot values (ebRS quoting: strings in
    single quotes, a list in parentheses, one value per AND group): ITI TF-2a 3.18.5.1.2 wants
    the request in the audit message (ParticipantObjectQuery), rebuilt from these."""
    slots: dict[str, list[str]] = {}
    for param in query.PARAMS:
        value = getattr(query, param.field, None)
        if value is None or value == () or (param.kind is Kind.LEVEL and value == 1):
            continue
        if param.kind is Kind.LEVEL:
            slots[param.name] = [str(value)]
        elif param.repeatable:
            slots[param.name] = [_listed(group) for group in value]
        elif param.multiple:
            slots[param.name] = [_listed(value)]
        else:
            slots[param.name] = [_quoted(value)]
    return slots


def _quoted(value: object) -> str:
    if isinstance(value, CodeValue):
        value = f"{value.code}^^{value.scheme}" if value.scheme else value.code
    return "'" + str(value).replace("'", "''") + "'"


def _listed(values: Sequence[object]) -> str:
    return "(" + ",".join(_quoted(value) for value in values) + ")"
