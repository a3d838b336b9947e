"""SubmissionSet and Folder ⇄ List (PDSm SubmissionSet and Folder Comprehensive), after the
ANS concept map submissionSetToPDSM and the PDSM4DMP identifier annex:

| SubmissionSet / Folder | List |
|---|---|
| entryUUID | id, identifier (use official) |
| uniqueId | identifier (use usual, urn:oid:…) |
| availabilityStatus | status (vocabulary.LIST_STATUS) |
| patientId | subject |
| title, comments | title, note.text |
| submissionTime / lastUpdateTime | date |
| sourceId | extension ihe-sourceId (valueIdentifier urn:oid:…) |
| contentTypeCode / codeList | extension ihe-designationType (one per code) |
| author | source (+ source.extension ihe-authorOrg for an organisation) |
| members (HasMember) | entry.item (DocumentReference/<id>, List/<id>) |
| intendedRecipient, homeCommunityId | unmatched in the concept map: not carried |
"""

from __future__ import annotations

from ..model.metadata import Folder, SubmissionSet
from .authors import author_of, author_resources, contained_index
from .datatypes import (
    Invalid,
    Json,
    code_of_concept,
    concept,
    dtm,
    fhir_datetime,
    oid_urn,
    patient_reference,
    unique_id_of,
)
from .patients import patient_cx
from .vocabulary import (
    AUTHOR_ORG,
    DESIGNATION_TYPE,
    LIST_STATUS,
    LIST_STATUS_BACK,
    LIST_TYPES,
    PROFILE_FOLDER,
    PROFILE_SUBMISSION_SET,
    RFC3986,
    SOURCE_ID,
)

SUBMISSION_SET, FOLDER = "submissionset", "folder"


def list_kind(resource: Json) -> str | None:
    """submissionset or folder, from List.code (MHDlistTypes), else None."""
    for coding in (resource.get("code") or {}).get("coding") or []:
        if coding.get("system") == LIST_TYPES and coding.get("code") in (SUBMISSION_SET,
                                                                          FOLDER):
            return coding["code"]
    return None


def _common(obj: SubmissionSet | Folder, kind: str, profile: str, date: str | None,
            codes: list, members: list[str]) -> Json:
    out: Json = {"resourceType": "List", "id": obj.entry_uuid.removeprefix("urn:uuid:"),
                 "meta": {"profile": [profile]}}
    extensions = [{"url": DESIGNATION_TYPE, "valueCodeableConcept": concept(c)} for c in codes]
    if extensions:
        out["extension"] = extensions
    identifiers = [{"use": "official", "system": RFC3986, "value": obj.entry_uuid}]
    if obj.unique_id:
        identifiers.insert(0, {"use": "usual", "system": RFC3986,
                               "value": oid_urn(obj.unique_id)})
    out.update(identifier=identifiers, status=LIST_STATUS.get(obj.status, "current"),
               mode="working")
    if obj.title:
        out["title"] = obj.title
    out["code"] = {"coding": [{"system": LIST_TYPES, "code": kind}]}
    if obj.patient_id:
        out["subject"] = patient_reference(obj.patient_id)
    if date:
        out["date"] = fhir_datetime(date)
    if obj.comments:
        out["note"] = [{"text": obj.comments}]
    if members:
        out["entry"] = [{"item": {"reference": member}} for member in members]
    return out


def submission_set_to_fhir(package: SubmissionSet, members: list[str] = ()) -> Json:
    out = _common(package, SUBMISSION_SET, PROFILE_SUBMISSION_SET, package.submission_time,
                  [package.content_type_code] if package.content_type_code else [],
                  list(members))
    if package.source_id:
        out.setdefault("extension", []).append(
            {"url": SOURCE_ID, "valueIdentifier": {"system": RFC3986,
                                                   "value": oid_urn(package.source_id)}})
    contained: list[Json] = []
    if package.authors:
        # List.source is 0..1: the first author is the source; others are not carried
        reference, resources = author_resources(package.authors[0], "author1")
        contained += resources
        target = resources[0]
        if target["resourceType"] == "Organization":
            out["source"] = {"extension": [{"url": AUTHOR_ORG, "valueReference": reference}]}
        else:
            out["source"] = reference
    if contained:
        out["contained"] = contained
    return out


def folder_to_fhir(folder: Folder, members: list[str] = ()) -> Json:
    return _common(folder, FOLDER, PROFILE_FOLDER, folder.last_update_time, folder.codes,
                   list(members))


def _read_common(resource: Json, obj: SubmissionSet | Folder, where: str) -> None:
    for identifier in resource.get("identifier") or []:
        if identifier.get("use") == "usual" and identifier.get("value"):
            obj.unique_id = unique_id_of(identifier["value"])
    if not obj.unique_id:
        raise Invalid("an identifier with use 'usual' (the uniqueId) is required",
                      f"{where}.identifier")
    status = resource.get("status", "current")
    if status not in LIST_STATUS_BACK:
        raise Invalid(f"List status '{status}' is not current or retired", f"{where}.status")
    obj.status = LIST_STATUS_BACK[status]
    if not isinstance(resource.get("subject"), dict):
        raise Invalid("subject (the patient) is required", f"{where}.subject")
    obj.patient_id = patient_cx(resource["subject"], contained_index(resource, where),
                                f"{where}.subject")
    obj.title = resource.get("title")
    notes = resource.get("note") or []
    obj.comments = notes[0].get("text") if notes else None


def _designations(resource: Json, where: str) -> list:
    return [code_of_concept(e.get("valueCodeableConcept"), f"{where}.extension[{i}]")
            for i, e in enumerate(resource.get("extension") or [])
            if e.get("url") == DESIGNATION_TYPE]


def submission_set_from_fhir(resource: Json, entry_uuid: str,
                             where: str = "List") -> SubmissionSet:
    package = SubmissionSet(entry_uuid=entry_uuid)
    _read_common(resource, package, where)
    if resource.get("date"):
        package.submission_time = dtm(resource["date"], f"{where}.date")
    codes = _designations(resource, where)
    if len(codes) > 1:
        raise Invalid("a submission set has one designationType", f"{where}.extension")
    package.content_type_code = codes[0] if codes else None
    for position, extension in enumerate(resource.get("extension") or []):
        if extension.get("url") == SOURCE_ID:
            value = (extension.get("valueIdentifier") or {}).get("value", "")
            if not value:
                raise Invalid("ihe-sourceId needs valueIdentifier.value",
                              f"{where}.extension[{position}]")
            package.source_id = unique_id_of(value)
    source = resource.get("source")
    if isinstance(source, dict):
        contained = contained_index(resource, where)
        if source.get("reference"):
            package.authors = [author_of(source, contained, f"{where}.source")]
        for extension in source.get("extension") or []:
            if extension.get("url") == AUTHOR_ORG and not source.get("reference"):
                package.authors = [author_of(extension.get("valueReference"), contained,
                                             f"{where}.source.extension")]
    return package


def folder_from_fhir(resource: Json, entry_uuid: str, where: str = "List") -> Folder:
    folder = Folder(entry_uuid=entry_uuid)
    _read_common(resource, folder, where)
    folder.codes = _designations(resource, where)
    return folder
