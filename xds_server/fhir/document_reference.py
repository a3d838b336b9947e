"""DocumentEntry ⇄ DocumentReference (PDSm Comprehensive), after the ANS concept map
documentReferenceToPDSM and the PDSM4DMP annexes on identifiers and dates:

| DocumentEntry | DocumentReference |
|---|---|
| entryUUID | id (and identifier, use official) |
| logicalId, version | identifier (use secondary), meta.versionId |
| uniqueId | masterIdentifier (urn:ietf:rfc:3986, urn:oid:…) |
| availabilityStatus | status, extension isArchived (vocabulary.STATUS_TO_FHIR) |
| patientId | subject (Patient/<authority>-<id>, identifier urn:oid:<authority>) |
| sourcePatientId, sourcePatientInfo | context.sourcePatientInfo → contained Patient |
| classCode, typeCode | category, type |
| confidentialityCode | securityLabel (N/R/V and the DMP's visibility codes) |
| eventCodeList | context.event |
| formatCode | content.format |
| healthcareFacilityTypeCode, practiceSettingCode | context.facilityType, .practiceSetting |
| creationTime | content.attachment.creation (its precision), date (an instant) |
| serviceStartTime, serviceStopTime | context.period.start, .end |
| mimeType, languageCode, size, title | content.attachment.contentType, language, size, title |
| hash (hex SHA-1) | content.attachment.hash (base64 SHA-1) |
| comments | description |
| author, legalAuthenticator | author, authenticator → contained resources (authors.py) |
| referenceIdList | context.related[].identifier |
| repositoryUniqueId, URI | content.attachment.url (ITI-68 address; not read back) |
| homeCommunityId, documentAvailability, extra slots | unmatched (not carried) |
"""

from __future__ import annotations

from typing import Any

from ..model.metadata import DocumentEntry
from .authors import author_of, author_resources, contained_index, resolve
from .datatypes import (
    Invalid,
    Json,
    base64_sha1,
    code_of_coding,
    code_of_concept,
    coding,
    concept,
    dtm,
    fhir_datetime,
    hex_sha1,
    oid_urn,
    patient_reference,
    practitioner,
    rfc3986,
    scheme_oid,
    security_codes,
    system_uri,
    unique_id_of,
    xcn_of_practitioner,
)
from .patients import patient_cx, source_patient, source_patient_of
from .vocabulary import FHIR_TO_STATUS, IS_ARCHIVED, PROFILE_DOCUMENT, STATUS_TO_FHIR

DR = "DocumentReference"
# single coded fields: attribute → (path from the resource, a CodeableConcept in a list?)
CODES: tuple[tuple[str, tuple[str, ...], bool], ...] = (
    ("class_code", ("category",), True),
    ("type_code", ("type",), False),
    ("healthcare_facility_type_code", ("context", "facilityType"), False),
    ("practice_setting_code", ("context", "practiceSetting"), False),
)


def _urn_uuid_id(entry_uuid: str) -> str:
    return entry_uuid.removeprefix("urn:uuid:")


def to_fhir(entry: DocumentEntry, binary_url: str | None = None) -> Json:
    """The DocumentReference of a registered DocumentEntry; `binary_url` is where ITI-68
    serves its bytes."""
    status, archived = STATUS_TO_FHIR.get(entry.status, ("current", False))
    out: Json = {"resourceType": DR, "id": _urn_uuid_id(entry.entry_uuid),
                 "meta": {"profile": [PROFILE_DOCUMENT]}}
    if entry.version:
        out["meta"]["versionId"] = entry.version
    contained: list[Json] = []
    out["contained"] = contained
    if archived:
        out["extension"] = [{"url": IS_ARCHIVED, "valueBoolean": True}]
    if entry.unique_id:
        out["masterIdentifier"] = rfc3986(oid_urn(entry.unique_id))
    out["identifier"] = [rfc3986(entry.entry_uuid, "official")]
    if entry.logical_id and entry.logical_id != entry.entry_uuid:
        out["identifier"].append(rfc3986(entry.logical_id, "secondary"))
    out["status"] = status
    context: Json = {}
    out["context"] = context
    for attribute, path, listed in CODES:
        code = getattr(entry, attribute)
        if code is not None:
            target = context if path[0] == "context" else out
            target[path[-1]] = [concept(code)] if listed else concept(code)
    if entry.patient_id:
        out["subject"] = patient_reference(entry.patient_id)
    if entry.creation_time:     # an instant: a DTM of lesser precision is padded
        out["date"] = fhir_datetime(_padded(entry.creation_time))
    authors = []
    for position, author in enumerate(entry.authors):
        reference, resources = author_resources(author, f"author{position + 1}")
        authors.append(reference)
        contained += resources
    if authors:
        out["author"] = authors
    custodian = next((r for r in contained if r["resourceType"] == "Organization"), None)
    if custodian is not None:   # PDSm custodian 1..: XDS has none; the author's structure
        out["custodian"] = {"reference": f"#{custodian['id']}"}
    if entry.legal_authenticator:
        contained.append(practitioner(entry.legal_authenticator, "authenticator"))
        out["authenticator"] = {"reference": "#authenticator"}
    if entry.comments:
        out["description"] = entry.comments
    if entry.confidentiality_codes:
        out["securityLabel"] = [concept(code) for code in entry.confidentiality_codes]
    attachment: Json = {}
    if entry.mime_type:
        attachment["contentType"] = entry.mime_type
    if entry.language_code:
        attachment["language"] = entry.language_code
    if binary_url:
        attachment["url"] = binary_url
    if entry.size:
        attachment["size"] = int(entry.size)
    if entry.hash:
        attachment["hash"] = base64_sha1(entry.hash)
    if entry.title:
        attachment["title"] = entry.title
    if entry.creation_time:
        attachment["creation"] = fhir_datetime(entry.creation_time)
    content: Json = {"attachment": attachment}
    if entry.format_code is not None:
        content["format"] = coding(entry.format_code)
    out["content"] = [content]
    if entry.event_codes:
        context["event"] = [concept(code) for code in entry.event_codes]
    period = {key: fhir_datetime(value) for key, value in
              (("start", entry.service_start_time), ("end", entry.service_stop_time)) if value}
    if period:
        context["period"] = period
    if entry.source_patient_id or entry.source_patient_info:
        contained.append(source_patient(entry.source_patient_id, entry.source_patient_info))
        context["sourcePatientInfo"] = {"reference": "#source-patient"}
    if entry.reference_ids:
        context["related"] = [{"identifier": _reference_identifier(r)}
                              for r in entry.reference_ids]
    if not context:
        del out["context"]
    if not contained:
        del out["contained"]
    return out


def from_fhir(resource: Json, entry_uuid: str, where: str = DR) -> DocumentEntry:
    """The DocumentEntry a DocumentReference describes; Invalid names the element at fault.
    Values the repository computes (size, hash) are kept to be checked against the bytes."""
    contained = contained_index(resource, where)
    status = resource.get("status", "current")
    archived = any(e.get("url") == IS_ARCHIVED and e.get("valueBoolean") is True
                   for e in resource.get("extension") or [])
    if (status, archived) not in FHIR_TO_STATUS:
        raise Invalid(f"status '{status}' is not one this registry keeps", f"{where}.status")
    entry = DocumentEntry(entry_uuid=entry_uuid, status=FHIR_TO_STATUS[(status, archived)])
    master = resource.get("masterIdentifier")
    if not isinstance(master, dict) or not master.get("value"):
        raise Invalid("masterIdentifier (the document's uniqueId) is required",
                      f"{where}.masterIdentifier")
    entry.unique_id = unique_id_of(master["value"])
    for identifier in resource.get("identifier") or []:
        if identifier.get("use") == "secondary" and identifier.get("value"):
            entry.logical_id = identifier["value"]
    if (meta := resource.get("meta")) and meta.get("versionId"):
        entry.version = meta["versionId"]
    custodian = resource.get("custodian")
    local = custodian.get("reference") if isinstance(custodian, dict) else None
    if isinstance(local, str) and local.startswith("#") and \
            (contained.get(local[1:]) or {}).get("resourceType") != "Organization":
        # FHIR ref-1: a local reference names a contained resource (m10: '#nope' passed)
        raise Invalid(f"custodian '{local}' names no contained Organization",
                      f"{where}.custodian.reference")
    subject = resource.get("subject")
    if not isinstance(subject, dict):
        raise Invalid("subject (the patient) is required", f"{where}.subject")
    entry.patient_id = patient_cx(subject, contained, f"{where}.subject")
    context = resource.get("context") or {}
    for attribute, path, listed in CODES:
        value = (context if path[0] == "context" else resource).get(path[-1])
        if value:
            at = f"{where}.{'.'.join(path)}"
            if listed:
                value, at = value[0], f"{at}[0]"
            setattr(entry, attribute, code_of_concept(value, at))
    attachment = ((resource.get("content") or [{}])[0] or {}).get("attachment") or {}
    if "date" in resource:      # read even when creation wins: the models took 7 as 1970 (16e)
        date = dtm(resource["date"], f"{where}.date")
        if "creation" not in attachment:
            entry.creation_time = date
    entry.authors = [author_of(ref, contained, f"{where}.author[{i}]")
                     for i, ref in enumerate(resource.get("author") or [])]
    if resource.get("authenticator"):
        at = f"{where}.authenticator"
        authenticator = resolve(resource["authenticator"], contained, at)
        entry.legal_authenticator = xcn_of_practitioner(authenticator, at)
    entry.comments = resource.get("description")
    entry.confidentiality_codes = security_codes(resource.get("securityLabel") or [],
                                                 f"{where}.securityLabel")
    contents = resource.get("content") or []
    if len(contents) != 1:
        raise Invalid("one content is required (an XDS DocumentEntry has one document)",
                      f"{where}.content")
    _content(entry, contents[0], f"{where}.content[0]")
    entry.event_codes = [code_of_concept(c, f"{where}.context.event[{i}]")
                         for i, c in enumerate(context.get("event") or [])]
    period = context.get("period") or {}
    if "start" in period:
        entry.service_start_time = dtm(period["start"], f"{where}.context.period.start")
    if "end" in period:
        entry.service_stop_time = dtm(period["end"], f"{where}.context.period.end")
    start, stop = entry.service_start_time, entry.service_stop_time
    if start and stop and start.ljust(14, "0") > stop.ljust(14, "9"):   # each at its precision
        raise Invalid(f"context.period starts ({period['start']}) after it ends "
                      f"({period['end']})", f"{where}.context.period")      # (issue 16, m5)
    if context.get("sourcePatientInfo"):
        at = f"{where}.context.sourcePatientInfo"
        entry.source_patient_id, entry.source_patient_info = source_patient_of(
            resolve(context["sourcePatientInfo"], contained, at), at)
    entry.reference_ids = [_reference_id(r.get("identifier"),
                                         f"{where}.context.related[{i}].identifier")
                           for i, r in enumerate(context.get("related") or [])]
    return entry


def _padded(value: str) -> str:
    """A DTM of any precision as 14 digits: the first month and day of what it leaves out."""
    return (value + "0101000000"[len(value) - 4:])[:14] if len(value) < 14 else value


def _content(entry: DocumentEntry, content: Any, where: str) -> None:
    attachment = content.get("attachment") or {}
    if not attachment.get("contentType"):
        raise Invalid("attachment.contentType (the mimeType) is required",
                      f"{where}.attachment.contentType")
    entry.mime_type = attachment["contentType"]
    entry.language_code = attachment.get("language")
    entry.title = attachment.get("title")
    if "size" in attachment:
        size = attachment["size"]       # a JSON number: "1" and true were taken (m8)
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise Invalid("attachment.size is a whole number of bytes (a JSON number)",
                          f"{where}.attachment.size")
        entry.size = str(size)
    if "hash" in attachment:
        entry.hash = hex_sha1(attachment["hash"], f"{where}.attachment.hash")
    if "creation" in attachment:      # exact precision; date is an instant
        entry.creation_time = dtm(attachment["creation"], f"{where}.attachment.creation")
    if content.get("format"):
        entry.format_code = code_of_coding(content["format"], f"{where}.format")


def _reference_identifier(cxi: str) -> Json:
    """A referenceIdList CXi 'value^^^&oid&ISO^type' as an Identifier."""
    parts = (cxi.split("^") + [""] * 5)[:5]
    out: Json = {"value": parts[0]}
    hd = parts[3].split("&")
    if len(hd) > 1 and hd[1]:
        out["system"] = system_uri(hd[1])
    if parts[4]:
        out["type"] = {"coding": [{"system": "urn:ietf:rfc:3986", "code": parts[4]}]}
    return out


def _reference_id(identifier: Any, where: str) -> str:
    if not isinstance(identifier, dict) or not identifier.get("value"):
        raise Invalid("a related identifier needs a value", where)
    system = identifier.get("system")
    kind = ((identifier.get("type") or {}).get("coding") or [{}])[0].get("code", "")
    hd = f"&{scheme_oid(system)}&ISO" if system else ""
    return "^".join([identifier["value"], "", "", hd, kind]).rstrip("^")

