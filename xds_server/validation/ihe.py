"""The IHE profile's object rules (ITI TF-3 §4.1 and Table 4.3.1-3) as data.

`ATTRIBUTE_RULES` lists, per object kind, each attribute with its optionality for ITI-42 and the
format it must have. `check_objects` walks the table; nothing here knows the database.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from ..model import hl7
from ..model import vocabulary as v
from ..model.errors import ErrorCode, RegistryError, error, warning
from ..model.metadata import Code, DocumentEntry, Folder, RegistryObject, Submission, SubmissionSet
from ..model.visibility import visibility_problem

META = ErrorCode.REGISTRY_METADATA_ERROR


class Need(Enum):
    REQUIRED = "R"
    REQUIRED_IF_KNOWN = "R2"
    OPTIONAL = "O"


Check = Callable[[Any], str | None]  # returns what is wrong, or None


def _fmt(predicate: Callable[[str], bool], expectation: str) -> Check:
    def check(value: str) -> str | None:
        return None if predicate(value) else f"'{value}' is not {expectation}"

    return check


_LANGUAGE = re.compile(r"[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*")
_MIME = re.compile(r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*")
_HASH = re.compile(r"[0-9a-fA-F]{40}")
_DIGITS = re.compile(r"[0-9]+")    # ASCII only: str.isdigit and int() take '١٢٣' too (16d)
SIZE_MAX = 2**63 - 1               # the stores keep size in a signed 64-bit column


def _is_size(value: str) -> bool:
    """ASCII digits within a signed 64-bit integer; the length test spares int() 5,000 digits."""
    if not _DIGITS.fullmatch(value):
        return False
    digits = value.lstrip("0")
    return len(digits) <= 19 and int(digits or "0") <= SIZE_MAX


DTM = _fmt(hl7.is_dtm, "a DTM timestamp (YYYY[MM[DD[hh[mm[ss]]]]], UTC)")
OID = _fmt(hl7.is_oid, "an OID")
CX = _fmt(lambda s: hl7.Cx.parse(s) is not None,
          "a CX identifier 'id^^^&OID&ISO' with an ISO assigning authority")
XCN = _fmt(hl7.xcn_is_valid, "an XCN person (id or family name; ISO authority in XCN.9)")
XON = _fmt(hl7.xon_is_valid, "an XON organisation (name in XON.1)")
HASH = _fmt(lambda s: bool(_HASH.fullmatch(s)), "a SHA-1 hash (40 hexadecimal digits)")
SIZE = _fmt(_is_size, f"a size in bytes (ASCII digits, at most {SIZE_MAX})")
LANGUAGE = _fmt(lambda s: bool(_LANGUAGE.fullmatch(s)), "an RFC 3066 language tag")
MIME = _fmt(lambda s: bool(_MIME.fullmatch(s)), "a MIME type 'type/subtype'")
DOCUMENT_UID = _fmt(hl7.is_document_unique_id,
                    "a document uniqueId (OID, optionally ^extension, at most 128 characters)")
OBJECT_TYPE = _fmt(lambda s: s in v.DOCUMENT_ENTRY_TYPES,
                   f"a DocumentEntry objectType ({v.DOC_STABLE} or {v.DOC_ON_DEMAND})")
UUID = _fmt(hl7.is_uuid_urn, "a urn:uuid: identifier")


def CODE(code: Code) -> str | None:
    if not code.code:
        return "has an empty code (nodeRepresentation)"
    if not code.scheme:
        return f"'{code.code}' has no codingScheme"
    return None


def CONFIDENTIALITY(code: Code) -> str | None:
    """A code, and a DMP visibility code only under TRE_A07 (model/visibility.py)."""
    return CODE(code) or visibility_problem(code.code, code.scheme)


@dataclass(frozen=True)
class AttributeRule:
    attribute: str       # model attribute
    name: str            # the IHE attribute name, as error messages say it
    need: Need
    check: Check | None = None


R, R2, OPT = Need.REQUIRED, Need.REQUIRED_IF_KNOWN, Need.OPTIONAL

DOCUMENT_RULES = (
    AttributeRule("entry_uuid", "entryUUID", R, UUID),
    AttributeRule("unique_id", "uniqueId", R, DOCUMENT_UID),
    AttributeRule("patient_id", "patientId", R, CX),
    AttributeRule("object_type", "objectType", R, OBJECT_TYPE),
    AttributeRule("mime_type", "mimeType", R, MIME),
    AttributeRule("class_code", "classCode", R, CODE),
    AttributeRule("type_code", "typeCode", R, CODE),
    AttributeRule("format_code", "formatCode", R, CODE),
    AttributeRule("healthcare_facility_type_code", "healthcareFacilityTypeCode", R, CODE),
    AttributeRule("practice_setting_code", "practiceSettingCode", R, CODE),
    AttributeRule("confidentiality_codes", "confidentialityCode", R, CONFIDENTIALITY),
    AttributeRule("event_codes", "eventCodeList", OPT, CODE),
    AttributeRule("creation_time", "creationTime", R, DTM),
    AttributeRule("service_start_time", "serviceStartTime", R2, DTM),
    AttributeRule("service_stop_time", "serviceStopTime", R2, DTM),
    AttributeRule("hash", "hash", R, HASH),
    AttributeRule("size", "size", R, SIZE),
    AttributeRule("language_code", "languageCode", R, LANGUAGE),
    AttributeRule("legal_authenticator", "legalAuthenticator", OPT, XCN),
    AttributeRule("repository_unique_id", "repositoryUniqueId", R, OID),
    AttributeRule("source_patient_id", "sourcePatientId", R, CX),
    AttributeRule("authors", "author", R2),
)
SUBMISSION_SET_RULES = (
    AttributeRule("entry_uuid", "entryUUID", R, UUID),
    AttributeRule("unique_id", "uniqueId", R, OID),
    AttributeRule("source_id", "sourceId", R, OID),
    AttributeRule("patient_id", "patientId", R, CX),
    AttributeRule("submission_time", "submissionTime", R, DTM),
    AttributeRule("content_type_code", "contentTypeCode", R, CODE),
    AttributeRule("authors", "author", R2),
)
FOLDER_RULES = (
    AttributeRule("entry_uuid", "entryUUID", R, UUID),
    AttributeRule("unique_id", "uniqueId", R, OID),
    AttributeRule("patient_id", "patientId", R, CX),
    AttributeRule("title", "title", R),
    AttributeRule("codes", "codeList", R, CODE),
    AttributeRule("last_update_time", "lastUpdateTime", OPT, DTM),
)
RULES_BY_KIND: dict[type, tuple[str, tuple[AttributeRule, ...]]] = {
    DocumentEntry: ("DocumentEntry", DOCUMENT_RULES),
    SubmissionSet: ("SubmissionSet", SUBMISSION_SET_RULES),
    Folder: ("Folder", FOLDER_RULES),
}
AUTHOR_CHECKS = (("person", "authorPerson", XCN), ("institutions", "authorInstitution", XON))


def _is_missing(value: Any) -> bool:
    return value is None or value == "" or value == []


def check_object(obj: RegistryObject, label: str,
                 skip: frozenset[str] = frozenset()) -> list[RegistryError]:
    """Every rule of the object's kind; `label` names the object as the source did."""
    kind, rules = RULES_BY_KIND[type(obj)]
    errors: list[RegistryError] = []
    for rule in rules:
        if rule.attribute in skip:
            continue
        value = getattr(obj, rule.attribute)
        where = f"{kind} {label}"
        if _is_missing(value):
            if rule.need is Need.REQUIRED:
                errors.append(error(META, f"{where}: {rule.name} is required but missing",
                                    f"{kind}.{rule.name}"))
            continue
        if rule.check is None:
            continue
        for item in value if isinstance(value, list) else [value]:
            problem = rule.check(item)
            if problem:
                errors.append(error(META, f"{where}: {rule.name} {problem}",
                                    f"{kind}.{rule.name}"))
    for author in getattr(obj, "authors", []):
        for attribute, name, check in AUTHOR_CHECKS:
            value = getattr(author, attribute)
            for item in value if isinstance(value, list) else [value] if value else []:
                problem = check(item)
                if problem:
                    errors.append(error(META, f"{kind} {label}: {name} {problem}",
                                        f"{kind}.author.{name}"))
    if obj.extra_slots:
        names = ", ".join(sorted(obj.extra_slots))
        errors.append(warning(ErrorCode.EXTRA_METADATA_NOT_SAVED,
                              f"{kind} {label}: slot(s) {names} are not XDS metadata this registry "
                              "keeps; they were not saved", f"{kind}.Slot"))
    return errors


def check_submission_objects(submission: Submission,
                             skip: frozenset[str] = frozenset()) -> list[RegistryError]:
    errors: list[RegistryError] = []
    objects: list[RegistryObject] = [*submission.documents, *submission.folders]
    if submission.submission_set is not None:
        objects.insert(0, submission.submission_set)
    for obj in objects:
        errors += check_object(obj, submission.source_name(obj.entry_uuid), skip)
    return errors
