"""The PDSm profiles' rules this server holds an ITI-65 to, as tables (the structure is
fhir.resources' R4B models; the codes and the CI-SIS rules are the registry's profile and the
repository's CDA checks, as for ITI-41). Each row: the element (FHIRPath from the resource)
and why it is required."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from .datatypes import Json
from .outcome import FhirError, issue
from .structure_tables import accepts, text_for_object

# PDSm_ComprehensiveDocumentReference (cardinalities 1.. of the profile and of MHD
# Comprehensive)
DOCUMENT_REQUIRED: tuple[tuple[str, str], ...] = (
    ("masterIdentifier", "the document's uniqueId"),
    ("status", "MHD"),
    ("type", "typeCode"),
    ("category", "classCode"),
    ("subject", "the patient"),
    ("date", "PDSm: date 1.."),
    ("author", "PDSm: author 1.. (contained)"),
    ("contained", "PDSm: contained 1.. (authors, authenticator)"),
    ("securityLabel", "confidentialityCode (MHD Comprehensive)"),
    ("content[0].attachment.contentType", "mimeType"),
    ("content[0].attachment.size", "PDSm: size 1.."),
    ("content[0].attachment.hash", "PDSm: hash 1.."),
    ("content[0].attachment.title", "PDSm: title 1.."),
    ("content[0].format", "formatCode (MHD Comprehensive)"),
    ("context.facilityType", "healthcareFacilityTypeCode (MHD Comprehensive)"),
    ("context.practiceSetting", "practiceSettingCode (MHD Comprehensive)"),
    ("context.period.start", "PDSm: context.period.start 1.."),
    ("custodian", "PDSm: custodian 1.. (not an XDS attribute: checked, not stored)"),
)
# PDSm_SubmissionSetComprehensive
SUBMISSION_SET_REQUIRED: tuple[tuple[str, str], ...] = (
    ("identifier", "uniqueId and entryUUID"),
    ("subject", "the patient"),
    ("date", "submissionTime"),
    ("source", "PDSm: source 1.. (the author)"),
    ("contained", "PDSm: contained 1.. (source or authorOrg)"),
    ("extension", "PDSm: extension 2.. (sourceId, designationType)"),
)
FOLDER_REQUIRED: tuple[tuple[str, str], ...] = (
    ("identifier", "uniqueId and entryUUID"),
    ("subject", "the patient"),
    ("date", "PDSm: date 1.. (lastUpdateTime)"),
    ("entry", "PDSm: entry 1.. (the folder's documents)"),
    ("extension", "PDSm: extension[designationType] 1..1 (codeList)"),
)


def _get(resource: Any, path: str) -> Any:
    value = resource
    for step in path.split("."):
        name, _, index = step.partition("[")
        value = value.get(name) if isinstance(value, dict) else None
        if index and isinstance(value, list):
            position = int(index.rstrip("]"))
            value = value[position] if position < len(value) else None
        if value in (None, "", [], {}):
            return None
    return value


def missing(resource: Json, rules: tuple[tuple[str, str], ...], where: str) -> list[Json]:
    return [issue(f"{path} is required ({why})", f"{where}.{path}", "required",
                  "XDSRegistryMetadataError")
            for path, why in rules if _get(resource, path) is None]


def structure(model: Any, body: Any, root: str = "Bundle") -> None:
    """The body checked as an R4B model (structure, types, primitive formats), or 422 with one
    issue per problem and its FHIRPath. The tables read from the models decide what they are
    sure the models accept (structure_tables.py: 0.15 ms against the models' 2.4-3.2 ms for a
    one-document ITI-65); anything else, every refusal included, is the models' answer."""
    if accepts(model, body):
        return
    text = text_for_object(model, body, root)
    if text is not None:
        raise FhirError(422, [issue("a JSON object or list is expected here, not a string",
                                    text, "structure", "XDSRegistryMetadataError")])
    try:
        model.model_validate(body)
    except ValidationError as exc:
        issues = []
        for problem in exc.errors()[:50]:
            path = root
            for step in problem.get("loc", ()):
                path += f"[{step}]" if isinstance(step, int) else f".{step}"
            issues.append(issue(problem.get("msg", "invalid"), path, "structure",
                                "XDSRegistryMetadataError"))
        raise FhirError(422, issues) from None
    except (ValueError, TypeError, LookupError, AttributeError) as exc:
        # the models' own slips on odd input (a resourceType of no R4B type is a KeyError)
        raise FhirError(422, [issue(f"the resource cannot be read: {str(exc)[:200]}", root,
                                    "structure")]) from None
