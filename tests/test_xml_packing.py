"""Stored LeafClass XML is packed (LZ4 with a fixed ebRIM dictionary) and comes back byte for
byte; rows written before packing stay readable; the dictionary never changes under old rows."""

from __future__ import annotations

import hashlib

import lz4.block
import pytest
from lxml import etree

from xds_server.ebxml import packing as xml_packing
from xds_server.ebxml.encode import encode_association
from xds_server.model import vocabulary as v
from xds_server.model.metadata import Association

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


def test_an_associations_own_ids_are_marked_and_come_back_byte_for_byte():
    """Format 0x03: an association's id, source and target (its row's columns) are one byte
    each in the packed text; the record's ids put them back exactly."""
    associations = [xml for xml in _reference_objects() if b"Association" in xml[:40]]
    ids = ("urn:uuid:aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee",
           "urn:uuid:11111111-2222-4333-8444-555555555555",
           "urn:uuid:0f0e0d0c-0b0a-4908-8706-050403020100")
    associations.append(etree.tostring(encode_association(Association(
        ids[0], v.HAS_MEMBER, ids[1], ids[2], slots={v.SUBMISSION_SET_STATUS: ["Original"]}))))
    for xml in associations:
        root = etree.fromstring(xml)
        own = (root.get("id"), root.get("sourceObject"), root.get("targetObject"))
        stored = xml_packing.pack_marked(xml, own)
        assert xml_packing.unpack(stored, own) == xml
        assert xml_packing.unpacked_size(stored) == len(xml)
    stored = xml_packing.pack_marked(associations[-1], ids)
    assert stored[:1] == xml_packing.MARKED
    assert len(stored) * 2 < len(xml_packing.pack(associations[-1]))
    with pytest.raises(xml_packing.PackingError, match="without its record's ids"):
        xml_packing.unpack(stored)
    with pytest.raises(xml_packing.PackingError, match="without its record's ids"):
        xml_packing.unpack(stored, (ids[0], "", ids[2]))
    a, b = "urn:uuid:0f0e0d0c-0b0a-4908-8706-050403020100", "urn:uuid:11111111-2222-4333-8444-5"
    # an id inside another text, the same id twice, ids that are not canonical (left as text)
    for xml, ids in ((f'<A id="{a}" s="{a}x" t="{b}">{a}{a}</A>'.encode(), (a, a, b)),
                     (f'<A id="{a.upper()}" s="x"/>'.encode(), (a.upper(), "x", "")),
                     (f'<A id="{a}" v="\x12"/>'.encode(), (a, "", ""))):
        stored = xml_packing.pack_marked(xml, ids)
        assert xml_packing.unpack(stored, ids) == xml
    assert xml_packing.pack_marked(f'<A id="{a}" v="\x12"/>'.encode(), (a,))[:1] \
        == xml_packing.CURRENT      # a text already holding a mark byte is not marked
    assert xml_packing.pack_marked(b'<A id="x"/>', ("x", "y", "z"))[:1] == xml_packing.CURRENT
