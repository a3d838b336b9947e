"""The CI-SIS header rules (the project's own code, after the ANS "structuration minimale"
rules and the CI-SIS CDA header guide), as a table: each rule has an id, what it requires, and
a check that returns the places where the document breaks it.

A check gets the document root, its read header and the context (which INS OIDs are
accepted); it yields (message, element-or-xpath) pairs.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from lxml import etree

from ..model.french_ids import INS_PRODUCTION, INS_TEST, PS_NATIONAL_ID, ins_problem
from .document import NS, xpath_of
from .findings import Finding, Kind
from .header import CdaHeader, is_ts

CISIS_TEMPLATES = ("2.16.840.1.113883.2.8.2.1", "1.2.250.1.213.1.1.1.1")
LEVEL1_TEMPLATE = "1.3.6.1.4.1.19376.1.2.20"
CONFIDENTIALITY_SYSTEM = "2.16.840.1.113883.5.25"
HEADER_NULL_FLAVORS = frozenset({"UNK", "NASK", "ASKU", "NAV", "MSK"})
NON_XML_MEDIA_TYPES = ("application/pdf", "text/plain")
TELECOM_PREFIXES = ("tel", "fax", "mailto", "http", "ftp", "mllp")
_LANGUAGE = re.compile(r"[a-z]{2}-[A-Z]{2}")


@dataclass(frozen=True)
class RuleContext:
    accept_test_ins: bool = False


Problem = tuple[str, "etree._Element | str"]
Check = Callable[[etree._Element, CdaHeader, RuleContext], Iterator[Problem]]


@dataclass(frozen=True)
class HeaderRule:
    id: str
    requires: str
    check: Check


def _all(root: etree._Element, path: str) -> list[etree._Element]:
    return root.xpath(path, namespaces=NS)


def _required(path: str, what: str, count: str = "1") -> Check:
    """`path` must match exactly once ("1") or at least once ("1..*")."""

    def check(root: etree._Element, header: CdaHeader, ctx: RuleContext) -> Iterator[Problem]:
        found = _all(root, path)
        if not found:
            yield f"{what} is missing", f"/ClinicalDocument/{path.replace('h:', '')}"
        elif count == "1" and len(found) > 1:
            yield f"{what} appears {len(found)} times; exactly one is allowed", found[1]

    return check


def _realm(root, header, ctx):
    if not _all(root, "h:realmCode[@code='FR']"):
        yield "realmCode/@code must be 'FR'", "/ClinicalDocument/realmCode"


def _type_id(root, header, ctx):
    if not _all(root, "h:typeId[@root='2.16.840.1.113883.1.3' and @extension='POCD_HD000040']"):
        yield ("typeId must be root='2.16.840.1.113883.1.3' extension='POCD_HD000040'",
               "/ClinicalDocument/typeId")


def _templates(root, header, ctx):
    for template in CISIS_TEMPLATES:
        if template not in header.template_ids:
            yield f"templateId {template} (CI-SIS) is missing", "/ClinicalDocument/templateId"
    if header.body_media_type is not None:
        expected = {*CISIS_TEMPLATES, LEVEL1_TEMPLATE}
        if set(header.template_ids) != expected or len(header.template_ids) != 3:
            yield (f"a level-1 document (nonXMLBody) has exactly the templateIds "
                   f"{', '.join(sorted(expected))}; found {', '.join(header.template_ids)}",
                   "/ClinicalDocument/templateId")


def _identifier(root, header, ctx):
    element = root.find("h:id", NS)
    if element is None or not element.get("root"):
        yield "id/@root (the document's unique id) is missing", "/ClinicalDocument/id"


def _code(root, header, ctx):
    if header.code is None or not header.code.system:
        yield "code needs @code and @codeSystem (the XDS typeCode)", "/ClinicalDocument/code"


def _effective_time(root, header, ctx):
    if not is_ts(header.effective_time) or len(header.effective_time) < 8:
        yield (f"effectiveTime/@value '{header.effective_time}' is not a date-time "
               "(YYYYMMDD[hhmm[ss]][+zzzz])", "/ClinicalDocument/effectiveTime")


# normal, restricted, very restricted (a set: a substring test would take "NR" or "")
CONFIDENTIALITY_LEVELS = frozenset({"N", "R", "V"})


def _confidentiality(root, header, ctx):
    code = header.confidentiality
    if code is None or code.system != CONFIDENTIALITY_SYSTEM or \
            code.code not in CONFIDENTIALITY_LEVELS:
        yield (f"confidentialityCode must be N, R or V of {CONFIDENTIALITY_SYSTEM}",
               "/ClinicalDocument/confidentialityCode")


def _language(root, header, ctx):
    if not _LANGUAGE.fullmatch(header.language):
        yield (f"languageCode/@code '{header.language}' is not of the form xx-XX (fr-FR)",
               "/ClinicalDocument/languageCode")


def _patient(root, header, ctx):
    roles = _all(root, "h:recordTarget/h:patientRole")
    if len(roles) != 1:
        return
    accepted = INS_PRODUCTION | (INS_TEST if ctx.accept_test_ins else frozenset())
    ins = [i for i in header.patient_ids if i.root in INS_PRODUCTION | INS_TEST]
    if not ins:
        yield ("recordTarget/patientRole has no INS id (root "
               f"{' or '.join(sorted(INS_PRODUCTION))})", roles[0])
        return
    for identifier in ins:
        problem = ins_problem(identifier.extension, identifier.root, ctx.accept_test_ins)
        if problem:
            yield f"INS: {problem}", roles[0]
    if not any(i.root in accepted for i in ins):
        return
    patient = roles[0].find("h:patient", NS)
    traits = (("h:name/h:family[@qualifier='BR']", "the birth family name (family BR)"),
              ("h:name/h:given[@qualifier='BR']", "the first given name at birth (given BR)"),
              ("h:administrativeGenderCode[@code]", "administrativeGenderCode"),
              ("h:birthTime[@value]", "birthTime"),
              ("h:birthplace/h:place/h:addr/h:county", "the birthplace code (birthplace/place/"
                                                       "addr/county)"))
    for path, what in traits:
        if patient is None or not _all(patient, path):
            yield f"an INS patient needs its identity traits: {what} is missing", roles[0]


def _authors(root, header, ctx):
    for author in _all(root, "h:author"):
        assigned = author.find("h:assignedAuthor", NS)
        if author.find("h:time", NS) is None:
            yield "author/time is missing", author
        if assigned is None or not _all(assigned, "h:id[@root or @nullFlavor]"):
            yield "author/assignedAuthor/id is missing", author
        elif not _all(assigned, "h:assignedPerson | h:assignedAuthoringDevice"):
            yield "author/assignedAuthor needs assignedPerson or assignedAuthoringDevice", assigned


def _person_id(path: str, what: str) -> Check:
    def check(root, header, ctx):
        for entity in _all(root, path):
            roots = {i.get("root") for i in entity.findall("h:id", NS)}
            if not roots & {PS_NATIONAL_ID, *INS_PRODUCTION, *INS_TEST}:
                yield (f"{what} has no national identifier (id/@root {PS_NATIONAL_ID} for a "
                       "professional, an INS for the patient)", entity)

    return check


def _legal_authenticator(root, header, ctx):
    for legal in _all(root, "h:legalAuthenticator"):
        if not _all(legal, "h:time[@value]"):
            yield "legalAuthenticator/time is missing", legal
        if not _all(legal, "h:signatureCode[@code='S']"):
            yield "legalAuthenticator/signatureCode/@code must be 'S'", legal


def _service_event(root, header, ctx):
    if _all(root, "h:documentationOf/h:serviceEvent") and not header.service_starts \
            and not _all(root, "h:documentationOf/h:serviceEvent/h:effectiveTime[@value]"):
        yield ("no documentationOf/serviceEvent has an effectiveTime (the XDS "
               "serviceStartTime)", "/ClinicalDocument/documentationOf")


def _related_document(root, header, ctx):
    related = _all(root, "h:relatedDocument")
    if len(related) > 1:
        yield "at most one relatedDocument is allowed", related[1]
    for element in related:
        if element.get("typeCode") == "RPLC" and not _all(element, "h:parentDocument/h:id"):
            yield "relatedDocument RPLC needs parentDocument/id (the replaced document)", element


def _encounter(root, header, ctx):
    for encounter in _all(root, "h:componentOf/h:encompassingEncounter"):
        if encounter.find("h:effectiveTime", NS) is None:
            yield "encompassingEncounter/effectiveTime is missing", encounter
        if header.facility_code is None and not _all(
                encounter, "h:location/h:healthCareFacility/h:code[@nullFlavor]"):
            yield ("encompassingEncounter/location/healthCareFacility/code is missing (the XDS "
                   "healthcareFacilityTypeCode)", encounter)


def _telecoms(root, header, ctx):
    """Header telecoms are `prefix:value` (tel, fax, mailto, http, ftp, mllp) or carry one of
    the header nullFlavors (the ANS "CI-SISTelecom" rule)."""
    for telecom in _all(root, "*[not(self::h:component)]/descendant-or-self::h:telecom"):
        flavor = telecom.get("nullFlavor")
        if flavor is not None:
            if flavor not in HEADER_NULL_FLAVORS:
                yield (f"telecom nullFlavor '{flavor}' is not allowed "
                       f"({', '.join(sorted(HEADER_NULL_FLAVORS))})", telecom)
            continue
        prefix, _, rest = (telecom.get("value") or "").partition(":")
        if prefix not in TELECOM_PREFIXES or not rest:
            yield (f"telecom/@value '{telecom.get('value', '')}' is not prefix:value with a "
                   f"prefix among {', '.join(TELECOM_PREFIXES)}", telecom)


def _non_xml_body(root, header, ctx):
    text = root.find("h:component/h:nonXMLBody/h:text", NS)
    if text is None:
        return
    media = text.get("mediaType", "text/plain")
    if media not in NON_XML_MEDIA_TYPES:
        yield (f"nonXMLBody/text/@mediaType '{media}' is not allowed "
               f"({' or '.join(NON_XML_MEDIA_TYPES)}; convert images to PDF)", text)
    if text.get("representation") != "B64":
        yield "nonXMLBody/text/@representation must be 'B64'", text
        return
    try:
        content = base64.b64decode("".join((text.text or "").split()), validate=True)
    except (binascii.Error, ValueError):
        yield "nonXMLBody/text is not valid base64", text
        return
    if not content:
        yield "nonXMLBody/text is empty", text
    elif media == "application/pdf" and content.lstrip()[:5] != b"%PDF-":
        yield "nonXMLBody/text says application/pdf but its content is not a PDF", text


HEADER_RULES: tuple[HeaderRule, ...] = (
    HeaderRule("CI-SIS-REALM", "realmCode FR", _realm),
    HeaderRule("CI-SIS-TYPEID", "typeId POCD_HD000040", _type_id),
    HeaderRule("CI-SIS-TEMPLATES", "the CI-SIS templateIds", _templates),
    HeaderRule("CI-SIS-ID", "id", _identifier),
    HeaderRule("CI-SIS-CODE", "code", _code),
    HeaderRule("CI-SIS-TITLE", "title", _required("h:title[normalize-space()]", "title")),
    HeaderRule("CI-SIS-EFFECTIVETIME", "effectiveTime", _effective_time),
    HeaderRule("CI-SIS-CONFIDENTIALITY", "confidentialityCode N/R/V", _confidentiality),
    HeaderRule("CI-SIS-LANGUAGE", "languageCode xx-XX", _language),
    HeaderRule("CI-SIS-SETID", "setId", _required("h:setId[@root]", "setId")),
    HeaderRule("CI-SIS-VERSION", "versionNumber",
               _required("h:versionNumber[@value]", "versionNumber")),
    HeaderRule("CI-SIS-RECORDTARGET", "one recordTarget",
               _required("h:recordTarget/h:patientRole", "recordTarget/patientRole")),
    HeaderRule("CI-SIS-INS", "the patient's INS and identity traits", _patient),
    HeaderRule("CI-SIS-AUTHOR", "author(s)",
               _required("h:author", "author", "1..*")),
    HeaderRule("CI-SIS-AUTHOR-CONTENT", "author time, id, person or device", _authors),
    HeaderRule("CI-SIS-AUTHOR-ID", "national ids of authors",
               _person_id("h:author/h:assignedAuthor[h:assignedPerson]", "author")),
    HeaderRule("CI-SIS-CUSTODIAN", "custodian organisation id",
               _required("h:custodian/h:assignedCustodian/h:representedCustodianOrganization/"
                         "h:id", "custodian/…/representedCustodianOrganization/id")),
    HeaderRule("CI-SIS-LEGALAUTHENTICATOR", "one legalAuthenticator",
               _required("h:legalAuthenticator", "legalAuthenticator")),
    HeaderRule("CI-SIS-LEGALAUTHENTICATOR-CONTENT", "time, signatureCode S",
               _legal_authenticator),
    HeaderRule("CI-SIS-LEGALAUTHENTICATOR-ID", "national id of the legal authenticator",
               _person_id("h:legalAuthenticator/h:assignedEntity", "legalAuthenticator")),
    HeaderRule("CI-SIS-SERVICEEVENT", "documentationOf/serviceEvent",
               _required("h:documentationOf/h:serviceEvent", "documentationOf/serviceEvent",
                         "1..*")),
    HeaderRule("CI-SIS-SERVICEEVENT-TIME", "a service event time", _service_event),
    HeaderRule("CI-SIS-RELATEDDOCUMENT", "at most one relatedDocument", _related_document),
    HeaderRule("CI-SIS-ENCOUNTER", "componentOf/encompassingEncounter",
               _required("h:componentOf/h:encompassingEncounter",
                         "componentOf/encompassingEncounter")),
    HeaderRule("CI-SIS-ENCOUNTER-CONTENT", "encounter time and facility", _encounter),
    HeaderRule("CI-SIS-TELECOM", "telecom prefix:value or an allowed nullFlavor", _telecoms),
    HeaderRule("CI-SIS-NONXMLBODY", "level-1 body: PDF or text, base64", _non_xml_body),
)


def check_header(root: etree._Element, header: CdaHeader,
                 ctx: RuleContext) -> list[Finding]:
    findings = []
    for rule in HEADER_RULES:
        for message, where in rule.check(root, header, ctx):
            if isinstance(where, str):
                findings.append(Finding(Kind.HEADER, rule.id, message, where))
            else:
                findings.append(Finding(Kind.HEADER, rule.id, message, xpath_of(where),
                                        where.sourceline))
    return findings
