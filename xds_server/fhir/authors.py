"""XDS authors (person XCN, institution XON, roles, specialties, telecoms) ⇄ contained FHIR
resources: a PractitionerRole linking a Practitioner and an Organization, or the one of them
an author has. Each XDS author is one `author` (or List `source`) reference.

Lossy on purpose, as the PDSm profiles are: an author keeps its first institution only (the
CI-SIS allows one)."""

from __future__ import annotations

from typing import Any

from ..model.metadata import Author
from .datatypes import (
    Invalid,
    Json,
    contact_point,
    organization,
    practitioner,
    role_concept,
    role_of_concept,
    xcn_of_practitioner,
    xon_of_organization,
    xtn_of_contact_point,
)


def author_resources(author: Author, prefix: str) -> tuple[Json, list[Json]]:
    """(the reference to the author, the resources to contain)."""
    person = practitioner(author.person, f"{prefix}-person") if author.person else None
    org = organization(author.institutions[0], f"{prefix}-org") if author.institutions \
        else None
    if person is None and not (author.roles or author.specialties or author.telecoms):
        if org is None:
            raise ValueError("an author with neither person nor institution")
        return {"reference": f"#{org['id']}"}, [org]
    role: Json = {"resourceType": "PractitionerRole", "id": prefix}
    if person is not None:
        role["practitioner"] = {"reference": f"#{person['id']}"}
    if org is not None:
        role["organization"] = {"reference": f"#{org['id']}"}
    if author.roles:
        role["code"] = [role_concept(r) for r in author.roles]
    if author.specialties:
        role["specialty"] = [role_concept(s) for s in author.specialties]
    if author.telecoms:
        role["telecom"] = [contact_point(t) for t in author.telecoms]
    return {"reference": f"#{prefix}"}, [role, *(r for r in (person, org) if r is not None)]


def contained_index(resource: Json, where: str) -> dict[str, Json]:
    index: dict[str, Json] = {}
    for position, item in enumerate(resource.get("contained") or []):
        if not isinstance(item, dict) or not item.get("id"):
            raise Invalid("a contained resource needs an id", f"{where}.contained[{position}]")
        index[item["id"]] = item
    return index


def resolve(reference: Any, contained: dict[str, Json], where: str) -> Json:
    """The contained resource a '#id' reference names."""
    target = reference.get("reference", "") if isinstance(reference, dict) else ""
    if not isinstance(target, str):
        raise Invalid("reference must be a string", f"{where}.reference")
    if not target.startswith("#") or target[1:] not in contained:
        raise Invalid(f"reference '{target}' does not name a contained resource (authors and "
                      "authenticators are contained, MHD Comprehensive)", f"{where}.reference")
    return contained[target[1:]]


def author_of(reference: Any, contained: dict[str, Json], where: str) -> Author:
    resource = resolve(reference, contained, where)
    kind = resource.get("resourceType")
    author = Author()
    if kind == "Organization":
        author.institutions = [xon_of_organization(resource, where)]
    elif kind in ("Practitioner", "Patient"):
        author.person = xcn_of_practitioner(resource, where)
    elif kind == "PractitionerRole":
        if resource.get("practitioner"):
            author.person = xcn_of_practitioner(
                resolve(resource["practitioner"], contained, f"{where}.practitioner"), where)
        if resource.get("organization"):
            author.institutions = [xon_of_organization(
                resolve(resource["organization"], contained, f"{where}.organization"), where)]
        author.roles = [role_of_concept(c, f"{where}.code[{i}]")
                        for i, c in enumerate(resource.get("code") or [])]
        author.specialties = [role_of_concept(c, f"{where}.specialty[{i}]")
                              for i, c in enumerate(resource.get("specialty") or [])]
        author.telecoms = [xtn_of_contact_point(t, f"{where}.telecom[{i}]")
                           for i, t in enumerate(resource.get("telecom") or [])]
    else:
        raise Invalid(f"an author may be a PractitionerRole, Practitioner, Patient or "
                      f"Organization, not {kind}", where)
    return author
