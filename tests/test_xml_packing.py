"""Stored LeafClass XML is packed (Zstandard with a fixed ebRIM dictionary) and comes back byte
for byte; rows of every earlier format (raw, LZ4) stay readable; the dictionary never changes
under old rows."""

from __future__ import annotations

import hashlib

import lz4.block
import pytest
from lxml import etree

from xds_server.ebxml import packing as xml_packing

from .conftest import REFERENCE

# ebrim-1.xml as first shipped: rows packed with it must unpack forever
EBRIM_1_SHA256 = "d563cab75ad40f438806005fa6aefaa1410ed9719893ec041eafb62620ecbb68"


@pytest.mark.parametrize("marker", [b"\x01", b"\x02"])
def test_the_dictionary_is_the_one_rows_were_packed_with(marker):
    assert hashlib.sha256(xml_packing.DICTIONARIES[marker]).hexdigest() == EBRIM_1_SHA256


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
    assert [xml_packing.unpacked_size(p) for p in packed] == list(map(len, objects))


def _lz4(xml: bytes) -> bytes:
    """A row as the registry packed it before 0010."""
    return b"\x01" + lz4.block.compress(xml, store_size=True,
                                         dict=xml_packing.DICTIONARIES[b"\x01"])


def test_lz4_rows_of_before_are_read_and_repacked_smaller():
    objects = _reference_objects()
    old = [_lz4(xml) for xml in objects]
    assert [xml_packing.unpack(p) for p in old] == objects
    assert [xml_packing.unpacked_size(p) for p in old] == list(map(len, objects))
    new = [xml_packing.repack(p) for p in old]
    assert {p[:1] for p in new} == {xml_packing.CURRENT}
    assert [xml_packing.unpack(p) for p in new] == objects
    assert sum(map(len, new)) < sum(map(len, old))
    assert [xml_packing.repack(p) for p in new] == new


def test_raw_rows_of_before_are_read_as_they_are():
    assert xml_packing.unpack(b'<rim:ExtrinsicObject id="x"/>') == b'<rim:ExtrinsicObject id="x"/>'


@pytest.mark.parametrize("stored, reason", [
    (b"\x07abc", "unknown format"),
    (b"\x01\xff\xff\xff\x7f", "over 16 MiB"),
    (b"\x01\x10\x00\x00\x00garbage", "does not unpack"),
    (b"\x02", "does not unpack"),
    (b"\x02garbage", "does not unpack"),
    (xml_packing.pack(b"<a/>" * 100)[:-3], "does not unpack"),
    # a frame header claiming 32 MiB of content (single segment, 8-byte size)
    (b"\x02\x28\xb5\x2f\xfd\xe0" + (32 * 2**20).to_bytes(8, "little") + b"\x00" * 8,
     "over 16 MiB"),
])
def test_damaged_rows_are_reported(stored, reason):
    with pytest.raises(xml_packing.PackingError, match=reason):
        xml_packing.unpack(stored)
