"""The reading transactions: ITI-67 (Find Document References), ITI-66 (Find Document
Lists), reads by id, ITI-68 (Retrieve Document). Each runs the registry's typed query (or the
repository's retrieve) with the caller's Principal, as ITI-18 and ITI-43 do, and writes FHIR."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from ..model.errors import RegistryFailure
from ..model.hl7 import canonical_uuid, patient_key
from ..model.metadata import DocumentEntry, Folder, SubmissionSet
from ..model.registered import DocumentRecord, FolderRecord, Record
from ..model.stored_queries import (
    FindDocuments,
    GetDocuments,
    GetFolderAndContents,
    GetSubmissionSetAndContents,
)
from ..registry.actor import Registry
from ..repository.actor import DocumentRequest, Repository
from ..security.principal import Principal
from .document_reference import to_fhir
from .forms import FhirForms
from .http import FhirRequest, binary_url
from .lists import folder_to_fhir, submission_set_to_fhir
from .outcome import SCOPE_LOCATION, FhirError, issue, operation_outcome
from .paging import Page, find_page, lists_answer, page_links
from .relations import folder_members, relates_to
from .search import Search, document_search, list_search
from .stored_forms import base_text, document_text

ModelObject = Callable[[Record], Any]
StoredForm = Callable[[Record], "bytes | None"]     # a record's kept DocumentReference text


def not_found(what: str) -> FhirError:
    """The same answer for what does not exist and what this caller may not see."""
    return FhirError(404, [issue(f"{what} is not known here", "", "not-found")])


class Reader:
    def __init__(self, registry: Registry, repository: Repository,
                 model_object: ModelObject, stored_form: StoredForm = lambda _: None) -> None:
        self.registry = registry
        self.repository = repository
        self.model_object = model_object
        self.stored_form = stored_form
        self.forms = FhirForms(model_object)

    def document_json(self, record: Record, base: str, base_text: str) -> str:
        """A document record's DocumentReference as JSON text: its kept form spliced
        (stored_forms.py), or, for a record registered before forms were kept, decoded."""
        form = self.stored_form(record)
        if form is not None:
            return document_text(form, record, base_text)
        return self.forms.document(record, base)

    def document_reference(self, record: Record, base: str) -> dict:
        entry: DocumentEntry = self.model_object(record)
        return to_fhir(entry, binary_url(base, entry.unique_id))

    # --- ITI-67 -----------------------------------------------------------------------------

    def find_documents(self, request: FhirRequest, principal: Principal) -> bytes:
        """The searchset Bundle as JSON bytes (each resource's text from FhirForms)."""
        search = document_search(request.query_string, request.base)
        query = search.queries[0]
        if isinstance(query, FindDocuments):        # keyset pages (fhir/paging.py)
            found = find_page(self.registry, query, principal, search.count, search.cursor,
                              search.offset)
        else:                                       # by id: a few documents, held here
            answer = self.registry.query(query, principal)
            records = _held_to(search, answer.result.documents, answer.result.associations)
            found = Page(records[search.offset:search.offset + search.count], len(records),
                         search.offset, [n.context for n in answer.notices])
        page = found.records
        shell = bundle(request, "DocumentReference", [], found.total, search, found.notices,
                       found.start, found.cursor(), len(page))
        base = base_text(request.base)
        entries = [f'{{"fullUrl":"{request.base}/DocumentReference/'
                   f'{record.entry_uuid.removeprefix("urn:uuid:")}","resource":'
                   f'{self.document_json(record, request.base, base)},'
                   '"search":{"mode":"match"}}' for record in page]
        outcome = [json.dumps(e, ensure_ascii=False) for e in shell.pop("entry")]
        text = json.dumps(shell, ensure_ascii=False, separators=(",", ":"))
        return (text[:-1] + ',"entry":[' + ",".join(entries + outcome) + "]}").encode()

    # --- ITI-66 -----------------------------------------------------------------------------

    def find_lists(self, request: FhirRequest, principal: Principal) -> dict:
        search = list_search(request.query_string, request.base)
        records: list[Record] = []
        notices: list[str] = []
        for query in search.queries:
            answer = lists_answer(self.registry, query, principal)
            records += answer.result.submission_sets + answer.result.folders
            notices += [n.context for n in answer.notices]
        page = records[search.offset:search.offset + search.count]
        resources = [self.list_resource(r, folder_members(self.registry, r.entry_uuid,
                                                          principal)
                                        if isinstance(r, FolderRecord) else ())
                     for r in page]
        return bundle(request, "List", resources, len(records), search, notices,
                      search.offset)

    def list_resource(self, record: Record, members: list[str] = ()) -> dict:
        """A List; searches (ITI-66) leave a submission set's members out (0..*), list a
        folder's (PDSm: entry 1..; fhir/relations.py), a read lists them."""
        obj = self.model_object(record)
        if isinstance(obj, SubmissionSet):
            return submission_set_to_fhir(obj, list(members))
        assert isinstance(obj, Folder)
        return folder_to_fhir(obj, list(members))

    # --- reads by id ------------------------------------------------------------------------

    def read(self, request: FhirRequest, principal: Principal, kind: str,
             resource_id: str) -> dict:
        """The resource, or 404: also for another patient's than the token's (a 403 there
        would tell the caller that the id exists, for someone else)."""
        try:
            return self._read(request, principal, kind, resource_id)
        except RegistryFailure as failure:
            if any(e.location == SCOPE_LOCATION for e in failure.errors):
                self._refused(principal, resource_id)
                raise not_found(f"{kind}/{resource_id}") from None
            raise
        except FhirError as refusal:
            if refusal.status == 404:
                self._refused(principal, resource_id)
            raise

    def _refused(self, principal: Principal, resource_id: str) -> None:
        """A read answered 404 (unknown, hidden, another patient's) is audited as a failure
        naming the id asked for; its lookups are not audited (they found nothing). It was a
        success naming nothing: probing hidden ids left no usable trace (re-test c, 6)."""
        self.registry.queries.audit_writer.record(
            principal, "R", "failure",
            patient_key(principal.patient_id) if principal.patient_id else None,
            [canonical_uuid(f"urn:uuid:{resource_id}")], "read")

    def _read(self, request: FhirRequest, principal: Principal, kind: str,
              resource_id: str) -> dict:
        uuid = canonical_uuid(f"urn:uuid:{resource_id}")    # either case (re-test c, 5)
        if kind == "DocumentReference":
            # $MetadataLevel 2: an id a PATCH (a new metadata version) left behind still reads,
            # as the superseded version it now is (issue 16 re-test m3: a client that kept
            # the id lost the document); hidden as the document now is (caller_view.py)
            found = self.registry.query(GetDocuments(entry_uuids=(uuid,), metadata_level=2),
                                        principal, audit_empty=False)
            if found.result.documents:
                resource = self.document_reference(found.result.documents[0], request.base)
                relations = relates_to(self.registry, uuid, principal)
                return {**resource, "relatesTo": relations} if relations else resource
        else:
            for query in (GetSubmissionSetAndContents(entry_uuids=(uuid,)),
                          GetFolderAndContents(entry_uuids=(uuid,))):
                result = self.registry.query(query, principal, audit_empty=False).result
                hits = [r for r in result.submission_sets + result.folders
                        if r.entry_uuid == uuid]
                if hits:    # a read lists the members this caller sees (List.entry)
                    members = [f"DocumentReference/{d.entry_uuid.removeprefix('urn:uuid:')}"
                               for d in result.documents] + \
                        [f"List/{f.entry_uuid.removeprefix('urn:uuid:')}"
                         for f in result.folders if f.entry_uuid != uuid]
                    return self.list_resource(hits[0], members)
        raise not_found(f"{kind}/{resource_id}")

    # --- ITI-68 -----------------------------------------------------------------------------

    def retrieve(self, principal: Principal, unique_id: str) -> tuple[Any, str]:
        """(content, mime type) of a document this caller may read, or 404 (also for one
        they may not read: a refusal says nothing of what exists)."""
        request = DocumentRequest(self.repository.repository_unique_id, unquote(unique_id))
        found, _ = self.repository.retrieve([request], principal, "ITI-68")
        if not found:
            raise not_found(f"Binary/{unique_id}")
        return found[0].content, found[0].mime_type


def _held_to(search: Search, documents: list[DocumentRecord],
             associations: list) -> list[DocumentRecord]:
    """A search by id or relation answers for the named patient and statuses only (what
    FindDocuments would have held it to)."""
    if not search.patient_id:
        return documents
    if search.related_to:
        related = {a.source for a in associations if a.target == search.related_to}
        documents = [d for d in documents if d.entry_uuid in related]
    return [d for d in documents
            if d.patient_id == search.patient_id and d.status in search.statuses]


def bundle(request: FhirRequest, kind: str, resources: list[dict], total: int,
           search: Search, notices: list[str], start: int, cursor: str = "",
           shown: int | None = None) -> dict:
    """A searchset Bundle of one page (`shown` entries), with its links (fhir/paging.py)."""
    links = page_links(request, kind, start, len(resources) if shown is None else shown,
                       total, search.count, cursor)
    entries = [{"fullUrl": f"{request.base}/{kind}/{r['id']}", "resource": r,
                "search": {"mode": "match"}} for r in resources]
    if notices:
        entries.append({"resource": operation_outcome(
            [issue(text, "", "informational", severity="information") for text in notices]),
            "search": {"mode": "outcome"}})
    return {"resourceType": "Bundle", "type": "searchset", "total": total, "link": links,
            "entry": entries}
