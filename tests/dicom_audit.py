"""The DICOM PS3.15 A.5.1 audit message schema's rules, as tables, and the ITI TF-2 additions a
receiver checks (ITI-18's ParticipantObjectQuery): `problems(message)` lists what a schema
validator would refuse. Written from the schema (no copy of it is in ../shared/reference): the
children of each element in order with their counts, the required attributes, the coded value
form (csd-code, codeSystemName, originalText), and the enumerations."""

from __future__ import annotations

import base64

from lxml import etree

MANY = 10 ** 9
# element → its children, in schema order: (name, least, most)
CHILDREN: dict[str, tuple[tuple[str, int, int], ...]] = {
    "AuditMessage": (("EventIdentification", 1, 1), ("ActiveParticipant", 1, MANY),
                     ("AuditSourceIdentification", 1, 1),
                     ("ParticipantObjectIdentification", 0, MANY)),
    "EventIdentification": (("EventID", 1, 1), ("EventTypeCode", 0, MANY),
                            ("EventOutcomeDescription", 0, 1), ("PurposeOfUse", 0, MANY)),
    "ActiveParticipant": (("RoleIDCode", 0, MANY), ("MediaIdentifier", 0, 1)),
    "AuditSourceIdentification": (("AuditSourceTypeCode", 0, MANY),),
    # ParticipantObjectName and ParticipantObjectQuery are a choice: at most one of them
    "ParticipantObjectIdentification": (
        ("ParticipantObjectIDTypeCode", 1, 1), ("ParticipantObjectName", 0, 1),
        ("ParticipantObjectQuery", 0, 1), ("ParticipantObjectDetail", 0, MANY),
        ("ParticipantObjectDescription", 0, MANY)),
}
REQUIRED: dict[str, tuple[str, ...]] = {
    "EventIdentification": ("EventDateTime", "EventOutcomeIndicator"),
    "ActiveParticipant": ("UserID", "UserIsRequestor"),
    "AuditSourceIdentification": ("AuditSourceID",),
    "ParticipantObjectIdentification": ("ParticipantObjectID",),
    "ParticipantObjectDetail": ("type", "value"),
}
CODED = {"EventID", "EventTypeCode", "PurposeOfUse", "RoleIDCode", "AuditSourceTypeCode",
         "ParticipantObjectIDTypeCode"}
CODED_ATTRIBUTES = ("csd-code", "codeSystemName", "originalText")
ENUMERATIONS: dict[tuple[str, str], set[str]] = {
    ("EventIdentification", "EventActionCode"): {"C", "R", "U", "D", "E"},
    ("EventIdentification", "EventOutcomeIndicator"): {"0", "4", "8", "12"},
    ("ActiveParticipant", "UserIsRequestor"): {"true", "false"},
    ("ActiveParticipant", "NetworkAccessPointTypeCode"): {"1", "2", "3", "4", "5"},
    ("ParticipantObjectIdentification", "ParticipantObjectTypeCode"): {"1", "2", "3", "4"},
    ("ParticipantObjectIdentification", "ParticipantObjectTypeCodeRole"):
        {str(n) for n in range(1, 25)},
}
ADHOC_QUERY = "{urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0}AdhocQuery"


def problems(message: etree._Element) -> list[str]:
    found: list[str] = []
    _check(message, "AuditMessage", found)
    for query in message.xpath("ParticipantObjectIdentification"
                               "[@ParticipantObjectTypeCodeRole='24']"):
        found += _query_problems(query)
    return found


def _check(element: etree._Element, path: str, found: list[str]) -> None:
    name = element.tag
    for attribute in REQUIRED.get(name, ()):
        if not element.get(attribute):
            found.append(f"{path}: no @{attribute}")
    for (owner, attribute), allowed in ENUMERATIONS.items():
        if owner == name and element.get(attribute) is not None and \
                element.get(attribute) not in allowed:
            found.append(f"{path}/@{attribute}={element.get(attribute)!r} not in {allowed}")
    if name in CODED:
        missing = [a for a in CODED_ATTRIBUTES if not element.get(a)]
        if missing:
            found.append(f"{path}: coded value without {', '.join(missing)}")
    if name in CHILDREN:
        _check_children(element, path, found)
    for child in element:
        _check(child, f"{path}/{child.tag}", found)


def _check_children(element: etree._Element, path: str, found: list[str]) -> None:
    rules = CHILDREN[element.tag]
    order = [rule[0] for rule in rules]
    tags = [child.tag for child in element]
    unknown = [tag for tag in tags if tag not in order]
    if unknown:
        found.append(f"{path}: unexpected {unknown}")
    positions = [order.index(tag) for tag in tags if tag in order]
    if positions != sorted(positions):
        found.append(f"{path}: children out of schema order {tags}")
    for child, least, most in rules:
        count = tags.count(child)
        if not least <= count <= most:
            found.append(f"{path}: {count} {child}, the schema wants {least}..{most}")
    if "ParticipantObjectName" in tags and "ParticipantObjectQuery" in tags:
        found.append(f"{path}: both ParticipantObjectName and ParticipantObjectQuery")


def _query_problems(query: etree._Element) -> list[str]:
    """ITI TF-2a 3.18.5.1.2: the query object holds the AdhocQueryRequest, base64."""
    text = query.findtext("ParticipantObjectQuery")
    if not text:
        return ["ITI-18 query object: no ParticipantObjectQuery"]
    try:
        request = etree.fromstring(base64.b64decode(text, validate=True))
    except (ValueError, etree.XMLSyntaxError) as exc:
        return [f"ITI-18 ParticipantObjectQuery is not a base64 XML request: {exc}"]
    adhoc = request.find(ADHOC_QUERY)
    if not request.tag.endswith("}AdhocQueryRequest") or adhoc is None:
        return ["ITI-18 ParticipantObjectQuery is not an AdhocQueryRequest"]
    if adhoc.get("id") != query.get("ParticipantObjectID"):
        return [f"ITI-18 ParticipantObjectQuery asks {adhoc.get('id')}, the object names "
                f"{query.get('ParticipantObjectID')}"]
    return []
