"""XDS values ⇄ FHIR data types, both directions side by side: coded values, timestamps,
identifiers (CX, OIDs as urn:oid:), the HL7 v2 strings of authors (XCN, XON) and of the source
patient (PID fields).

Every reverse function raises `Invalid(message, fhirpath)` on what cannot be mapped, so the
front answers with the element's FHIRPath."""

from __future__ import annotations

import base64
import datetime as dt
import re
from typing import Any

from ..model.hl7 import Cx, is_oid
from ..model.metadata import Code
from ..model.visibility import names_visibility, visibility_problem
from ..model.vocabulary import VISIBILITY_SYSTEM
from .dates import utc_dtm
from .vocabulary import OID_OF_URI, RFC3986, URI_OF_OID

Json = dict[str, Any]


class Invalid(ValueError):
    """A FHIR element that cannot become XDS metadata: the reason and where it is."""

    def __init__(self, message: str, where: str) -> None:
        super().__init__(message)
        self.where = where


def _string(value: Json, name: str, where: str) -> str:
    """value[name] as a string, "" when absent; Invalid naming it otherwise (the models check
    types first, but the mapping reads the JSON: it never joins or slices a non-string)."""
    item = value.get(name, "")
    if not isinstance(item, str):
        raise Invalid(f"{name} must be a string", f"{where}.{name}")
    return item


def _first(value: Json, name: str, where: str) -> Json:
    """The first object of the list value[name], {} when absent or empty."""
    items = value.get(name) or [{}]
    if not isinstance(items, list) or not isinstance(items[0], dict):
        raise Invalid(f"{name} must be a list of objects", f"{where}.{name}")
    return items[0]


def _type_code(ident: Json, where: str) -> str:
    """An Identifier's type.coding[0].code, "" when absent."""
    kind = ident.get("type") or {}
    if not isinstance(kind, dict):
        raise Invalid("type must be a CodeableConcept", f"{where}.type")
    return _string(_first(kind, "coding", f"{where}.type"), "code", f"{where}.type.coding[0]")


# --- code systems and codes --------------------------------------------------------------------

def system_uri(oid: str) -> str:
    """The FHIR system of an XDS coding scheme: the table's URI, else urn:oid: (or the scheme
    as it is when it is no OID, e.g. 'URN' schemes the CI-SIS uses)."""
    if oid in URI_OF_OID:
        return URI_OF_OID[oid]
    return f"urn:oid:{oid}" if is_oid(oid) else oid


def oid_of_urn(value: str) -> str | None:
    """The OID a urn:oid: URI names, its prefix in any case (RFC 8141 §3: the NID 'oid' and
    'urn:' are case-insensitive, as urn:uuid: already is here: model/hl7.py); None for any
    other URI. 'URN:OID:<TRE_A07>' was kept as an inert scheme (16e F2)."""
    return value[8:] if value[:8].lower() == "urn:oid:" else None


def scheme_oid(uri: str) -> str:
    if uri in OID_OF_URI:
        return OID_OF_URI[uri]
    oid = oid_of_urn(uri)
    return uri if oid is None else oid


def coding(code: Code) -> Json:
    out = {"system": system_uri(code.scheme), "code": code.code}
    if code.display:
        out["display"] = code.display
    return out


def concept(code: Code) -> Json:
    return {"coding": [coding(code)]}


def code_of_coding(value: Any, where: str) -> Code:
    if not isinstance(value, dict) or not value.get("code") or not value.get("system"):
        raise Invalid("a coded value needs a system and a code", where)
    return Code(_string(value, "code", where), scheme_oid(_string(value, "system", where)),
                _string(value, "display", where))


def code_of_concept(value: Any, where: str) -> Code:
    """The first coding of a CodeableConcept (XDS holds one code per classification)."""
    codings = value.get("coding") if isinstance(value, dict) else None
    if not codings:
        raise Invalid("a CodeableConcept needs a coding with system and code", where)
    return code_of_coding(codings[0], f"{where}.coding[0]")


def security_codes(labels: Any, where: str) -> list[Code]:
    """securityLabel as confidentiality codes: the first coding of each (XDS holds one code a
    classification); a DMP visibility code only under TRE_A07, and never in a later coding,
    which XDS would drop (model/visibility.py: masking fails closed, 16e F2)."""
    if not isinstance(labels, list):
        raise Invalid("securityLabel must be a list", where)
    codes = []
    for i, label in enumerate(labels):
        at = f"{where}[{i}]"
        code = code_of_concept(label, at)
        if problem := visibility_problem(code.code, code.scheme):
            raise Invalid(f"{problem} (FHIR system {system_uri(VISIBILITY_SYSTEM)})",
                          f"{at}.coding[0]")
        for j, other in enumerate(label["coding"][1:], 1):
            if isinstance(other, dict) and names_visibility(
                    str(other.get("code", "")), scheme_oid(str(other.get("system", "")))):
                raise Invalid("a visibility code is the first coding of a securityLabel of "
                              "its own (XDS keeps one coding a label)", f"{at}.coding[{j}]")
        codes.append(code)
    return codes


# --- timestamps: XDS DTM (UTC, 4 to 14 digits) ⇄ FHIR dateTime / instant -----------------------

_FHIR_DATE = re.compile(r"(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?")
_DTM_FORMS = {4: "%Y", 6: "%Y-%m", 8: "%Y-%m-%d"}


def fhir_datetime(dtm: str) -> str:
    """A DTM (UTC) as a FHIR dateTime: a date stays a date; a time gets seconds and 'Z'
    (FHIR requires seconds with a time: 10 or 12 digits come back as 14, the same instant)."""
    if len(dtm) <= 8:
        return "-".join(filter(None, (dtm[:4], dtm[4:6], dtm[6:8])))
    full = dtm.ljust(14, "0")
    return (f"{full[:4]}-{full[4:6]}-{full[6:8]}T{full[8:10]}:{full[10:12]}:{full[12:14]}Z")


def dtm(value: Any, where: str) -> str:
    """A FHIR dateTime as an XDS DTM in UTC (the time zone applied, fractions dropped)."""
    if not isinstance(value, str):
        raise Invalid("a date or dateTime is expected", where)
    if match := _FHIR_DATE.fullmatch(value):
        return "".join(part for part in match.groups() if part)
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise Invalid(f"'{value}' is not a FHIR dateTime", where) from None
    if moment.tzinfo is None:
        raise Invalid(f"'{value}' has a time but no time zone (FHIR requires one)", where)
    utc = utc_dtm(moment)
    if utc is None:     # an XDS DTM is a UTC time of years 0001-9999
        raise Invalid(f"'{value}' is outside the times XDS can hold (years 0001 to 9999 in "
                      "UTC)", where)
    return utc


# --- identifiers --------------------------------------------------------------------------------

def oid_urn(value: str) -> str:
    """An XDS uniqueId as an RFC 3986 URI (urn:oid: or urn:uuid:); other forms as they are."""
    if value.startswith("urn:"):
        return value
    return f"urn:oid:{value}" if is_oid(value) else value


def unique_id_of(value: str) -> str:
    oid = oid_of_urn(value)
    return value if oid is None else oid


def rfc3986(value: str, use: str | None = None) -> Json:
    out: Json = {"system": RFC3986, "value": value}
    if use:
        out = {"use": use, **out}
    return out


def cx_identifier(cx: str) -> Json:
    """A CX (patient id, sourcePatientId) as an Identifier whose system is its authority."""
    parsed = Cx.parse(cx)
    if parsed is None:
        return {"value": cx}
    return {"system": f"urn:oid:{parsed.authority_oid}", "value": parsed.id}


def cx_of_identifier(value: Any, where: str) -> str:
    if not isinstance(value, dict) or not value.get("value") or not value.get("system"):
        raise Invalid("the patient identifier needs a system (urn:oid:<authority>) and a "
                      "value", where)
    system = _string(value, "system", where)
    authority = oid_of_urn(system)
    if authority is None or not is_oid(authority):
        raise Invalid(f"identifier system '{system}' is not urn:oid:<assigning authority>",
                      f"{where}.system")
    text = _string(value, "value", where)
    if "^" in text or "&" in text:
        raise Invalid("an identifier value may not hold ^ or &", f"{where}.value")
    return f"{text}^^^&{authority}&ISO"


def patient_resource_id(cx: str) -> str:
    """The id this server gives the Patient a CX names: <authority>-<id> (FHIR id charset)."""
    parsed = Cx.parse(cx)
    return f"{parsed.authority_oid}-{parsed.id}" if parsed else cx


def cx_of_patient_id(resource_id: str) -> str | None:
    authority, _, value = resource_id.partition("-")
    return f"{value}^^^&{authority}&ISO" if value and is_oid(authority) else None


def patient_reference(cx: str) -> Json:
    return {"reference": f"Patient/{patient_resource_id(cx)}", "identifier": cx_identifier(cx)}


# --- hashes -------------------------------------------------------------------------------------

def base64_sha1(hex_digest: str) -> str:
    return base64.b64encode(bytes.fromhex(hex_digest)).decode("ascii")


def hex_sha1(value: Any, where: str) -> str:
    try:
        raw = base64.b64decode(value, validate=True)
    except (ValueError, TypeError):
        raise Invalid("attachment.hash is not base64", where) from None
    if len(raw) != 20:
        raise Invalid("attachment.hash is not a SHA-1 (20 bytes)", where)
    return raw.hex()


# --- HL7 v2 strings of authors and source patients ---------------------------------------------

def _parts(value: str, count: int) -> list[str]:
    parts = value.split("^")
    return parts + [""] * (count - len(parts))


def _authority(component: str) -> str:
    """The OID of an HD component '&OID&ISO'."""
    pieces = component.split("&")
    return pieces[1] if len(pieces) > 1 else ""


# XCN.10 name type code (HL7 v2 table 0200) ⇄ HumanName.use, after the HL7 v2-to-FHIR map;
# the CI-SIS writes D for the professional's name (…&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS)
NAME_USE: dict[str, str] = {"L": "official", "D": "usual", "M": "maiden", "N": "nickname",
                            "A": "anonymous", "T": "temp"}
NAME_USE_BACK: dict[str, str] = {use: code for code, use in NAME_USE.items()}


def practitioner(xcn: str, resource_id: str) -> Json:
    """An XCN (authorPerson, legalAuthenticator) as a contained Practitioner: id, names (their
    type as use), prefix, assigning authority and identifier type code (component 13)."""
    p = _parts(xcn, 13)
    out: Json = {"resourceType": "Practitioner", "id": resource_id}
    if p[0]:
        identifier: Json = {"value": p[0]}
        if _authority(p[8]):
            identifier["system"] = f"urn:oid:{_authority(p[8])}"
        if p[12]:
            identifier["type"] = {"coding": [{"code": p[12]}]}
        out["identifier"] = [identifier]
    name: Json = {}
    if p[1]:
        name["family"] = p[1]
    given = [g for g in (p[2], p[3]) if g]
    if given:
        name["given"] = given
    if p[5]:
        name["prefix"] = [p[5]]
    if name and p[9] in NAME_USE:
        name = {"use": NAME_USE[p[9]], **name}
    if name:
        out["name"] = [name]
    return out


def xcn_of_practitioner(resource: Json, where: str) -> str:
    ident = _first(resource, "identifier", where)
    at = f"{where}.identifier[0]"
    value, system = _string(ident, "value", at), _string(ident, "system", at)
    authority = oid_of_urn(system)
    if system and authority is None and system != "https://rpps.esante.gouv.fr":
        raise Invalid(f"practitioner identifier system '{system}' is not urn:oid: or RPPS",
                      f"{at}.system")
    authority = authority or ""
    if system == "https://rpps.esante.gouv.fr":       # idNat_PS = 8 + RPPS (PSIdNat.fsh)
        value, authority = "8" + value, "1.2.250.1.71.4.2.1"
    kind = _type_code(ident, at)
    name = _first(resource, "name", where)
    at = f"{where}.name[0]"
    given = name.get("given") or []
    if not isinstance(given, list) or not all(isinstance(g, str) for g in given):
        raise Invalid("given must be a list of strings", f"{at}.given")
    prefixes = name.get("prefix") or [""]
    if not isinstance(prefixes, list) or not isinstance(prefixes[0], str):
        raise Invalid("prefix must be a list of strings", f"{at}.prefix")
    family, use = _string(name, "family", at), _string(name, "use", at)
    if not value and not family:
        raise Invalid("a practitioner needs an identifier or a family name", where)
    hd = f"&{authority}&ISO" if authority else ""
    given = [*given, "", ""]
    xcn = "^".join([value, family, given[0], given[1], "", prefixes[0], "", "", hd,
                    NAME_USE_BACK.get(use, ""), "", "", kind])
    return xcn.rstrip("^")


def organization(xon: str, resource_id: str) -> Json:
    """An XON (authorInstitution) as a contained Organization: name, id (component 10) and
    its assigning authority (component 6), identifier type (component 7)."""
    p = _parts(xon, 10)
    out: Json = {"resourceType": "Organization", "id": resource_id}
    if p[9]:
        identifier: Json = {"value": p[9]}
        if _authority(p[5]):
            identifier["system"] = f"urn:oid:{_authority(p[5])}"
        if p[6]:
            identifier["type"] = {"coding": [{"code": p[6]}]}
        out["identifier"] = [identifier]
    if p[0]:
        out["name"] = p[0]
    return out


def xon_of_organization(resource: Json, where: str) -> str:
    ident = _first(resource, "identifier", where)
    at = f"{where}.identifier[0]"
    system = _string(ident, "system", at)
    authority = oid_of_urn(system)
    if system and authority is None:
        raise Invalid(f"organization identifier system '{system}' is not urn:oid:",
                      f"{at}.system")
    name = _string(resource, "name", where)
    if not name:
        raise Invalid("an author's organization needs a name (XON.1)", f"{where}.name")
    value, kind = _string(ident, "value", at), _type_code(ident, at)
    hd = f"&{authority}&ISO" if authority else ""
    return "^".join([name, "", "", "", "", hd, kind, "", "", value]).rstrip("^")


def role_concept(value: str) -> Json:
    """authorRole / authorSpecialty 'code^display^scheme' (CI-SIS) as a CodeableConcept."""
    code, display, scheme = _parts(value, 3)[:3]
    out: Json = {"code": code}
    if scheme:
        out = {"system": system_uri(scheme), **out}
    if display:
        out["display"] = display
    return {"coding": [out]}


def role_of_concept(value: Any, where: str) -> str:
    codings = value.get("coding") if isinstance(value, dict) else None
    if not codings or not isinstance(codings, list) or not isinstance(codings[0], dict) \
            or not codings[0].get("code"):
        raise Invalid("a role or specialty needs a coding with a code", where)
    at = f"{where}.coding[0]"
    first = codings[0]
    code, system = _string(first, "code", at), _string(first, "system", at)
    scheme = scheme_oid(system) if system else ""
    return "^".join([code, _string(first, "display", at), scheme]).rstrip("^")


def contact_point(xtn: str) -> Json:
    p = _parts(xtn, 4)
    if p[2] == "Internet" and p[3]:
        return {"system": "email", "value": p[3]}
    return {"system": "other", "value": xtn}


def xtn_of_contact_point(value: Any, where: str) -> str:
    if not isinstance(value, dict):
        raise Invalid("a telecom is a ContactPoint", where)
    if _string(value, "system", where) == "email":
        return f"^^Internet^{_string(value, 'value', where)}"
    return _string(value, "value", where)
