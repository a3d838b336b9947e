"""GET /fhir/metadata: what this server serves, exactly (the routes of front.py, the search
parameters of search.py), for the PDSm consumer and the gestionnaire de partage."""

from __future__ import annotations

from .. import __version__
from .search import AND_CODE_PARAMS, CODE_PARAMS, DATE_PARAMS
from .vocabulary import (
    PDSM,
    PROFILE_DOCUMENT,
    PROFILE_FOLDER,
    PROFILE_PROVIDE,
    PROFILE_SUBMISSION_SET,
)

_TYPES = {"patient": "reference", "patient.identifier": "token", "status": "token",
          "isArchived": "token", "identifier": "token", "_id": "token",
          "relatesto": "reference", "author.identifier": "token", "author.family": "string",
          "author.given": "string", **dict.fromkeys(CODE_PARAMS, "token"),
          **dict.fromkeys(AND_CODE_PARAMS, "token"), **dict.fromkeys(DATE_PARAMS, "date"),
          "_count": "number", "_offset": "number", "_cursor": "string"}
_LIST = {"patient": "reference", "patient.identifier": "token", "status": "token",
         "code": "token", "date": "date", "designationType": "token", "sourceId": "token",
         "_count": "number", "_offset": "number"}


DESCRIPTION = (
    "The PDSm Gestionnaire de partage's transactions (ITI-65, 66, 67, 68, PDSM4DMP updates), "
    "with exactly the search parameters listed here; not served, and refused (400) rather "
    "than ignored: DocumentReference `related`; List `identifier`, `title`, `source.given`, "
    "`source.family`, `isArchived`; tokens without their system (XDS codes are matched with "
    "their coding scheme); chained searches and modifiers other than :exact. JSON only.")


def _params(table: dict[str, str]) -> list[dict]:
    return [{"name": name, "type": kind} for name, kind in table.items()]


def capability_statement(base: str) -> dict:
    return {
        "resourceType": "CapabilityStatement", "status": "active", "kind": "instance",
        "date": "2026-12-01", "fhirVersion": "4.0.1", "format": ["application/fhir+json"],
        "patchFormat": ["application/json-patch+json"],
        "software": {"name": "xds-server", "version": __version__},
        "implementation": {"description": "xds-server MHD / PDSm front over the XDS registry "
                                          "and repository", "url": base},
        # not `instantiates` the PDSm Gestionnaire: not every parameter it lists is served
        "description": DESCRIPTION,
        "implementationGuide": [f"{PDSM}/ImplementationGuide/ans.fhir.fr.pdsm"],
        "rest": [{
            "mode": "server",
            "security": {"service": [{"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                "code": "OAuth"}]}],
                "description": "IHE IUA bearer tokens (signed JWT), unless XDS_SECURITY=none"},
            "interaction": [{"code": "transaction", "documentation": "ITI-65"}],
            "resource": [
                {"type": "DocumentReference", "supportedProfile": [PROFILE_DOCUMENT],
                 "interaction": [{"code": "read"}, {"code": "search-type"},
                                 {"code": "patch"}],
                 "searchParam": _params(_TYPES)},
                {"type": "List", "supportedProfile": [PROFILE_SUBMISSION_SET, PROFILE_FOLDER],
                 "interaction": [{"code": "read"}, {"code": "search-type"}],
                 "searchParam": _params(_LIST)},
                {"type": "Binary", "interaction": [{"code": "read"}]},
                {"type": "Bundle", "supportedProfile": [PROFILE_PROVIDE]},
            ],
        }],
    }
