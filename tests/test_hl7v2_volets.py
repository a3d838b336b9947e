"""Every CI-SIS volet the reference samples carry, sent over HL7 v2 (finding 5: a CR-IMG was
refused "formatCode is required"): each CDA of ../shared/reference/cda-samples/ans-ci-sis whose
volet ASS_A11 maps (cda/mapping_formats.py), or that is a level-1 document, goes in an ORU^R01
and in an MDM^T02 as a first transmission and is registered with the formatCode of the table;
a structured document of a volet outside the table is refused naming the document."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from xds_server.cda.document import NotCda, parse_cda
from xds_server.cda.header import read_header
from xds_server.cda.mapping import LEVEL1_FORMATS
from xds_server.cda.mapping_formats import TEMPLATE_FORMATS
from xds_server.ebxml.stored import model_object

from .conftest import REFERENCE
from .hl7v2_data import (
    ADT_CHU_Y,
    HL7,
    MDM_INIT,
    ORU_INIT,
    TEST_NIR,
    adt,
    hl7_setups,
    load,
    new_control_id,
    new_oid,
    nir,
    rewrite_cda,
    sender,
    senders_file,
    set_field,
    with_cda,
)

SAMPLES = REFERENCE / "cda-samples" / "ans-ci-sis"


def _header(path: Path):
    try:
        return read_header(parse_cda(path.read_bytes()))
    except NotCda:
        return None


def _volet(header) -> tuple[str, str] | None:
    if header.body_media_type is not None:
        media = LEVEL1_FORMATS.get(header.body_media_type)
        return (media, "level 1") if media else None
    return next((TEMPLATE_FORMATS[t] for t in header.template_ids if t in TEMPLATE_FORMATS),
                None)


HEADERS = {path.name: _header(path) for path in sorted(SAMPLES.glob("*.xml"))}
KNOWN = sorted(name for name, header in HEADERS.items() if header and _volet(header))
UNKNOWN = sorted(name for name, header in HEADERS.items() if header and not _volet(header))
# the samples' authors' organisations, and the PRT-8 ones of the ORU and MDM templates (for a
# document whose author names none)
ORGANISATIONS = sorted({i.extension for header in HEADERS.values() if header
                        for author in header.authors for i in author.organization_ids
                        if i.extension} | {"1120459876", "300017985"})


def test_the_samples_are_what_this_test_says():
    """CR-IMG among the known volets; what is outside the table is said (BIO-TROD has no
    ASS_A11 row yet)."""
    assert "IMG_CR_IMG_2024.01.xml" in KNOWN and len(KNOWN) >= 14
    assert UNKNOWN == ["BIO-TROD_2024.01_COVID-19.xml"]


@pytest.fixture
def volets(make_settings, database_url, tmp_path):
    table = senders_file(tmp_path, "".join([
        sender("SIL-Y", "labo", ("ORU",), tuple(ORGANISATIONS)),
        sender("RIS-Y", "Organisation-Y", ("MDM",), tuple(ORGANISATIONS)),
        ADT_CHU_Y,
    ]))
    with hl7_setups(make_settings, database_url) as make:
        yield make(mllp_senders=str(table))


def _for_patient(cda: bytes, ins: str, document_id: str) -> bytes:
    root = etree.fromstring(cda)
    root.find(f"{{{HL7}}}id").attrib.update({"root": document_id})
    root.find(f"{{{HL7}}}id").attrib.pop("extension", None)
    for ident in root.iterfind(f"{{{HL7}}}recordTarget/{{{HL7}}}patientRole/{{{HL7}}}id"):
        if ident.get("root", "").startswith("1.2.250.1.213.1.4."):
            ident.attrib.update({"root": TEST_NIR, "extension": ins})
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _message(template: Path, cda: bytes, ins: str) -> bytes:
    message = with_cda(load(template), cda)
    message = set_field(message, "PID", 3,
                        f"{ins}^^^ASIP-SANTE-INS-NIR&{TEST_NIR}&ISO^INS^^20101207")
    if b"TXA|" in message:
        message = set_field(message, "TXA", 12, "")
    return new_control_id(message)


@pytest.mark.parametrize("name", KNOWN)
def test_every_known_volet_is_registered_from_its_header(volets, name):
    ins = nir()
    assert volets.send(adt("A28", ins)).code == "AA"
    expected = _volet(HEADERS[name])
    for template in (ORU_INIT / "message_ORU_CR_Bio_INIT_N3_SEGUR.hl7",
                     MDM_INIT / "message_MDM_CR_Radio_INIT_N1_Base64.er7"):
        document_id = new_oid()
        cda = _for_patient((SAMPLES / name).read_bytes(), ins, document_id)
        status = "F"
        if HEADERS[name].replaces:     # a version 2 (relatedDocument RPLC): a replacement
            cda = rewrite_cda(cda, replaces=_first_version(volets, template, cda, ins))
            status = "C"
        ack = volets.send(set_field(_message(template, cda, ins), "OBX", 11, status))
        assert ack.code == "AA", f"{name} in {template.name}: {ack.texts}"
        entry = model_object(volets.document(document_id))
        assert entry.format_code.code == expected[0], name


def _first_version(volets, template: Path, cda: bytes, ins: str) -> str:
    """The document a sample that replaces another replaces, registered first: the sample
    without its relatedDocument, under a new id."""
    root = etree.fromstring(cda)
    for related in root.findall(f"{{{HL7}}}relatedDocument"):
        root.remove(related)
    first_id = new_oid()
    first = rewrite_cda(etree.tostring(root, xml_declaration=True, encoding="UTF-8"),
                        document_id=first_id)
    ack = volets.send(_message(template, first, ins))
    assert ack.code == "AA", ack.texts
    return first_id


@pytest.mark.parametrize("name", UNKNOWN)
def test_a_volet_outside_the_table_is_refused_naming_the_document(volets, name):
    ins = nir()
    volets.send(adt("A28", ins))
    document_id = new_oid()
    cda = _for_patient((SAMPLES / name).read_bytes(), ins, document_id)
    ack = volets.send(_message(ORU_INIT / "message_ORU_CR_Bio_INIT_N3_SEGUR.hl7", cda, ins))
    assert ack.code == "AE" and "formatCode" in ack.texts and document_id in ack.texts
    assert volets.document(document_id) is None
