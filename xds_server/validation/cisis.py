"""The `cisis` profile: the French rules of the CI-SIS "Partage de documents de santé" on top of
the IHE ones — required attributes, value sets (JDV), INS patient ids, national ids of
professionals and structures, typeCode ⇄ classCode (ASS_X16). Rules are tables; the checks
only walk them. Every message names the object, the attribute, the value and the rule.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from ..model import hl7
from ..model.errors import ErrorCode, RegistryError, error
from ..model.french_ids import (
    INS_PRODUCTION,
    INS_TEST,
    PS_NATIONAL_ID,
    STRUCTURE_NATIONAL_ID,
    ins_problem,
)
from ..model.metadata import Code, DocumentEntry, Folder, RegistryObject, Submission, SubmissionSet
from ..model.signature_entry import claims_to_be_signature
from ..model.vocabulary import VISIBILITY_CODES, VISIBILITY_SYSTEM
from ..valuesets import ValueSets

META = ErrorCode.REGISTRY_METADATA_ERROR
CONFIDENTIALITY_HL7 = "2.16.840.1.113883.5.25"
# normal, restricted, very restricted (a set: a substring test would take "NR" or "")
CONFIDENTIALITY_LEVELS = frozenset({"N", "R", "V"})
LANGUAGE = "fr-FR"

# SubmissionSet.contentTypeCode (JDV_J03): the complete value set is not published as a file;
# its code systems are: TRE_R209 TypeActivite, TRE_R02 SecteurActivite, TRE_A00 (EXP_PATIENT).
CONTENT_TYPE_SYSTEMS = {"1.2.250.1.213.2.2": "TRE_R209 TypeActivite",
                        "1.2.250.1.71.4.2.4": "TRE_R02 SecteurActivite",
                        "1.2.250.1.213.1.1.4.6": "TRE_A00"}


@dataclass(frozen=True)
class CodeRule:
    kind: type
    attribute: str
    name: str
    value_set: str


CODE_RULES = (
    CodeRule(DocumentEntry, "class_code", "classCode", "J06"),
    CodeRule(DocumentEntry, "type_code", "typeCode", "J07"),
    CodeRule(DocumentEntry, "format_code", "formatCode", "J10"),
    CodeRule(DocumentEntry, "healthcare_facility_type_code", "healthcareFacilityTypeCode", "J02"),
    CodeRule(DocumentEntry, "practice_setting_code", "practiceSettingCode", "J04"),
)
# checked for a signature document by dsig/metadata.py (DSG and the DMP fix them: the
# classCode URN and the formatCode xmldsig# are in no CI-SIS value set); its language is 'art'
SIGNATURE_ATTRIBUTES = frozenset({"class_code", "type_code", "format_code"})
REQUIRED = (  # required in France, optional or R2 in IHE
    (DocumentEntry, "title", "title"),
    (DocumentEntry, "legal_authenticator", "legalAuthenticator"),
    (DocumentEntry, "service_start_time", "serviceStartTime"),
)
KIND_NAMES = {DocumentEntry: "DocumentEntry", SubmissionSet: "SubmissionSet", Folder: "Folder"}


@dataclass
class CisisRules:
    value_sets: ValueSets
    accept_test_ins: bool = False

    def check(self, submission: Submission) -> list[RegistryError]:
        objects: list[RegistryObject] = [*submission.documents, *submission.folders]
        if submission.submission_set is not None:
            objects.insert(0, submission.submission_set)
        errors: list[RegistryError] = []
        for obj in objects:
            label = f"{KIND_NAMES[type(obj)]} {submission.source_name(obj.entry_uuid)}"
            for check in self.CHECKS:
                errors += [error(code, f"{label}: {message}", f"{KIND_NAMES[type(obj)]}.{field}")
                           for code, field, message in check(self, obj)]
        return errors

    # --- the checks: each yields (code, field, message) ----------------------------------------

    def _required(self, obj: RegistryObject) -> Iterator[tuple[ErrorCode, str, str]]:
        for kind, attribute, name in REQUIRED:
            if isinstance(obj, kind) and not getattr(obj, attribute):
                yield META, name, f"{name} is required by the CI-SIS but missing"

    def _patient(self, obj: RegistryObject) -> Iterator[tuple[ErrorCode, str, str]]:
        cx = hl7.Cx.parse(obj.patient_id) if obj.patient_id else None
        if cx is None:
            return  # the IHE rules already said it
        problem = ins_problem(cx.id, cx.authority_oid, self.accept_test_ins)
        if problem:
            yield META, "patientId", f"patientId '{obj.patient_id}' is not an INS: {problem}"

    def _codes(self, obj: RegistryObject) -> Iterator[tuple[ErrorCode, str, str]]:
        signature = isinstance(obj, DocumentEntry) and claims_to_be_signature(obj)
        for rule in CODE_RULES:
            if signature and rule.attribute in SIGNATURE_ATTRIBUTES:
                continue    # a signature document's codes are IHE DSG's (dsig/metadata.py)
            code = getattr(obj, rule.attribute, None) if isinstance(obj, rule.kind) else None
            if code is not None and (code.code, code.scheme) not in self.value_sets[rule.value_set]:
                yield META, rule.name, self._not_in(rule.name, code, rule.value_set)

    def _not_in(self, name: str, code: Code, value_set: str) -> str:
        return (f"{name} '{code.code}' (codingScheme {code.scheme}) is not in "
                f"{self.value_sets[value_set].describe()}")

    def _type_class(self, obj: RegistryObject) -> Iterator[tuple[ErrorCode, str, str]]:
        if not isinstance(obj, DocumentEntry) or obj.type_code is None or obj.class_code is None:
            return
        expected = self.value_sets.type_to_class.get(obj.type_code.query_form)
        if expected is not None and expected != obj.class_code.query_form:
            yield META, "classCode", (
                f"classCode '{obj.class_code.query_form}' does not go with typeCode "
                f"'{obj.type_code.query_form}': the DMP correspondence ASS_X16 gives "
                f"'{expected}'")

    def _confidentiality(self, obj: RegistryObject) -> Iterator[tuple[ErrorCode, str, str]]:
        if not isinstance(obj, DocumentEntry) or not obj.confidentiality_codes:
            return
        levels = []
        for code in obj.confidentiality_codes:
            if code.scheme == VISIBILITY_SYSTEM and code.code in VISIBILITY_CODES:
                continue
            if (code.code, code.scheme) in self.value_sets["J08"] \
                    and code.scheme == CONFIDENTIALITY_HL7 and code.code in CONFIDENTIALITY_LEVELS:
                levels.append(code.code)
                continue
            yield META, "confidentialityCode", (
                f"confidentialityCode '{code.code}' (codingScheme {code.scheme}) is neither N, R "
                f"or V of {CONFIDENTIALITY_HL7} nor a DMP visibility code "
                f"({', '.join(sorted(VISIBILITY_CODES))} of {VISIBILITY_SYSTEM})")
        if len(levels) != 1:
            yield META, "confidentialityCode", (
                f"exactly one confidentiality level (N, R or V) is required; found "
                f"{len(levels)}{': ' + ', '.join(levels) if levels else ''}")

    def _language(self, obj: RegistryObject) -> Iterator[tuple[ErrorCode, str, str]]:
        if isinstance(obj, DocumentEntry) and obj.language_code \
                and obj.language_code != LANGUAGE and not claims_to_be_signature(obj):
            yield META, "languageCode", f"languageCode '{obj.language_code}' must be {LANGUAGE}"

    def _content_type(self, obj: RegistryObject) -> Iterator[tuple[ErrorCode, str, str]]:
        code = obj.content_type_code if isinstance(obj, SubmissionSet) else None
        if code is not None and code.scheme not in CONTENT_TYPE_SYSTEMS:
            yield META, "contentTypeCode", (
                f"contentTypeCode '{code.code}' has codingScheme {code.scheme}, not one of the "
                "JDV_J03 code systems (" + ", ".join(f"{oid} {name}" for oid, name in
                                                     CONTENT_TYPE_SYSTEMS.items()) + ")")

    def _people(self, obj: RegistryObject) -> Iterator[tuple[ErrorCode, str, str]]:
        people = [("author.authorPerson", a.person) for a in getattr(obj, "authors", [])
                  if a.person]
        legal = getattr(obj, "legal_authenticator", None)
        if legal:
            people.append(("legalAuthenticator", legal))
        for field_name, xcn in people:
            problem = _national_person_problem(xcn)
            if problem:
                yield META, field_name, f"{field_name} '{xcn}': {problem}"
        for author in getattr(obj, "authors", []):
            for xon in author.institutions:
                problem = _national_structure_problem(xon)
                if problem:
                    yield META, "author.authorInstitution", \
                        f"authorInstitution '{xon}': {problem}"
            for specialty in author.specialties:
                parts = specialty.split("^")
                pair = (parts[0], parts[2] if len(parts) > 2 else "")
                if pair not in self.value_sets["J01"]:
                    yield META, "author.authorSpecialty", (
                        f"authorSpecialty '{specialty}' is not in "
                        f"{self.value_sets['J01'].describe()} (form code^display^codingScheme)")

    CHECKS: tuple[Callable[[CisisRules, RegistryObject],
                           Iterator[tuple[ErrorCode, str, str]]], ...] = (
        _required, _patient, _codes, _type_class, _confidentiality, _language, _content_type,
        _people)


def _authority(component: str) -> str:
    parts = component.split("&")
    return parts[1] if len(parts) > 1 else ""


def _national_person_problem(xcn: str) -> str | None:
    """An identified person carries a national id (idNat_PS) or, for the patient, an INS."""
    parts = xcn.split("^")
    if not parts[0]:
        return None  # a name without id: allowed by XCN, nothing to check
    authority = _authority(parts[8]) if len(parts) > 8 else ""
    if authority not in {PS_NATIONAL_ID, *INS_PRODUCTION, *INS_TEST}:
        return (f"the id '{parts[0]}' must be a national identifier: XCN.9 assigning authority "
                f"&{PS_NATIONAL_ID}&ISO (idNat_PS), or an INS for the patient; found "
                f"'{parts[8] if len(parts) > 8 else ''}'")
    return None


def _national_structure_problem(xon: str) -> str | None:
    parts = xon.split("^")
    identifier = parts[9] if len(parts) > 9 else ""
    if not identifier:
        return None
    authority = _authority(parts[5]) if len(parts) > 5 else ""
    if authority != STRUCTURE_NATIONAL_ID:
        return (f"the structure id '{identifier}' (XON.10) needs XON.6 = "
                f"&{STRUCTURE_NATIONAL_ID}&ISO (idNat_Struct); found "
                f"'{parts[5] if len(parts) > 5 else ''}'")
    return None
