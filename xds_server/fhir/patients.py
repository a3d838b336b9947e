"""The patient of a resource (subject: the record's INS) and the source patient (the
producer's own identifiers and demographics, sourcePatientId and sourcePatientInfo) ⇄ FHIR.

sourcePatientInfo keeps PID-3 (identifiers), PID-5 (name), PID-7 (birth date) and PID-8
(sex): what a contained Patient can say; other PID fields are not carried."""

from __future__ import annotations

from typing import Any

from .datatypes import (
    Invalid,
    Json,
    cx_identifier,
    cx_of_identifier,
    cx_of_patient_id,
)

SEX = {"M": "male", "F": "female", "U": "unknown", "A": "other"}
SEX_BACK = {gender: sex for sex, gender in SEX.items()}


def patient_cx(subject: Any, contained: dict[str, Json], where: str) -> str:
    """The CX of the patient a reference names: by identifier (a logical reference), by this
    server's Patient/<authority>-<id>, or a contained Patient's first identifier."""
    if subject.get("identifier"):
        return cx_of_identifier(subject["identifier"], f"{where}.identifier")
    target = subject.get("reference", "")
    if target.startswith("#") and target[1:] in contained:
        identifiers = contained[target[1:]].get("identifier") or []
        if identifiers:
            return cx_of_identifier(identifiers[0], f"{where}.reference")
    tail = target.rsplit("/", 2)
    if len(tail) >= 2 and tail[-2] == "Patient" and (cx := cx_of_patient_id(tail[-1])):
        return cx
    raise Invalid("the patient must be named by identifier (system urn:oid:<INS authority>) "
                  "or as Patient/<authority>-<id>", where)


def source_patient(source_patient_id: str | None, info: list[str]) -> Json:
    out: Json = {"resourceType": "Patient", "id": "source-patient"}
    identifiers = []
    if source_patient_id:
        identifiers.append({"use": "usual", **cx_identifier(source_patient_id)})
    for line in info:
        field, _, value = line.partition("|")
        if field == "PID-3":
            identifiers.append({"use": "official", **cx_identifier(value)})
        elif field == "PID-5":
            family, given = [*value.split("^"), ""][:2]
            name: Json = {"family": family} if family else {}
            if given:
                name["given"] = [given]
            out.setdefault("name", []).append(name)
        elif field == "PID-7" and value:
            out["birthDate"] = "-".join(filter(None, (value[:4], value[4:6], value[6:8])))
        elif field == "PID-8" and value in SEX:
            out["gender"] = SEX[value]
    if identifiers:
        out["identifier"] = identifiers
    return out


def source_patient_of(resource: Json, where: str) -> tuple[str | None, list[str]]:
    if resource.get("resourceType") != "Patient":
        raise Invalid("sourcePatientInfo must reference a Patient", where)
    source_id: str | None = None
    info: list[str] = []
    for position, identifier in enumerate(resource.get("identifier") or []):
        cx = cx_of_identifier(identifier, f"{where}.identifier[{position}]")
        if identifier.get("use") == "usual" and source_id is None:
            source_id = cx
        else:
            info.append(f"PID-3|{cx}")
    for name in resource.get("name") or []:
        given = (name.get("given") or [""])[0]
        info.append(f"PID-5|{name.get('family', '')}^{given}".rstrip("^"))
    if resource.get("birthDate"):
        info.append(f"PID-7|{resource['birthDate'].replace('-', '')}")
    if resource.get("gender") in SEX_BACK:
        info.append(f"PID-8|{SEX_BACK[resource['gender']]}")
    return source_id, info
