"""CDA header → XDS DocumentEntry values, as the CI-SIS maps them (HV2 mapping table; IHE
XDS-SD). The consumer's `submit` fills a DocumentEntry with these; the repository's consistency
check compares a received DocumentEntry with the same values."""

from __future__ import annotations

from ..model.french_ids import INS_PRODUCTION, INS_TEST, PS_NATIONAL_ID, STRUCTURE_NATIONAL_ID
from ..model.metadata import Author, Code
from ..valuesets import ValueSets
from .header import CdaHeader, CodedValue, Person, to_dtm
from .mapping_formats import IHE_FORMAT_SYSTEM, TEMPLATE_FORMATS

__all__ = ["IHE_FORMAT_SYSTEM", "LEVEL1_FORMATS", "TEMPLATE_FORMATS", "entry_values"]

LEVEL1_FORMATS = {  # ASS_A12: nonXMLBody media type → formatCode (IHE XDS-SD)
    "application/pdf": "urn:ihe:iti:xds-sd:pdf:2008",
    "text/plain": "urn:ihe:iti:xds-sd:text:2008",
}
# ASS_A11 (content template → formatCode): the whole CI-SIS table, mapping_formats.py


def code_of(value: CodedValue | None) -> Code | None:
    return Code(value.code, value.system, value.display) if value is not None else None


def xcn_of(person: Person) -> str | None:
    """XCN of an author or legal authenticator, after the CI-SIS examples: an RPPS/ADELI id
    (idNat_PS 8…/0…) is IDNPS, another idNat_PS is EI, a device is U…RI, an INS is NH."""
    ident = next((i for i in person.ids if i.extension), None)
    if ident is None:
        return f"^{person.family}^{person.given}" if person.family else None
    if ident.root in INS_PRODUCTION | INS_TEST:
        kind = "D^^^NH"
    elif person.is_device:
        kind = "U^^^RI"
    elif ident.root == PS_NATIONAL_ID and ident.extension[:1] in ("8", "0"):
        kind = "D^^^IDNPS"
    else:
        kind = "D^^^EI"
    return f"{ident.extension}^{person.family}^{person.given}^^^^^^&{ident.root}&ISO^{kind}"


def xon_of(person: Person) -> str | None:
    if not person.organization_name:
        return None
    ident = next((i for i in person.organization_ids if i.extension), None)
    if ident is None or ident.root != STRUCTURE_NATIONAL_ID:
        return person.organization_name
    return f"{person.organization_name}^^^^^&{ident.root}&ISO^IDNST^^^{ident.extension}"


def author_of(person: Person) -> Author:
    specialty = person.specialty
    return Author(
        person=xcn_of(person),
        institutions=[x for x in [xon_of(person)] if x],
        roles=[person.function_display] if person.function_display else [],
        specialties=[f"{specialty.code}^{specialty.display}^{specialty.system}"]
        if specialty is not None else [])


def format_code(header: CdaHeader) -> Code | None:
    if header.body_media_type is not None:
        media = LEVEL1_FORMATS.get(header.body_media_type)
        return Code(media, IHE_FORMAT_SYSTEM) if media else None
    for template in header.template_ids:
        if template in TEMPLATE_FORMATS:
            code, system = TEMPLATE_FORMATS[template]
            return Code(code, system)
    return None


def class_code(header: CdaHeader, value_sets: ValueSets) -> Code | None:
    if header.code is None:
        return None
    found = value_sets.type_to_class.get(f"{header.code.code}^^{header.code.system}")
    if found is None:
        return None
    code, _, system = found.partition("^^")
    return Code(code, system)


def entry_values(header: CdaHeader, value_sets: ValueSets) -> dict[str, object]:
    """DocumentEntry attribute → value, for what the header says (None: it does not say)."""
    return {
        "unique_id": header.unique_id or None,
        "type_code": code_of(header.code),
        "class_code": class_code(header, value_sets),
        "format_code": format_code(header),
        "title": header.title or None,
        "creation_time": to_dtm(header.effective_time),
        "confidentiality_codes": [c for c in [code_of(header.confidentiality)] if c] or None,
        "language_code": header.language or None,
        "service_start_time": header.service_start,
        "service_stop_time": header.service_stop,
        "healthcare_facility_type_code": code_of(header.facility_code),
        "practice_setting_code": code_of(header.practice_code),
        "legal_authenticator": xcn_of(header.legal_authenticator)
        if header.legal_authenticator is not None else None,
        "authors": [author_of(p) for p in header.authors] or None,
        "mime_type": "text/xml",
    }
