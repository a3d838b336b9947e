"""Stored LeafClass XML is packed (LZ4 with a fixed ebRIM dictionary) and comes back byte for
byte; rows written before packing stay readable; the dictionary never changes under old rows."""

from __future__ import annotations

import hashlib

import lz4.block
import pytest
from lxml import etree

from xds_server.ebxml import packing as xml_packing

from .conftest import REFERENCE

# ebrim-1.xml as first shipped: rows packed with it must unpack forever
EBRIM_1_SHA256 = "d563cab75ad40f438806005fa6aefaa1410ed9719893ec041eafb62620ecbb68"


# fhir-1.json (fhir/boilerplate.py), the kept DocumentReferences' dictionary (format 0x02)
FHIR_1_SHA256 = "639f2419b1296b8e0d249fda53a9f7ddf1e3fba8a15df2680cc02a56a3abfe89"


def test_the_dictionary_is_the_one_rows_were_packed_with():
    assert hashlib.sha256(xml_packing.DICTIONARIES[b"\x01"]).hexdigest() == EBRIM_1_SHA256
    assert hashlib.sha256(xml_packing.SECOND_DICTIONARY).hexdigest() == FHIR_1_SHA256


def test_a_pair_gives_each_form_back_and_its_leaf_class_size():
    for xml in _reference_objects():
        second = b'{"resourceType":"DocumentReference","id":"\x03"}' + xml[:50]
        stored = xml_packing.pack_pair(xml, second)
        assert stored[:1] == xml_packing.PAIR
        assert xml_packing.unpack(stored) == xml
        assert xml_packing.unpacked_size(stored) == len(xml)
        assert xml_packing.second_form(stored) == second
    assert xml_packing.second_form(xml_packing.pack(xml)) is None
    assert xml_packing.second_form(xml) is None


def _reference_objects() -> list[bytes]:
    path = REFERENCE / "xds-messages" / "ihe-iti-examples" / "XDS.b"
    objects = []
    for message in sorted(path.rglob("*.xml")):
        try:
            root = etree.parse(str(message)).getroot()
        except etree.XMLSyntaxError:
            continue
        for local in ("ExtrinsicObject", "RegistryPackage", "Association"):
            objects += [etree.tostring(e) for e in root.iter(f"{{*}}{local}")]
    return objects


def test_registry_objects_come_back_byte_for_byte_and_smaller():
    objects = _reference_objects()
    assert len(objects) >= 10
    packed = [xml_packing.pack(xml) for xml in objects]
    assert [xml_packing.unpack(p) for p in packed] == objects
    assert sum(map(len, packed)) * 2 < sum(map(len, objects))


def test_rows_packed_by_lz4s_fast_mode_are_read_and_are_larger():
    """Rows written before issue 20 (the fast mode) are the same format, read as they are."""
    objects = _reference_objects()
    fast = [b"\x01" + lz4.block.compress(xml, store_size=True,
                                         dict=xml_packing.DICTIONARIES[b"\x01"])
            for xml in objects]
    assert [xml_packing.unpack(p) for p in fast] == objects
    assert sum(len(xml_packing.pack(xml)) for xml in objects) < sum(map(len, fast))


def test_raw_rows_of_before_are_read_as_they_are():
    assert xml_packing.unpack(b'<rim:ExtrinsicObject id="x"/>') == b'<rim:ExtrinsicObject id="x"/>'


@pytest.mark.parametrize("stored, reason", [
    (b"\x07abc", "unknown format"),
    (b"\x01\xff\xff\xff\x7f", "over 16 MiB"),
    (b"\x01\x10\x00\x00\x00garbage", "does not unpack"),
    (b"\x02\xff\x00\x00\x00\x10\x00\x00\x00garbage", "does not unpack"),
    (b"\x02\x02\x00\x00\x00\x10\x00\x00\x00", "truncated"),
])
def test_damaged_rows_are_reported(stored, reason):
    with pytest.raises(xml_packing.PackingError, match=reason):
        xml_packing.unpack(stored)


@pytest.mark.parametrize("stored, reason", [
    (b"", "missing"),
    (b"\xff\xff\xff\x7f", "over 16 MiB"),
    (b"\x10\x00\x00\x00garbage", "does not unpack"),
])
def test_damaged_second_forms_are_reported(stored, reason):
    first = xml_packing.pack_pair(b"<x/>", b"")[1:]       # a sound LeafClass block
    with pytest.raises(xml_packing.PackingError, match=reason):
        xml_packing.second_form(xml_packing.PAIR + first[:4 + int.from_bytes(first[:4], "little")]
                                + stored)
