"""Registry Stored Query (ITI-18): runs the 14 stored queries and renders LeafClass or ObjectRef.

Each query is a small method named in `HANDLERS`; they share the lookups (by entryUUID, uniqueId
or logicalId, always resolved to one patient first) and the rendering.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy import Connection, Engine
from sqlalchemy.engine import Row

from ..ebxml.query import AdhocQuery
from ..model import vocabulary as v
from ..security.access import check_scope, record_facts_needed, scope
from ..security.principal import Principal
from ..store import queries as sql
from ..store import registry_store as store
from ..store.audit_writer import ReadAuditWriter
from ..store.database import ReadConnection
from ..validation.errors import ErrorCode, RegistryError, RegistryFailure, error
from .query_args import QueryArgs, check_query
from .query_find import DE, find_documents, find_folders, find_submission_sets
from .query_policy import hidden_objects, masked_notice, visible_part
from .query_result import QueryResult, render
from .query_versions import association_filter, hidden_at_level, level_view, metadata_level


def _document_ids(rows) -> list[str]:
    """The uniqueIds when the query read them (Get*), else the entryUUIDs (Find* rows are
    lean); asked of the first row only."""
    if not rows:
        return []
    if "unique_id" not in rows[0]._fields:     # psycopg's and SQLAlchemy's rows both name them
        return [row.entry_uuid for row in rows]
    return [row.unique_id for row in rows]


_ID_PARAMETERS = {"entry_uuid": "EntryUUID", "unique_id": "UniqueId", "logical_id": "LogicalID"}
PATIENT_PARAMETERS = (f"{DE}PatientId", "$XDSSubmissionSetPatientId", "$XDSFolderPatientId",
                      "$patientId")


class StoredQueries:
    def __init__(self, engine: Engine, max_leaf_class_results: int,
                 disclose_masked_count: bool = False, reads: ReadConnection | None = None,
                 max_answer_bytes: int = 16 * 2**20) -> None:
        self.engine = engine
        self.disclose_masked_count = disclose_masked_count
        self.audit_writer = ReadAuditWriter(engine)
        self._reads = reads or ReadConnection(engine)
        self.max_leaf_class_results = max_leaf_class_results
        self.max_answer_bytes = max_answer_bytes

    def run(self, adhoc: AdhocQuery, principal: Principal) -> list[bytes]:
        """The objects to return, or RegistryFailure with the errors."""
        return self.run_with_notices(adhoc, principal)[0]

    def run_with_notices(self, adhoc: AdhocQuery, principal: Principal
                         ) -> tuple[list[bytes], list[RegistryError]]:
        """The objects and the warnings that go with them (the masked-documents notice)."""
        notices: list[RegistryError] = []
        args = check_query(adhoc)
        args.reader = None if principal.is_system else principal.subject_id
        args.reader_needs = record_facts_needed(principal)
        args.scope = scope(principal)
        args.principal = principal
        check_scope(principal, [args.value(name) for name in PATIENT_PARAMETERS
                                  if args.has(name)], args.query.name)
        handler = HANDLERS[args.query.name]

        def answer(connection: Connection) -> QueryResult:
            result = level_view(connection, handler(self, connection, args), args)
            patients = result.patients()
            check_scope(principal, patients, args.query.name)
            if not principal.is_system and len(patients) == 1:
                shown = visible_part(connection, result, principal)
                if self.disclose_masked_count:
                    notice = masked_notice(connection, result, shown, principal)
                    notices.extend([notice] if notice is not None else [])
                result = shown
            return result

        # One-statement queries run in autocommit on the kept connection: no BEGIN/ROLLBACK
        # round trips, no pool checkout. Queries of several statements keep one transaction,
        # so they read one state of the registry.
        if args.query.name in SINGLE_STATEMENT:
            result = self._reads.run(answer)
        else:
            with self.engine.connect() as connection:
                result = answer(connection)
        patients = result.patients()
        self._audit_read(principal, result, patients, args)   # every read, VIHF or not
        if len(patients) > 1 and _one_patient_only(args):
            raise RegistryFailure([error(ErrorCode.RESULT_NOT_SINGLE_PATIENT,
                                         f"{args.query.name}: the objects asked for belong to "
                                         f"{len(patients)} patients; a stored query "
                                         "answers for one patient", "")])
        if args.return_type == "LeafClass" and result.count > self.max_leaf_class_results:
            raise RegistryFailure([error(ErrorCode.TOO_MANY_RESULTS,
                                         f"{args.query.name}: {result.count} objects match, more "
                                         f"than the {self.max_leaf_class_results} this registry "
                                         "returns as LeafClass; ask for ObjectRef and fetch them "
                                         "in pages", "")])
        return render(result, args.return_type, self.max_answer_bytes), notices

    def _audit_read(self, principal: Principal, result: QueryResult,
                    patients: set[str], args: QueryArgs) -> None:
        """Every read is traced, for the patient to see; without VIHF the record names the
        network caller (its address, its TLS subject) the principal carries."""
        patient = next(iter(patients)) if patients else (
            store.patient_key(principal.patient_id) if principal.patient_id else None)
        self.audit_writer.record(principal, "R", "success", patient,
                                 _document_ids(result.documents), "ITI-18",
                                 f"query={args.query.id}\nreturn_type={args.return_type}")

    @staticmethod
    def _links(connection: Connection, args: QueryArgs, patient: str, uuids: Sequence[str],
               side: str = "both") -> list[Row]:
        """The associations touching these objects that the query may return (its
        $MetadataLevel and $XDSAssociationStatus): what it selects through them follows."""
        shown = association_filter(args)
        return [row for row in store.associations_touching(connection, patient, uuids, side)
                if shown(row)]

    # --- Find* (query_find.py) and GetAll -----------------------------------------------------

    def get_all(self, connection: Connection, args: QueryArgs) -> QueryResult:
        patient = store.patient_key(args.value("$patientId"))
        document_filters = self._content_filters(args, patient, args.values(f"{DE}Status"))
        result = QueryResult(
            documents=sql.find_documents(connection, document_filters),
            submission_sets=sql.find_submission_sets(
                connection, sql.Filters(patient, args.values("$XDSSubmissionSetStatus"))),
            folders=sql.find_folders(connection,
                                     sql.Filters(patient, args.values("$XDSFolderStatus"))))
        returned = _uuids(result.documents, result.submission_sets, result.folders)
        touching = self._links(connection, args, patient, sorted(returned))
        between = [row for row in touching if row.source in returned and row.target in returned]
        # ... and the set→association HasMembers that record folder memberships among them
        memberships = {row.entry_uuid for row in between}
        result.associations = between + [row for row in touching if row.source in returned
                                         and row.target in memberships]
        return result

    # --- Get* by id ---------------------------------------------------------------------------

    def _resolve(self, connection: Connection, args: QueryArgs, prefix: str,
                 kind: str) -> tuple[str | None, list[Row]]:
        """Rows of `kind` named by EntryUUID, UniqueId or LogicalID; one patient or an error.
        A uniqueId or logicalId names every version of an object, wherever an update moved it
        (its versions share the uniqueId object_index holds for every patient)."""
        if args.has(f"{prefix}EntryUUID"):
            by, values = "entry_uuid", args.values(f"{prefix}EntryUUID")
            entries = list(store.find_by_uuids(connection, values).values())
        else:
            by = "unique_id" if args.has(f"{prefix}UniqueId") else "logical_id"
            values = args.values(f"{prefix}UniqueId" if by == "unique_id" else
                                 f"{prefix}LogicalID")
            unique_ids = values if by == "unique_id" else \
                [e.unique_id for e in store.find_by_uuids(connection, values).values()
                 if e.kind == kind]
            entries = store.find_by_unique_ids(connection, unique_ids, kind)
        entries = [e for e in entries if e.kind == kind and args.in_scope(e.patient_id)]
        rows: list[Row] = []
        for patient in sorted({e.patient_id for e in entries}):
            asked = values if by != "entry_uuid" else \
                [e.entry_uuid for e in entries if e.patient_id == patient]
            found = store.object_rows(connection, kind, patient, asked, by=by)
            if kind == "document":     # a hidden document, asked for by id, does not exist
                hidden = hidden_objects(connection, args.principal, patient,
                                          [row.entry_uuid for row in found])
                found = [row for row in found if row.entry_uuid not in hidden]
            rows += found
        patients = {row.patient_id for row in rows}
        if len(patients) > 1 and _one_patient_only(args):
            raise RegistryFailure([error(ErrorCode.RESULT_NOT_SINGLE_PATIENT,
                                         f"{args.query.name}: the ids given name objects of "
                                         f"{len(patients)} patients",
                                         f"{prefix}{_ID_PARAMETERS[by]}")])
        return (patients.pop() if len(patients) == 1 else None), rows

    def get_documents(self, connection: Connection, args: QueryArgs) -> QueryResult:
        return QueryResult(documents=self._resolve(connection, args, DE, "document")[1])

    def get_folders(self, connection: Connection, args: QueryArgs) -> QueryResult:
        return QueryResult(folders=self._resolve(connection, args, "$XDSFolder", "folder")[1])

    def _asked_objects(self, connection: Connection, args: QueryArgs
                       ) -> dict[str, list[str]]:
        """The $uuid objects of a query, by patient: those of the caller's patient only, hidden
        documents left out (to the caller, they do not exist)."""
        uuids = args.values("$uuid")
        by_patient: dict[str, list[str]] = {}
        for entry in store.find_by_uuids(connection, uuids).values():
            if args.in_scope(entry.patient_id):
                by_patient.setdefault(entry.patient_id, []).append(entry.entry_uuid)
        for patient, asked in by_patient.items():
            hidden = hidden_objects(connection, args.principal, patient, asked)
            by_patient[patient] = [uuid for uuid in asked if uuid not in hidden]
        return by_patient

    def get_associations(self, connection: Connection, args: QueryArgs) -> QueryResult:
        result = QueryResult()
        for patient, uuids in self._asked_objects(connection, args).items():
            result.associations += self._links(connection, args, patient, uuids)
        return result

    def get_documents_and_associations(self, connection: Connection,
                                       args: QueryArgs) -> QueryResult:
        documents = self._resolve(connection, args, DE, "document")[1]
        result = QueryResult(documents=documents)
        for patient in sorted({row.patient_id for row in documents}):
            result.associations += self._links(
                connection, args, patient, [row.entry_uuid for row in documents
                                            if row.patient_id == patient])
        return result

    def get_submission_sets(self, connection: Connection, args: QueryArgs) -> QueryResult:
        result = QueryResult()
        for patient, uuids in self._asked_objects(connection, args).items():
            links = [row for row in self._links(connection, args, patient, uuids, "target")
                     if row.type == v.HAS_MEMBER]
            sets = store.object_rows(connection, "submission_set", patient,
                                     sorted({row.source for row in links}))
            set_ids = {row.entry_uuid for row in sets}
            result.submission_sets += sets
            result.associations += [row for row in links if row.source in set_ids]
        return result

    def _content_filters(self, args: QueryArgs, patient: str,
                         statuses: list[str]) -> sql.Filters:
        filters = sql.Filters(patient, statuses)
        filters.object_types = args.values(f"{DE}Type") or [v.DOC_STABLE]
        if args.has(f"{DE}FormatCode"):
            filters.codes["format"] = args.values(f"{DE}FormatCode")
        for group in args.and_groups(f"{DE}ConfidentialityCode"):
            filters.value_groups.append(("confidentiality_code", group))
        return filters

    def _package_contents(self, connection: Connection, args: QueryArgs, patient: str,
                          package: Row, include_folders: bool) -> QueryResult:
        links = [row for row in self._links(connection, args, patient, [package.entry_uuid],
                                            "source")
                 if row.type == v.HAS_MEMBER]
        members = [row.target for row in links]
        filters = self._content_filters(args, patient, list(v.STATUSES))
        filters.column_in["entry_uuid"] = members or [""]
        documents = sql.find_documents(connection, filters)
        found = {row.entry_uuid for row in documents}
        folder_rows: list[Row] = []
        if include_folders:
            folder_rows = store.object_rows(connection, "folder", patient, members)
            found |= {row.entry_uuid for row in folder_rows}
        result = QueryResult(documents=documents, folders=folder_rows)
        result.associations = [row for row in links if row.target in found]
        if include_folders:
            # the folder memberships this set recorded, and the set's HasMember on each
            # (ITI TF-2a 3.18.4.1.2.3.7.6: HasMember SubmissionSet → Association)
            linked = {row.target for row in links}
            shown = association_filter(args)
            memberships = [row for row in store.object_rows(
                connection, "association", patient, sorted(linked))
                if row.source in found and row.target in found and shown(row)]
            kept = {row.entry_uuid for row in memberships}
            result.associations += memberships + [row for row in links if row.target in kept]
        return result

    def _package_and_contents(self, connection: Connection, args: QueryArgs, prefix: str,
                              kind: str) -> QueryResult:
        """A submission set or folder named by id, with its members (and, for a set, its
        folders and the folder memberships it recorded). A folder's uniqueId names its
        versions: each one the level shows comes with its own members (NIST 20000d/e)."""
        patient, packages = self._resolve(connection, args, prefix, kind)
        if not packages or patient is None:
            return QueryResult()
        is_set = kind == "submission_set"
        if is_set:
            packages = packages[:1]
        else:
            hidden = hidden_at_level(connection, "folder", packages, metadata_level(args))
            packages = [row for row in packages if row.entry_uuid not in hidden]
        result = QueryResult(submission_sets=packages if is_set else [],
                             folders=[] if is_set else packages)
        seen: set[str] = set()
        for package in packages:
            contents = self._package_contents(connection, args, patient, package, is_set)
            for mine, theirs in ((result.documents, contents.documents),
                                 (result.folders, contents.folders),
                                 (result.associations, contents.associations)):
                mine += [row for row in theirs if row.entry_uuid not in seen]
                seen |= {row.entry_uuid for row in theirs}
        return result

    def get_submission_set_and_contents(self, connection: Connection,
                                        args: QueryArgs) -> QueryResult:
        return self._package_and_contents(connection, args, "$XDSSubmissionSet",
                                          "submission_set")

    def get_folder_and_contents(self, connection: Connection, args: QueryArgs) -> QueryResult:
        return self._package_and_contents(connection, args, "$XDSFolder", "folder")

    def get_folders_for_document(self, connection: Connection, args: QueryArgs) -> QueryResult:
        patient, documents = self._resolve(connection, args, DE, "document")
        if not documents or patient is None:
            return QueryResult()
        links = [row for row in self._links(
            connection, args, patient, [row.entry_uuid for row in documents], "target")
            if row.type == v.HAS_MEMBER]
        return QueryResult(folders=store.object_rows(connection, "folder", patient,
                                                     sorted({row.source for row in links})))

    def get_related_documents(self, connection: Connection, args: QueryArgs) -> QueryResult:
        patient, documents = self._resolve(connection, args, DE, "document")
        hidden = hidden_at_level(connection, "document", documents, metadata_level(args))
        documents = [row for row in documents if row.entry_uuid not in hidden]
        if not documents or patient is None:
            return QueryResult()
        wanted_types = {v.LEGACY_ASSOCIATION_TYPES.get(t, t)
                        for t in args.values("$AssociationTypes")}
        origin = documents[0].entry_uuid
        links = [row for row in self._links(connection, args, patient, [origin])
                 if row.type in wanted_types]
        others = sorted({row.source if row.target == origin else row.target for row in links})
        types = args.values(f"{DE}Type") or list(v.DOCUMENT_ENTRY_TYPES)
        related = [row for row in store.object_rows(connection, "document", patient, others)
                   if row.object_type in types]
        if not related:  # only documents count: a set or folder is not a related document
            return QueryResult()
        kept = {row.entry_uuid for row in related} | {origin}
        return QueryResult(documents=[documents[0], *related],
                           associations=[row for row in links
                                         if row.source in kept and row.target in kept])


def _one_patient_only(args: QueryArgs) -> bool:
    """XDSResultNotSinglePatient guards full metadata only: "a single request would have
    returned content for multiple Patient Ids" (ITI TF-3 Table 4.2.4.1-2) is about LeafClass
    content; an ObjectRef answer lists UUIDs and discloses no patient data (the NIST toolkit's
    test 12368 reads it so: "When ObjectRefs are requested, there is no restriction")."""
    return args.return_type == "LeafClass"


def _uuids(*groups: Sequence[Row]) -> set[str]:
    return {row.entry_uuid for rows in groups for row in rows}


SINGLE_STATEMENT = frozenset({"FindDocuments", "FindDocumentsByReferenceId", "FindSubmissionSets",
                              "FindFolders"})

HANDLERS: dict[str, Callable[[StoredQueries, Connection, QueryArgs], QueryResult]] = {
    "FindDocuments": lambda queries, connection, args: find_documents(
        connection, args, queries.max_leaf_class_results),
    "FindDocumentsByReferenceId": lambda queries, connection, args: find_documents(
        connection, args, queries.max_leaf_class_results),
    "FindSubmissionSets": lambda _queries, connection, args: find_submission_sets(connection,
                                                                                  args),
    "FindFolders": lambda _queries, connection, args: find_folders(connection, args),
    "GetAll": StoredQueries.get_all,
    "GetDocuments": StoredQueries.get_documents,
    "GetFolders": StoredQueries.get_folders,
    "GetAssociations": StoredQueries.get_associations,
    "GetDocumentsAndAssociations": StoredQueries.get_documents_and_associations,
    "GetSubmissionSets": StoredQueries.get_submission_sets,
    "GetSubmissionSetAndContents": StoredQueries.get_submission_set_and_contents,
    "GetFolderAndContents": StoredQueries.get_folder_and_contents,
    "GetFoldersForDocument": StoredQueries.get_folders_for_document,
    "GetRelatedDocuments": StoredQueries.get_related_documents,
}
