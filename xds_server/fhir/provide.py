"""ITI-65 Provide Document Bundle → the repository's provide, the path ITI-41 takes (the same
CI-SIS metadata profile, CDA checks, signatures, registry and store, all or nothing).

A transaction Bundle holds one SubmissionSet List, one or more DocumentReferences, their
Binary resources (or attachment.data), optional Folder Lists and relatesTo. It becomes one
`Submission`: every DocumentReference and Folder a member of the set (HasMember), each Folder
entry a HasMember folder→document recorded by the set, each relatesTo an association
(replaces → RPLC, appends → APND, transforms → XFRM, signs → signs) to the registered
document it names. The answer is the MHD transaction-response Bundle."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from fhir.resources.R4B.bundle import Bundle

from ..model import vocabulary as v
from ..model.content import Attachment
from ..model.errors import RegistryFailure, StorageFull
from ..model.hl7 import canonical_uuid
from ..model.ids import urn_uuid
from ..model.metadata import Association, DocumentEntry, Folder, Submission
from ..repository.actor import Repository
from ..security.principal import Principal
from .anchors import anchored, bundle_anchors
from .datatypes import Invalid, Json
from .document_reference import from_fhir
from .http import binary_url, local_id
from .lists import FOLDER, SUBMISSION_SET, folder_from_fhir, list_kind, submission_set_from_fhir
from .outcome import FhirError, from_registry, invalid, issue
from .profile_rules import (
    DOCUMENT_REQUIRED,
    FOLDER_REQUIRED,
    SUBMISSION_SET_REQUIRED,
    missing,
    structure,
)
from .vocabulary import RELATES_TO

MAX_ENTRIES = 1000


class Provider:
    def __init__(self, repository: Repository, max_document_bytes: int) -> None:
        self.repository = repository
        self.max_document_bytes = max_document_bytes

    def provide(self, body: Any, principal: Principal, base: str) -> Json:
        try:
            submission, documents, located = self._read(body, base)
        except FhirError:             # audited as every refused provide is (issue 18 R8)
            self.repository.audit_refusal(principal, None)
            raise
        try:
            self.repository.provide(submission, documents, principal, [],
                                    on_behalf_of_source=True)
        except StorageFull as failure:    # the request was right: 507, the source retries
            raise from_registry(failure.errors, status=507) from None
        except RegistryFailure as failure:      # named by Bundle entry (fhir/anchors.py)
            raise anchored(failure.errors, bundle_anchors(submission, located)) from None
        return {"resourceType": "Bundle", "type": "transaction-response",
                "link": [{"relation": "self", "url": base}],
                "entry": [{"response": {"status": "201 Created",
                                        "location": location(base, entry)}}
                          for entry in located]}

    def _read(self, body: Any, base: str) -> tuple[Any, Any, Any]:
        """The submission a Bundle carries, its documents and their Bundle entries."""
        if not isinstance(body, dict) or body.get("resourceType") != "Bundle":
            raise FhirError(400, [issue("ITI-65 takes a Bundle", "Bundle", "structure")])
        entries = body.get("entry") or []
        if not isinstance(entries, list):
            raise FhirError(422, [issue("Bundle.entry is a list", "Bundle.entry", "structure")])
        if len(entries) > MAX_ENTRIES:
            raise FhirError(413, [issue(f"a Bundle of at most {MAX_ENTRIES} entries",
                                        "Bundle.entry", "too-costly")])
        structure(Bundle, _without_payloads(body))
        if body.get("type") != "transaction":
            raise FhirError(422, [issue("ITI-65 takes a Bundle of type transaction",
                                        "Bundle.type", "invalid")])
        return _submission(entries, self.max_document_bytes, base)


def _without_payloads(body: Json) -> Json:
    """The Bundle with each document's base64 as a token of the same type: the models check
    structure and types (a 50 KB document's base64 cost them 4 ms to check); the bytes are
    decoded, strictly, by _content. Anything but a list of entries or of contents is left as
    it is, for the structure check to refuse in the models' words (16d: `content: true` was a
    TypeError here, `entry: 0` and a missing content became [])."""
    entries = body.get("entry")
    if not isinstance(entries, list):
        return body
    kept = []
    for entry in entries:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if isinstance(resource, dict) and isinstance(resource.get("data"), str):
            entry = {**entry, "resource": {**resource, "data": "AA=="}}
        elif isinstance(resource, dict) and resource.get("resourceType") == "DocumentReference" \
                and isinstance(resource.get("content"), list):
            contents = [{**c, "attachment": {**c["attachment"], "data": "AA=="}}
                        if isinstance(c, dict) and isinstance(c.get("attachment"), dict)
                        and isinstance(c["attachment"].get("data"), str) else c
                        for c in resource["content"]]
            entry = {**entry, "resource": {**resource, "content": contents}}
        kept.append(entry)
    return {**body, "entry": kept}


def location(base: str, where: tuple[str, str]) -> str:
    kind, ident = where
    return binary_url(base, ident) if kind == "Binary" else \
        f"{base}/{kind}/{ident.removeprefix('urn:uuid:')}"


CONDITIONS = ("ifNoneExist", "ifMatch", "ifNoneMatch", "ifModifiedSince")


def same_media_type(one: Any, other: Any) -> bool:
    """RFC 9110 §8.3.1: type, subtype and parameter names compare without case (the values
    here too: charset is the parameter documents carry), and a parameter given on one side
    only does not differ (text/plain against TEXT/PLAIN or text/plain; charset=utf-8 were
    "differs": issue 16 re-test m8)."""
    if not isinstance(one, str) or not isinstance(other, str):
        return one == other

    def parsed(text: str) -> tuple[str, dict[str, str]]:
        essence, *parameters = text.split(";")
        pairs = (p.partition("=") for p in parameters)
        return essence.strip().lower(), {name.strip().lower(): value.strip().strip('"').lower()
                                         for name, _, value in pairs}

    (essence, params), (other_essence, other_params) = parsed(one), parsed(other)
    return essence == other_essence and all(
        params[name] == other_params[name] for name in params.keys() & other_params.keys())


def _uuid(entry: Json) -> str:
    full = canonical_uuid(entry.get("fullUrl") or "")
    return full if full.startswith("urn:uuid:") and len(full) == 45 else urn_uuid()


def _submission(entries: list[Json], max_bytes: int, base: str
                ) -> tuple[Submission, dict[str, Attachment], list[tuple[str, str]]]:
    """The Submission, its documents by entryUUID, and where each entry went (answer order)."""
    by_url: dict[str, str] = {}           # fullUrl → entryUUID
    binaries: dict[str, Json] = {}        # fullUrl and Binary/<id> → Binary
    sets, documents, folders, binary_entries = [], [], [], []
    issues: list[Json] = []
    for position, entry in enumerate(entries):
        where = f"Bundle.entry[{position}]"
        resource = entry.get("resource") or {}
        kind = resource.get("resourceType")
        request = entry.get("request") if isinstance(entry.get("request"), dict) else {}
        if request.get("method") != "POST":
            issues.append(issue("every entry is created (request.method POST)",
                                f"{where}.request.method", "invalid"))
        # refused, not ignored (issue 16 re-test m6): a conditional create made unconditional,
        # a DocumentReference posted to List
        for condition in CONDITIONS:
            if condition in request:
                issues.append(issue(f"request.{condition} is not served (every entry is "
                                    "created as it is)", f"{where}.request.{condition}",
                                    "not-supported"))
        if isinstance(kind, str) and request.get("url") not in (None, kind):
            issues.append(issue(f"request.url '{request.get('url')}' is not the entry's "
                                f"resource type {kind}", f"{where}.request.url", "invalid"))
        uuid = _uuid(entry)
        for name in filter(None, (entry.get("fullUrl"),
                                  f"{kind}/{resource['id']}" if resource.get("id") else "")):
            by_url[name] = uuid
        if kind == "Binary":
            binary_entries.append((position, resource))
            for name in filter(None, (entry.get("fullUrl"), f"Binary/{resource.get('id')}")):
                binaries[name] = resource
        elif kind == "DocumentReference":
            documents.append((position, uuid, resource))
        elif kind == "List" and list_kind(resource) == SUBMISSION_SET:
            sets.append((position, uuid, resource))
        elif kind == "List" and list_kind(resource) == FOLDER:
            folders.append((position, uuid, resource))
        else:
            issues.append(issue(f"a {kind} has no place in ITI-65 (SubmissionSet and Folder "
                                "Lists, DocumentReferences, Binaries)", f"{where}.resource",
                                "invalid"))
    if len(sets) != 1:
        issues.append(issue("the Bundle holds exactly one SubmissionSet List",
                            "Bundle.entry", "required", "XDSRegistryMetadataError"))
    if not documents:
        issues.append(issue("the Bundle holds one DocumentReference at least", "Bundle.entry",
                            "required", "XDSMissingDocumentMetadata"))
    for position, _, resource in documents:
        issues += missing(resource, DOCUMENT_REQUIRED, f"Bundle.entry[{position}].resource")
    for position, _, resource in sets:
        issues += missing(resource, SUBMISSION_SET_REQUIRED,
                          f"Bundle.entry[{position}].resource")
    for position, _, resource in folders:
        issues += missing(resource, FOLDER_REQUIRED, f"Bundle.entry[{position}].resource")
    if issues:
        raise FhirError(422, issues)
    try:
        return _build(sets[0], documents, folders, by_url, binaries, binary_entries,
                      max_bytes, base)
    except Invalid as exc:
        raise invalid(exc) from None


def _build(set_entry, documents, folders, by_url, binaries, binary_entries, max_bytes,
           base):
    position, set_uuid, set_resource = set_entry
    package = submission_set_from_fhir(set_resource, set_uuid,
                                       f"Bundle.entry[{position}].resource")
    submission = Submission(package, symbolic_ids={})
    contents: dict[str, Attachment] = {}
    located = {position: ("List", set_uuid)}
    owners: dict[int, tuple[str, str]] = {}   # id() of a Binary → (uniqueId, mimeType)
    positions = {id(binary): position for position, binary in binary_entries}
    for position, uuid, resource in documents:
        where = f"Bundle.entry[{position}].resource"
        entry = from_fhir(resource, uuid, where)
        if entry.status != v.APPROVED:
            raise Invalid("a new document is current", f"{where}.status")
        entry.logical_id, entry.version = None, None
        submission.documents.append(entry)
        contents[uuid] = _content(resource, entry, binaries, where, max_bytes, owners,
                                  positions)
        submission.associations.append(_member(set_uuid, uuid, "Original"))
        submission.associations += _relations(resource, uuid, where, base)
        located[position] = ("DocumentReference", uuid)
    for position, uuid, resource in folders:
        where = f"Bundle.entry[{position}].resource"
        folder: Folder = folder_from_fhir(resource, uuid, where)
        submission.folders.append(folder)
        submission.associations.append(_member(set_uuid, uuid, None))
        filed: set[str] = set()
        for index, item in enumerate(resource.get("entry") or []):
            target = by_url.get(((item.get("item") or {}).get("reference")) or "")
            if target not in contents:      # a folder holds documents, not sets or folders
                raise Invalid("a folder's entry names a DocumentReference of the Bundle",
                              f"{where}.entry[{index}].item")
            if target in filed:             # two HasMembers of one pair (m10)
                raise Invalid("a folder lists each document once",
                              f"{where}.entry[{index}].item")
            filed.add(target)
            link = _member(uuid, target, None)
            submission.associations += [link, _member(set_uuid, link.entry_uuid, None)]
        located[position] = ("List", uuid)
    for index, item in enumerate(set_resource.get("entry") or []):
        if ((item.get("item") or {}).get("reference")) not in by_url:
            raise Invalid("a submission set's entry names a resource of the Bundle",
                          f"Bundle.entry[{set_entry[0]}].resource.entry[{index}].item")
    for position, binary in binary_entries:
        if id(binary) not in owners:        # a 201 for it would say something was stored
            raise Invalid("no DocumentReference's attachment.url names this Binary",
                          f"Bundle.entry[{position}]")
        if not same_media_type(binary.get("contentType"), owners[id(binary)][1]):
            raise Invalid(f"Binary.contentType '{binary.get('contentType')}' differs from the "
                          f"DocumentReference's attachment.contentType "
                          f"'{owners[id(binary)][1]}'", f"Bundle.entry[{position}].resource"
                          ".contentType")
        located[position] = ("Binary", owners[id(binary)][0])
    return submission, contents, [located[p] for p in sorted(located)]


def _member(source: str, target: str, status: str | None) -> Association:
    slots = {v.SUBMISSION_SET_STATUS: [status]} if status else {}
    return Association(urn_uuid(), v.HAS_MEMBER, source, target, slots=slots)


def _relations(resource: Json, uuid: str, where: str, base: str) -> list[Association]:
    links = []
    for index, relation in enumerate(resource.get("relatesTo") or []):
        code = relation.get("code")
        if code not in RELATES_TO:
            raise Invalid(f"relatesTo.code '{code}' is not replaces, appends, transforms or "
                          "signs", f"{where}.relatesTo[{index}].code")
        reference = (relation.get("target") or {}).get("reference") or ""
        target = local_id(reference, "DocumentReference", base) \
            if isinstance(reference, str) else None
        if target is None:
            raise Invalid("relatesTo.target names a registered DocumentReference/<id> of this "
                          "server", f"{where}.relatesTo[{index}].target")
        links.append(Association(urn_uuid(), RELATES_TO[code], uuid,
                                 canonical_uuid(f"urn:uuid:{target}")))
    return links


def _content(resource: Json, entry: DocumentEntry, binaries: dict[str, Json], where: str,
             max_bytes: int, owners: dict[int, tuple[str, str]],
             positions: dict[int, int]) -> Attachment:
    """The document's bytes: the Binary attachment.url names (an error names that Binary's
    entry: "Binary.data" left a client of several documents guessing, m9), or
    attachment.data."""
    attachment = resource["content"][0]["attachment"]
    at = f"{where}.content[0].attachment"
    if attachment.get("data"):
        data, at = attachment["data"], f"{at}.data"
    else:
        binary = binaries.get(attachment.get("url") or "")
        if binary is None:
            raise Invalid("attachment.url must name a Binary of the Bundle (or give data)",
                          f"{at}.url")
        data, at = binary.get("data"), f"Bundle.entry[{positions[id(binary)]}].resource.data"
        owners[id(binary)] = (entry.unique_id, attachment.get("contentType"))
    return Attachment.from_bytes(_decoded(data, max_bytes, at), entry.mime_type)


def _decoded(data: Any, max_bytes: int, at: str) -> bytes:
    """The bytes of a base64Binary, which FHIR lets hold whitespace (\\s* between quanta).
    Decoded strictly as it comes first: one with whitespace fails that (not in the alphabet)
    and is decoded again without it; one without (every client measured) is not copied to
    remove none (0.1-0.4 ms for a 50 KB document's 68 KB)."""
    limit = (max_bytes + 2) // 3 * 4 + 4
    if isinstance(data, str) and len(data) <= limit:
        try:
            return base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            pass
    if isinstance(data, str):
        data = "".join(data.split())
    if not isinstance(data, str) or len(data) > limit:
        raise Invalid(f"the document is missing or over {max_bytes} bytes", at)
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise Invalid("the document is not base64", at) from None
