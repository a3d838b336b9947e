"""What the toolkit writes into registration metadata before sending (its TestMgmt and
IdParser): the test's patient in every patientId, fresh uniqueIds, UUIDs for symbolic ids.

Each function returns the map the toolkit logs (object id → value): AssignedPatientId,
AssignedUids, AssignedUuids, which later steps read with UseId.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from lxml import etree

from ..model import vocabulary as v

RIM = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"
LCM = "urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0"
_REFERENCES = ("classifiedObject", "sourceObject", "targetObject", "registryObject")
_PATIENT_SCHEMES = {"ExtrinsicObject": (v.DE_PATIENT_ID,),
                    "RegistryPackage": (v.SS_PATIENT_ID, v.FOL_PATIENT_ID)}
_UNIQUE_ID_SCHEMES = {"ExtrinsicObject": (v.DE_UNIQUE_ID,),
                      "RegistryPackage": (v.SS_UNIQUE_ID, v.FOL_UNIQUE_ID)}


def is_submission(root: etree._Element) -> bool:
    return root.tag == f"{{{LCM}}}SubmitObjectsRequest"


def objects(root: etree._Element, local: str) -> list[etree._Element]:
    """The ExtrinsicObjects or RegistryPackages of a submission, wherever they are."""
    return list(root.iter(f"{{{RIM}}}{local}"))


def _identifiers(obj: etree._Element, schemes: tuple[str, ...]) -> list[etree._Element]:
    return [e for e in obj.findall(f"{{{RIM}}}ExternalIdentifier")
            if e.get("identificationScheme") in schemes]


def _assign(root: etree._Element, table: dict[str, tuple[str, ...]],
            value_for: Callable[[etree._Element], str], skip: str | None = None,
            keep_schemes: frozenset[str] = frozenset()) -> dict[str, str]:
    assigned: dict[str, str] = {}
    for local, schemes in table.items():
        for obj in objects(root, local):
            if skip is not None and obj.get("id") == skip:
                continue
            for identifier in _identifiers(obj, schemes):
                if identifier.get("identificationScheme") not in keep_schemes:
                    identifier.set("value", value_for(identifier))
                assigned[obj.get("id") or ""] = identifier.get("value") or ""
    return assigned


def assign_patient(root: etree._Element, patient: str) -> dict[str, str]:
    """Every DocumentEntry, SubmissionSet and Folder patientId becomes `patient`."""
    return _assign(root, _PATIENT_SCHEMES, lambda _: patient)


def new_unique_id() -> str:
    """An OID no one else will use (ISO/IEC 9834-8 UUID arc), within XDS's 64 characters."""
    return f"2.25.{uuid.uuid4().int}"


def assign_unique_ids(root: etree._Element, skip: str | None = None,
                      keep_schemes: frozenset[str] = frozenset()) -> dict[str, str]:
    """Fresh uniqueIds, except for the object `skip` (NoAssignUids id=…) and the schemes the
    testplan excludes (AssignUuids/Exclude, kept but still reported)."""
    return _assign(root, _UNIQUE_ID_SCHEMES, lambda _: new_unique_id(), skip, keep_schemes)


def assign_uuids(root: etree._Element) -> dict[str, str]:
    """Every symbolic id (not urn:uuid:) becomes a new UUID, and so does every reference to it.
    A reference to a symbol the message defines nowhere is the template's error, as in the
    toolkit (ValueError)."""
    assigned: dict[str, str] = {}
    for element in root.iter():
        ident = element.get("id") if isinstance(element.tag, str) else None
        if ident and not ident.startswith("urn:uuid:"):
            assigned.setdefault(ident, f"urn:uuid:{uuid.uuid4()}")
            element.set("id", assigned[ident])
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        for attribute in _REFERENCES:
            value = element.get(attribute)
            if value is None or value.startswith("urn:uuid:"):
                continue
            if value not in assigned:
                raise ValueError(f"{attribute}={value!r} names no object of the message")
            element.set(attribute, assigned[value])
    return assigned


def mime_types(root: etree._Element) -> dict[str, str]:
    """Document id → mimeType, for the attachments of a Provide and Register."""
    return {e.get("id") or "": e.get("mimeType") or "application/octet-stream"
            for e in objects(root, "ExtrinsicObject")}
