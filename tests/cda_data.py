"""CDA fixtures for the tests: the ANS samples (read from ../shared/reference), mutations of
their header, and an installed copy of the ANS kit."""

from __future__ import annotations

from pathlib import Path

from lxml import etree

from .conftest import REFERENCE

ANS_SAMPLES = REFERENCE / "cda-samples" / "ans-ci-sis"
LEVEL1 = ANS_SAMPLES / "DOC_NON_STRUCTURE_CDA-R2-N1.xml"
CR_BIO = ANS_SAMPLES / "BIO-CR-BIO_2024.01_TSH_1.xml"
ANS_KIT = REFERENCE / "ans-kit"
HL7 = "urn:hl7-org:v3"
NS = {"h": HL7}
TEST_INS = "279035121518989^^^&1.2.250.1.213.1.4.10&ISO^NH"


def mutate(path: Path, *edits) -> bytes:
    """The document after each edit (a function of the root element)."""
    root = etree.parse(str(path)).getroot()
    for edit in edits:
        edit(root)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def remove(xpath: str):
    def edit(root):
        for element in root.xpath(xpath, namespaces=NS):
            element.getparent().remove(element)

    return edit


def set_attribute(xpath: str, name: str, value: str):
    def edit(root):
        for element in root.xpath(xpath, namespaces=NS):
            element.set(name, value)

    return edit


def set_text(xpath: str, value: str):
    def edit(root):
        for element in root.xpath(xpath, namespaces=NS):
            element.text = value

    return edit


def remove_attribute(xpath: str, name: str):
    def edit(root):
        for element in root.xpath(xpath, namespaces=NS):
            element.attrib.pop(name, None)

    return edit
