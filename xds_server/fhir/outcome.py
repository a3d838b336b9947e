"""Refusals as OperationOutcome: each issue carries the XDS error code (as a coding of
details, system urn:ihe:iti:xds, the code ITI-41/ITI-18 would give) and the element's FHIRPath
(`expression`), so an integrator reads what a SOAP caller reads, in FHIR's words."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..model.errors import ErrorCode, RegistryError
from .datatypes import Invalid, Json

XDS_ERRORS = "urn:ihe:iti:xds:errorcode"      # the codes of ITI TF-3 Table 4.2.4.1-2

# an XDS error's location (the metadata field it names) → the FHIRPath of that element
LOCATIONS: dict[str, str] = {
    "DocumentEntry.size": "DocumentReference.content[0].attachment.size",
    "DocumentEntry.hash": "DocumentReference.content[0].attachment.hash",
    "DocumentEntry.repositoryUniqueId": "DocumentReference.content[0].attachment.url",
    "DocumentEntry.uniqueId": "DocumentReference.masterIdentifier",
    "DocumentEntry.mimeType": "DocumentReference.content[0].attachment.contentType",
    "DocumentEntry.classCode": "DocumentReference.category",
    "DocumentEntry.typeCode": "DocumentReference.type",
    "DocumentEntry.formatCode": "DocumentReference.content[0].format",
    "DocumentEntry.confidentialityCode": "DocumentReference.securityLabel",
    "DocumentEntry.healthcareFacilityTypeCode": "DocumentReference.context.facilityType",
    "DocumentEntry.practiceSettingCode": "DocumentReference.context.practiceSetting",
    "DocumentEntry.creationTime": "DocumentReference.content[0].attachment.creation",
    "DocumentEntry.serviceStartTime": "DocumentReference.context.period.start",
    "DocumentEntry.serviceStopTime": "DocumentReference.context.period.end",
    "DocumentEntry.patientId": "DocumentReference.subject",
    "DocumentEntry.sourcePatientId": "DocumentReference.context.sourcePatientInfo",
    "DocumentEntry.author": "DocumentReference.author",
    "DocumentEntry.title": "DocumentReference.content[0].attachment.title",
    "DocumentEntry.languageCode": "DocumentReference.content[0].attachment.language",
    "SubmissionSet.patientId": "List.subject",
    "SubmissionSet.sourceId": "List.extension('ihe-sourceId')",
    "SubmissionSet.contentTypeCode": "List.extension('ihe-designationType')",
    "SubmissionSet.submissionTime": "List.date",
    "SubmissionSet.author": "List.source",
    "SubmissionSet.uniqueId": "List.identifier",
    "Folder.uniqueId": "List.identifier",
    "Folder.patientId": "List.subject",
    "Folder.codeList": "List.extension('ihe-designationType')",
    "Document": "DocumentReference.content[0].attachment",
    "entryUUID": "Bundle.entry.fullUrl",
    "VIHF resource-id": "patient",      # the caller's patient: ihe_iua.person_id on this front
}
HTTP_OF: dict[str, int] = {
    ErrorCode.REGISTRY_BUSY: 503, ErrorCode.REPOSITORY_BUSY: 503,
    ErrorCode.UNKNOWN_PATIENT_ID: 404,     # the record is not open (refusal, discloses none)
    ErrorCode.TOO_MANY_RESULTS: 422,
}
# XDSPatientIdDoesNotMatch is a 403 when the caller's credential names another patient
# (security/access.py check_scope, location "VIHF resource-id"), and a metadata error (422)
# when a document's patient differs from its set's (validation/submission.py)
SCOPE_LOCATION = "VIHF resource-id"
SCOPE_TEXT = ("the request is about another patient than the one the token names "
              "(extensions.ihe_iua.person_id)")


def _status(error: RegistryError) -> int:
    if error.code == ErrorCode.PATIENT_ID_DOES_NOT_MATCH and error.location == SCOPE_LOCATION:
        return 403
    return HTTP_OF.get(error.code, 422)


@dataclass
class FhirError(Exception):
    """A refusal: the HTTP status and the issues of its OperationOutcome."""

    status: int
    issues: list[Json] = field(default_factory=list)
    headers: list[tuple[str, str]] = field(default_factory=list)     # e.g. Allow of a 405

    def __str__(self) -> str:
        return "; ".join(i.get("diagnostics", "") for i in self.issues)


def issue(diagnostics: str, expression: str = "", code: str = "invalid",
          xds_code: str = "", severity: str = "error") -> Json:
    out: Json = {"severity": severity, "code": code, "diagnostics": diagnostics}
    if xds_code:
        out["details"] = {"coding": [{"system": XDS_ERRORS, "code": xds_code}]}
    if expression:
        out["expression"] = [expression]
    return out


def invalid(exc: Invalid, xds_code: str = ErrorCode.REGISTRY_METADATA_ERROR,
            status: int = 422) -> FhirError:
    return FhirError(status, [issue(str(exc), exc.where, "invalid", xds_code)])


def bad_request(diagnostics: str, expression: str = "", xds_code: str = "",
                code: str = "invalid") -> FhirError:
    return FhirError(400, [issue(diagnostics, expression, code, xds_code)])


def from_registry(errors: list[RegistryError], locations: dict[str, str] | None = None,
                  status: int | None = None) -> FhirError:
    """The XDS errors of a refused transaction: 422 (503 when busy, 404 for a record not
    open), one issue per error with its code and the element's FHIRPath (`locations` adds the
    names of the request at hand, e.g. the search parameters); `status` when the failure's
    kind says it (507: storage full, model/errors.StorageFull)."""
    status = status or max((_status(e) for e in errors if e.is_error), default=422)
    kind = {422: "processing", 503: "transient", 507: "transient", 404: "not-found",
            403: "forbidden"}[status]
    names = {**LOCATIONS, **(locations or {})}
    return FhirError(status, [issue(SCOPE_TEXT if e.location == SCOPE_LOCATION else e.context,
                                    names.get(e.location, e.location), kind, str(e.code),
                                    "error" if e.is_error else "warning")
                              for e in errors])


def operation_outcome(issues: list[Json]) -> Json:
    return {"resourceType": "OperationOutcome", "issue": issues}
