"""A reproducible corpus of broken CDA documents for the differential schema test: each mutant is
a real document with one defect of a kind integrators actually produce (an element dropped, two
elements swapped, a malformed value, an unknown element, a wrong namespace, a wrong xsi:type).
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from lxml import etree

HL7 = "urn:hl7-org:v3"
XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"

# values that break the data type of the attribute they land on (and a few that do not, so the
# corpus also holds mutants both schemas must accept)
BAD_VALUES = {
    "value": ["2023-01-05", "20231301", "abc", "1.5.2", "", "12 3", "true", "1e3", "-4"],
    "root": ["1.2.250.x", "not an oid", "", "0.", "3.1.2", "1..2", "A1-b"],
    "extension": [""],
    "code": ["", "a b", " x ", "X"],
    "codeSystem": ["LOINC", "2.16.840.1.113883.6.1 ", ""],
    "nullFlavor": ["FOO", "unk", "NI"],
    "use": ["XX", "H WP", "", "h"],
    "classCode": ["XYZ", "", "OBS", "DOCCLIN"],
    "moodCode": ["XYZ", "EVN", "evn"],
    "typeCode": ["XYZ", "COMP", "RPLC"],
    "determinerCode": ["KIND", "XYZ"],
    "representation": ["HEX", "B64"],
    "mediaType": ["", "text/plain"],
    "inclusive": ["yes", "1"],
    "negationInd": ["maybe", "false"],
    "unit": ["", "mg / dl"],
    "contextConductionInd": ["false", "x"],
    "operator": ["Z", "A"],
    "partType": ["ZZZ"],
    "qualifier": ["ZZ", "BR"],
}
XSI_TYPES = ["PQ", "CD", "CE", "ST", "TS", "IVL_TS", "INT", "FOO", "hl7:BL", "ED", "RTO_PQ_PQ"]
OTHER_NAMESPACES = ["urn:hl7-org:sdtc", "urn:oid:1.3.6.1.4.1.19376.1.3.2",
                    "urn:ihe:pharm:medication", "urn:example:other", ""]


@dataclass(frozen=True)
class Mutant:
    source: str
    kind: str
    description: str
    document: bytes


def _elements(root: etree._Element) -> list[etree._Element]:
    return [e for e in root.iter() if isinstance(e.tag, str) and e is not root]


def _path(element: etree._Element) -> str:
    return element.getroottree().getpath(element)


def remove_element(root: etree._Element, rng: random.Random) -> str | None:
    element = rng.choice(_elements(root))
    description = f"removed {_path(element)}"
    element.getparent().remove(element)
    return description


def swap_siblings(root: etree._Element, rng: random.Random) -> str | None:
    pairs = [e for e in _elements(root)
             if (n := e.getnext()) is not None and isinstance(n.tag, str) and n.tag != e.tag]
    if not pairs:
        return None
    element = rng.choice(pairs)
    following = element.getnext()
    description = (f"swapped {_path(element)} and its next sibling "
                   f"{etree.QName(following).localname}")
    element.addprevious(following)
    return description


def bad_value(root: etree._Element, rng: random.Random) -> str | None:
    candidates = [(e, a) for e in root.iter() if isinstance(e.tag, str)
                  for a in e.attrib if a in BAD_VALUES]
    if not candidates:
        return None
    element, attribute = rng.choice(candidates)
    value = rng.choice(BAD_VALUES[attribute])
    element.set(attribute, value)
    return f"{_path(element)}/@{attribute}={value!r}"


def unknown_element(root: etree._Element, rng: random.Random) -> str | None:
    parent = rng.choice([root, *_elements(root)])
    namespace = rng.choice([HL7, HL7, "urn:example:other", ""])
    tag = f"{{{namespace}}}unexpected" if namespace else "unexpected"
    parent.insert(rng.randint(0, len(parent)), etree.Element(tag))
    return f"added {tag} under {_path(parent)}"


def wrong_namespace(root: etree._Element, rng: random.Random) -> str | None:
    element = rng.choice(_elements(root))
    namespace = rng.choice(OTHER_NAMESPACES)
    local = etree.QName(element).localname
    description = f"moved {_path(element)} to namespace {namespace!r}"
    element.tag = f"{{{namespace}}}{local}" if namespace else local
    return description


def duplicate_element(root: etree._Element, rng: random.Random) -> str | None:
    element = rng.choice(_elements(root))
    element.addnext(copy.deepcopy(element))
    return f"duplicated {_path(element)}"


def remove_attribute(root: etree._Element, rng: random.Random) -> str | None:
    candidates = [(e, a) for e in root.iter() if isinstance(e.tag, str) for a in e.attrib]
    if not candidates:
        return None
    element, attribute = rng.choice(candidates)
    del element.attrib[attribute]
    return f"removed {_path(element)}/@{attribute}"


def change_xsi_type(root: etree._Element, rng: random.Random) -> str | None:
    candidates = [e for e in root.iter() if isinstance(e.tag, str)
                  and (XSI_TYPE in e.attrib or etree.QName(e).localname in
                       ("value", "effectiveTime", "code", "quantity", "doseQuantity"))]
    if not candidates:
        return None
    element = rng.choice(candidates)
    new_type = rng.choice(XSI_TYPES)
    element.set(XSI_TYPE, new_type)
    if new_type.startswith("hl7:") and element.nsmap.get("hl7") != HL7:
        element.set(XSI_TYPE, new_type.split(":")[1])
    return f"{_path(element)} xsi:type={new_type}"


MUTATIONS: dict[str, Callable[[etree._Element, random.Random], str | None]] = {
    "element removed": remove_element,
    "elements reordered": swap_siblings,
    "bad data type value": bad_value,
    "unknown element": unknown_element,
    "wrong namespace": wrong_namespace,
    "element duplicated": duplicate_element,
    "attribute removed": remove_attribute,
    "xsi:type changed": change_xsi_type,
}


def mutants(documents: dict[str, bytes], per_kind: int, seed: int = 2026) -> Iterator[Mutant]:
    """`per_kind` mutants of each kind, spread over the documents; the same seed gives the
    same corpus, so a disagreement found in CI can be replayed."""
    rng = random.Random(seed)
    names = sorted(documents)
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                             huge_tree=True)
    parsed = {name: etree.fromstring(documents[name], parser) for name in names}
    for kind, mutate in MUTATIONS.items():
        made = 0
        while made < per_kind:
            name = names[rng.randrange(len(names))]
            root = copy.deepcopy(parsed[name])
            description = mutate(root, rng)
            if description is None:
                continue
            made += 1
            yield Mutant(name, kind, description, etree.tostring(root))
