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


def test_the_dictionary_is_the_one_rows_were_packed_with():
    assert hashlib.sha256(xml_packing.DICTIONARIES[b"\x01"]).hexdigest() == EBRIM_1_SHA256


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
])
def test_damaged_rows_are_reported(stored, reason):
    with pytest.raises(xml_packing.PackingError, match=reason):
        xml_packing.unpack(stored)
