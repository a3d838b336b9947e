"""The DMP's updates over FHIR (PDSM4DMP TD3.3a-d): a JSON Patch of a DocumentReference,
found by id or by `identifier=` (its uniqueId or entryUUID), becomes the ITI-57 operation the
SOAP side sends, run by the registry actor with the same rules (only the author deletes, what
the caller does not see they cannot change, …):

| the patch changes | ITI-57 operation |
|---|---|
| securityLabel (the visibility codes, N/R/V) | a new metadata version (PreviousVersion) |
| status → entered-in-error | UpdateAvailabilityStatus Approved → Deleted |
| extension isArchived → true / false | UpdateAvailabilityStatus to Archived / Approved |
| anything else | refused (422): the DMP changes nothing else this way |

Choices where the draft IG leaves one (docs/fhir.md): one kind of change per PATCH; a
securityLabel without an HL7 confidentiality code (N/R/V) keeps the document's (TD3.3a's
patch replaces securityLabel[0]; the visibility codes are what the patched list holds); the
update's submission set is authored by the caller (the system caller of XDS_SECURITY=none,
who has no identity, keeps the authors of the set that submitted the document), its sourceId
this installation's (repositoryUniqueId: the front is the update's Document Source), its
contentTypeCode that of the set that submitted the document's first version, with a new
uniqueId (2.25) and the current time.
"""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

from fhir.resources.R4B.documentreference import DocumentReference

from ..model import vocabulary as v
from ..model.errors import RegistryFailure
from ..model.hl7 import canonical_uuid
from ..model.ids import random_hex, urn_uuid
from ..model.metadata import Association, Code, DocumentEntry, Submission, SubmissionSet
from ..model.stored_queries import GetDocuments, GetSubmissionSets
from ..registry.actor import Registry
from ..security.acting_author import acting_author
from ..security.principal import SYSTEM, Principal
from .datatypes import Invalid, security_codes
from .document_reference import to_fhir
from .http import FhirRequest, binary_url
from .json_patch import apply_patch
from .outcome import FhirError, bad_request, from_registry, invalid, issue
from .profile_rules import structure
from .reading import ModelObject, not_found
from .search import parse_query_string
from .vocabulary import IS_ARCHIVED

CHANGEABLE = ("securityLabel", "status", "extension")
# the ITI-57 elements a registry refusal names → the element of the PATCH the client sent
# (issue 16 re-test m9: errors named Association.NewStatus, elements the client never sent)
PATCH_LOCATIONS = {
    "Association.NewStatus": "DocumentReference.status",
    "Association.OriginalStatus": "DocumentReference.status",
    "Association.PreviousVersion": "DocumentReference",
    "DocumentEntry.lid": "DocumentReference",
    "DocumentEntry": "DocumentReference",
    "DocumentEntry.author": "DocumentReference.author",
}
HL7_CONFIDENTIALITY = "2.16.840.1.113883.5.25"


class Updater:
    def __init__(self, registry: Registry, model_object: ModelObject,
                 source_id: str) -> None:
        self.registry = registry
        self.model_object = model_object
        self.source_id = source_id        # this front's, as the Document Source of updates

    def patch(self, request: FhirRequest, principal: Principal, resource_id: str | None,
              patch: Any) -> dict:
        record = self._target(request, principal, resource_id)
        entry: DocumentEntry = self.model_object(record)
        before = to_fhir(entry, binary_url(request.base, entry.unique_id))
        after = apply_patch(copy.deepcopy(before), patch)
        structure(DocumentReference, after, "DocumentReference")   # types, before reading
        changed = [k for k in set(before) | set(after)
                   if before.get(k) != after.get(k)]
        refused = [k for k in changed if k not in CHANGEABLE]
        if refused:
            raise FhirError(422, [issue(f"{k} cannot be changed by PATCH (securityLabel, "
                                        "status and isArchived can)", f"DocumentReference.{k}",
                                        "business-rule", "XDSMetadataUpdateOperationError")
                                  for k in sorted(refused)])
        if not changed:
            return before
        if "securityLabel" in changed and len(changed) > 1:
            raise FhirError(422, [issue("one change per PATCH: a visibility (securityLabel) "
                                        "or a status (status, isArchived)", "DocumentReference",
                                        "business-rule", "XDSMetadataUpdateOperationError")])
        package = self._submission_set(entry, principal)
        try:
            if changed == ["securityLabel"]:
                submission = _new_version(package, entry, after)
            else:       # status and isArchived together name one status (STATUS_OF_PATCH)
                submission = _status_change(package, entry, before, after)
        except Invalid as exc:
            raise invalid(exc) from None
        try:
            self.registry.update(submission, principal)
        except RegistryFailure as failure:      # named as the client wrote them (m9)
            if self._superseded(principal, entry.entry_uuid):    # lost a race
                raise _conflict() from None
            raise from_registry(failure.errors, PATCH_LOCATIONS) from None
        latest = self.registry.query(GetDocuments(logical_ids=(
            entry.logical_id or entry.entry_uuid,)), principal).result.documents
        current = [d for d in latest if d.status != v.DEPRECATED] or latest
        if not current:     # deleted: from now on for administrators only (access.py)
            return after
        updated = self.model_object(current[-1])
        return to_fhir(updated, binary_url(request.base, updated.unique_id))

    def _target(self, request: FhirRequest, principal: Principal, resource_id: str | None):
        named = None        # the entryUUID the request names, if it names one
        if resource_id is not None:
            named = canonical_uuid(f"urn:uuid:{resource_id}")
            query = GetDocuments(entry_uuids=(named,))
        else:
            params = parse_query_string(request.query_string, frozenset({"identifier"}))
            values = params.get("identifier") or []
            if len(values) != 1 or "," in values[0]:
                raise bad_request("a conditional PATCH names one identifier=system|value",
                                  "identifier")
            value = canonical_uuid(values[0].partition("|")[2] or values[0])   # re-test c, 5
            named = value if value.startswith("urn:uuid:") else None
            query = GetDocuments(entry_uuids=(value,)) if named \
                else GetDocuments(unique_ids=(value.removeprefix("urn:oid:"),))
        found = [d for d in self.registry.query(query, principal).result.documents
                 if d.status != v.DEPRECATED]
        if not found and named is not None and self._superseded(principal, named):
            raise _conflict()
        if not found:
            raise not_found("the DocumentReference")
        if len(found) > 1:
            raise FhirError(412, [issue("the identifier names several DocumentReferences",
                                        "identifier", "multiple-matches")])
        return found[0]

    def _superseded(self, principal: Principal, entry_uuid: str) -> bool:
        """Whether this id is a version the caller sees (caller_view.py: as the document now
        is) that a newer one replaced: a PATCH of it is a version conflict, not an unknown
        id. A caller the document is hidden from sees no version: theirs stays a 404."""
        versions = self.registry.query(GetDocuments(entry_uuids=(entry_uuid,),
                                                    metadata_level=2), principal,
                                       audit_empty=False).result.documents
        return any(d.status == v.DEPRECATED for d in versions)

    def _submission_set(self, entry: DocumentEntry, principal: Principal) -> SubmissionSet:
        """The update's submission set, the caller's own whoever changed the document before:
        its author the caller (security/acting_author.py), its sourceId this front's (it is
        the Document Source of the update), its contentTypeCode (the activity) that of the
        set that submitted the document's first version, read by the registry itself. It was
        copied from the set of the version being updated, as the caller sees it: once a
        patient had masked a document, that set (the patient's) was hidden from its author,
        whose every PATCH then failed on a set with no sourceId (issue 16 re-test, M1)."""
        original = None
        for version in dict.fromkeys((entry.logical_id or entry.entry_uuid, entry.entry_uuid)):
            sets = self.registry.query(GetSubmissionSets(uuids=(version,)),
                                       SYSTEM).result.submission_sets
            if sets:
                original = self.model_object(sets[0])
                break
        now = dt.datetime.now(dt.UTC).strftime("%Y%m%d%H%M%S")
        return SubmissionSet(
            entry_uuid=urn_uuid(), unique_id=f"2.25.{int(random_hex(), 16)}",
            patient_id=entry.patient_id, submission_time=now, source_id=self.source_id,
            content_type_code=original.content_type_code if original else None,
            authors=[caller] if (caller := acting_author(principal)) is not None else
            original.authors if original else list(entry.authors))


def _conflict() -> FhirError:
    """A PATCH of a superseded version (one that lost a race, or an id kept from before):
    409, so the client reads the document again, where a 404 told its author it was gone
    (issue 16 re-test c, 7)."""
    return FhirError(409, [issue("the DocumentReference has a newer version: read it again "
                                 "and PATCH its current id", "DocumentReference", "conflict",
                                 "XDSMetadataVersionError")])


def _new_version(package: SubmissionSet, entry: DocumentEntry, after: dict) -> Submission:
    codes = security_codes(after.get("securityLabel") or [], "DocumentReference.securityLabel")
    _check_visibility(codes)
    if not any(c.scheme == HL7_CONFIDENTIALITY for c in codes):
        codes = [c for c in entry.confidentiality_codes if c.scheme == HL7_CONFIDENTIALITY] \
            + codes
    if {(c.scheme, c.code) for c in codes} == \
            {(c.scheme, c.code) for c in entry.confidentiality_codes}:
        # a code added again, N again, [] on a document without visibility codes: each made
        # a new version (a new id) with the codes duplicated (issue 16 re-test, m2); as a
        # status it already has, refused (the CLI says "already has MASQUE_PS")
        raise Invalid("the document already has these codes: the PATCH changes nothing",
                      "DocumentReference.securityLabel")
    version = copy.deepcopy(entry)
    version.entry_uuid = urn_uuid()
    version.logical_id = entry.logical_id or entry.entry_uuid
    version.version = None
    version.status = v.APPROVED
    version.confidentiality_codes = codes
    membership = Association(urn_uuid(), v.HAS_MEMBER, package.entry_uuid, version.entry_uuid,
                             slots={v.SUBMISSION_SET_STATUS: ["Original"],
                                    v.PREVIOUS_VERSION: [entry.version or "1"]})
    return Submission(package, [version], associations=[membership])


def _check_visibility(codes: list[Code]) -> None:
    seen: set[tuple[str | None, str]] = set()
    for position, code in enumerate(codes):
        if code.scheme == v.VISIBILITY_SYSTEM and code.code not in v.VISIBILITY_CODES:
            raise Invalid(f"'{code.code}' is not a visibility code of the DMP",
                          f"DocumentReference.securityLabel[{position}]")
        if (code.scheme, code.code) in seen:
            raise Invalid(f"'{code.code}' is already in securityLabel (a code is given once)",
                          f"DocumentReference.securityLabel[{position}]")
        seen.add((code.scheme, code.code))


# (status, isArchived) after the patch → the availability status ITI-57 sets: the same
# lifecycle as `xds-server update` (consumer/changes.py STATUS_CHANGES): an Archived document
# is deleted as an Approved one is, whatever isArchived says
STATUS_OF_PATCH: dict[tuple[str, bool], str] = {
    ("entered-in-error", False): v.CISIS_DELETED, ("entered-in-error", True): v.CISIS_DELETED,
    ("current", True): v.CISIS_ARCHIVED, ("current", False): v.APPROVED,
}


def _others(resource: dict) -> list:
    return [e for e in resource.get("extension") or [] if e.get("url") != IS_ARCHIVED]


def _status_change(package: SubmissionSet, entry: DocumentEntry, before: dict,
                   after: dict) -> Submission:
    if _others(before) != _others(after):
        raise Invalid("only the isArchived extension can be changed by PATCH",
                      "DocumentReference.extension")
    archived = any(e.get("url") == IS_ARCHIVED and e.get("valueBoolean") is True
                   for e in after.get("extension") or [])
    status = after.get("status")
    new = STATUS_OF_PATCH.get((status, archived)) if isinstance(status, str) else None
    if new is None:
        raise Invalid(f"status '{status}' cannot be set by PATCH (entered-in-error deletes, "
                      "current keeps the document, with isArchived true or false)",
                      "DocumentReference.status")
    if new == entry.status:
        raise Invalid("the document already has that status", "DocumentReference.status")
    change = Association(urn_uuid(), v.UPDATE_AVAILABILITY_STATUS, package.entry_uuid,
                         entry.entry_uuid, slots={v.ORIGINAL_STATUS: [entry.status],
                                                  v.NEW_STATUS: [new]})
    return Submission(package, [], associations=[change])
