"""The CDA header fields XDS metadata is made of, read once into plain values.

Times are kept as the CDA wrote them (TS, with their zone) and converted to XDS DTM in UTC by
`to_dtm`: IHE and the CI-SIS map creationTime and the service times that way.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from lxml import etree

from .document import NS

_TS = re.compile(r"(\d{4}(?:\d{2}(?:\d{2}(?:\d{2}(?:\d{2}(?:\d{2})?)?)?)?)?)(\.\d+)?([+-]\d{4})?")


def to_dtm(ts: str | None) -> str | None:
    """CDA TS → XDS DTM in UTC, same precision; None when `ts` is not a TS."""
    if not ts:
        return None
    match = _TS.fullmatch(ts.strip())
    if match is None:
        return None
    digits, _, zone = match.groups()
    if zone and len(digits) >= 12:
        moment = dt.datetime.strptime(digits.ljust(14, "0"), "%Y%m%d%H%M%S")
        offset = dt.timedelta(hours=int(zone[1:3]), minutes=int(zone[3:5]))
        moment = moment - offset if zone[0] == "+" else moment + offset
        return moment.strftime("%Y%m%d%H%M%S")[:len(digits)]
    return digits


def is_ts(value: str | None) -> bool:
    return bool(value) and _TS.fullmatch(value.strip()) is not None


@dataclass(frozen=True)
class Identifier:
    root: str
    extension: str = ""

    def __str__(self) -> str:
        return f"{self.root}^{self.extension}" if self.extension else self.root


@dataclass(frozen=True)
class CodedValue:
    code: str
    system: str
    display: str = ""


@dataclass
class Person:
    """An author or legal authenticator: national id, name, speciality, organisation."""

    ids: list[Identifier]
    family: str = ""
    given: str = ""
    specialty: CodedValue | None = None
    function_display: str = ""
    organization_ids: list[Identifier] = field(default_factory=list)
    organization_name: str = ""
    is_device: bool = False


@dataclass
class CdaHeader:
    ids: list[Identifier]
    code: CodedValue | None
    title: str
    effective_time: str
    confidentiality: CodedValue | None
    language: str
    set_id: Identifier | None
    version: str
    template_ids: list[str]
    patient_ids: list[Identifier]
    authors: list[Person]
    legal_authenticator: Person | None
    service_starts: list[str]
    service_stops: list[str]
    facility_code: CodedValue | None
    practice_code: CodedValue | None
    replaces: list[Identifier]
    body_media_type: str | None     # nonXMLBody/text/@mediaType; None for a structured body

    @property
    def unique_id(self) -> str:
        return str(self.ids[0]) if self.ids else ""

    @property
    def service_start(self) -> str | None:
        times = sorted(t for t in (to_dtm(s) for s in self.service_starts) if t)
        return times[0] if times else None

    @property
    def service_stop(self) -> str | None:
        times = sorted(t for t in (to_dtm(s) for s in self.service_stops) if t)
        return times[-1] if times else None


def _ids(elements: list[etree._Element]) -> list[Identifier]:
    return [Identifier(e.get("root", ""), e.get("extension", "")) for e in elements
            if e.get("root")]


def _coded(element: etree._Element | None) -> CodedValue | None:
    if element is None or not element.get("code"):
        return None
    return CodedValue(element.get("code", ""), element.get("codeSystem", ""),
                      element.get("displayName", ""))


def _first(root: etree._Element, path: str) -> etree._Element | None:
    found = root.xpath(path, namespaces=NS)
    return found[0] if found else None


def _text(element: etree._Element | None) -> str:
    return " ".join("".join(element.itertext()).split()) if element is not None else ""


def _person(entity: etree._Element, person_path: str) -> Person:
    person = _first(entity, person_path)
    organization = _first(entity, "h:representedOrganization")
    return Person(
        ids=_ids(entity.findall("h:id", NS)),
        family=_text(_first(person, "h:name/h:family")) if person is not None else "",
        given=_text(_first(person, "h:name/h:given")) if person is not None else "",
        specialty=_coded(entity.find("h:code", NS)),
        organization_ids=_ids(organization.findall("h:id", NS))
        if organization is not None else [],
        organization_name=_text(_first(organization, "h:name"))
        if organization is not None else "",
        is_device=entity.find("h:assignedAuthoringDevice", NS) is not None)


def read_header(root: etree._Element) -> CdaHeader:
    authors = []
    for author in root.findall("h:author", NS):
        assigned = author.find("h:assignedAuthor", NS)
        if assigned is None:
            continue
        person = _person(assigned, "h:assignedPerson")
        function = author.find("h:functionCode", NS)
        person.function_display = function.get("displayName", "") if function is not None else ""
        authors.append(person)
    legal = _first(root, "h:legalAuthenticator/h:assignedEntity")
    body_text = _first(root, "h:component/h:nonXMLBody/h:text")
    effective = root.find("h:effectiveTime", NS)
    language = root.find("h:languageCode", NS)
    version = root.find("h:versionNumber", NS)
    set_ids = _ids(root.findall("h:setId", NS))
    return CdaHeader(
        ids=_ids(root.findall("h:id", NS)),
        code=_coded(root.find("h:code", NS)),
        title=_text(root.find("h:title", NS)),
        effective_time=effective.get("value", "") if effective is not None else "",
        confidentiality=_coded(root.find("h:confidentialityCode", NS)),
        language=language.get("code", "") if language is not None else "",
        set_id=set_ids[0] if set_ids else None,
        version=version.get("value", "") if version is not None else "",
        template_ids=[t.get("root", "") for t in root.findall("h:templateId", NS)],
        patient_ids=_ids(root.xpath("h:recordTarget/h:patientRole/h:id", namespaces=NS)),
        authors=authors,
        legal_authenticator=_person(legal, "h:assignedPerson") if legal is not None else None,
        service_starts=root.xpath("h:documentationOf/h:serviceEvent/h:effectiveTime/h:low/@value",
                                  namespaces=NS),
        service_stops=root.xpath(
            "h:documentationOf/h:serviceEvent/h:effectiveTime/h:high/@value", namespaces=NS),
        facility_code=_coded(_first(
            root, "h:componentOf/h:encompassingEncounter/h:location/h:healthCareFacility/h:code")),
        practice_code=_coded(_first(
            root, "h:documentationOf/h:serviceEvent/h:performer/h:assignedEntity/"
                  "h:representedOrganization/h:standardIndustryClassCode")),
        replaces=_ids(root.xpath("h:relatedDocument[@typeCode='RPLC']/h:parentDocument/h:id",
                                 namespaces=NS)),
        body_media_type=body_text.get("mediaType", "text/plain")
        if body_text is not None else None)
