"""The registry's stored LeafClass XML, packed: LZ4 with a dictionary of ebRIM boilerplate. The
registry keeps what this makes as opaque bytes (ebxml/stored.py is the form it registers).

A FindDocuments answer is the stored XML of ~20 entries, ~6.4 KB each. Sent raw, that is most
of the database's work for the query (TOAST reads, decompression, 120 KB pushed through its
8 KB send buffer); packed with `dictionaries/ebrim-1.xml` (made by ebxml/boilerplate.py) an
entry is ~0.76 KB, inline in its row, and unpacks in ~6 us. The first byte says the format,
so rows written before packing (raw XML, starting with '<') stay readable as is.

Packed by LZ4's high-compression mode (level 4) since issue 20: the same format, read by the
same decoder as fast, 26 % smaller than its fast mode (a document entry 0.76 KB instead of 1.02,
a submission set 0.44 instead of 0.64, an association 0.13 instead of 0.19). The dictionary is
indexed once (lz4_dictionary.py; python-lz4 re-indexed it every call): packing a LeafClass takes
~43 us a document entry, ~23 a submission set, ~10 an association, the bytes unchanged.
Zstandard with the same dictionary packed smaller (0.64 KB) but unpacked 3-4x slower (20-25 us
an entry): FindDocuments p50 1.19x slower at 10^5 (docs/benchmarks.md).

Format 0x02 (issue 16) keeps a second form beside the LeafClass: a DocumentEntry's FHIR
DocumentReference as the FHIR front answers it (fhir/stored_forms.py), so an ITI-67 answer
unpacks and splices as ITI-18's does instead of parsing and decoding the LeafClass. Layout:
0x02, the LeafClass block's length (u32), the LeafClass block (LZ4 with its size, ebrim-1.xml,
as in 0x01), the second form's block (LZ4 with its size; its dictionary fhir-1.json followed by
the object's own LeafClass XML, so the values both forms hold, identifiers, codes, names, are
references into the LeafClass: 187 bytes a datagen entry instead of 280 with fhir-1.json alone).
`unpack` reads only the first; `second_form` both (None for the formats without one).

Format 0x03 (issue 20, migration 0013) is 0x01 with the object's own identifiers marked: an
association's id, sourceObject and targetObject, each a `urn:uuid:` of 36 random hex digits
LZ4 cannot shrink (~100 of its ~140 bytes), are in its row's columns already; each occurrence
becomes one control byte (XML 1.0 text cannot hold it) and `unpack` puts them back from the
record's ids, one `bytes.replace` each. Layout: 0x03, the unmarked size (u32), the LZ4 block.
Only canonical lowercase `urn:uuid:` ids are marked (their text needs no XML escaping), in
order, each replacing what the previous left; putting them back in the reverse order gives the
exact bytes (no mark byte was in the text: a text holding one is packed 0x01).
"""

from __future__ import annotations

import re
import struct
from collections.abc import Sequence
from importlib import resources

import lz4.block

from .lz4_dictionary import HighCompressor

RAW = b"<"
_SIZE = struct.Struct("<I")    # LZ4's stored size prefix
MAX_UNPACKED = 16 * 2**20      # a LeafClass object is a few KB; a larger claim is corruption


def _dictionary(name: str) -> bytes:
    return resources.files(__package__).joinpath("dictionaries", name).read_bytes()


# format byte → dictionary; a new dictionary takes the next byte, old ones stay forever
DICTIONARIES: dict[bytes, bytes] = {b"\x01": _dictionary("ebrim-1.xml")}
CURRENT = b"\x01"
PAIR = b"\x02"                  # the LeafClass (as 0x01) and a second form, side by side
MARKED = b"\x03"                # as 0x01, the object's own ids marked (a record gives them back)
MARKS = (b"\x11", b"\x12", b"\x13")
_CANONICAL = re.compile(r"urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
SECOND_DICTIONARY = _dictionary("fhir-1.json")
_LENGTH = struct.Struct("<I")   # the LeafClass block's length in a PAIR
LEVEL = 4       # 9 packs 1 % smaller for twice the time
_PACKER = HighCompressor(DICTIONARIES[CURRENT], LEVEL)   # ebrim-1.xml indexed once


class PackingError(ValueError):
    """Stored XML that this version cannot read back."""


def pack(xml: bytes) -> bytes:
    return CURRENT + _PACKER.compress(xml)


def pack_marked(xml: bytes, ids: Sequence[str]) -> bytes:
    """The LeafClass with these ids of its record marked (MARKED); 0x01 when none is marked."""
    if any(mark in xml for mark in MARKS):
        return pack(xml)
    text = xml
    for mark, identifier in zip(MARKS, ids, strict=False):
        if identifier and _CANONICAL.fullmatch(identifier):
            text = text.replace(identifier.encode(), mark)
    if text == xml:
        return pack(xml)
    return MARKED + _LENGTH.pack(len(xml)) + _PACKER.compress(text)


def pack_pair(xml: bytes, second: bytes) -> bytes:
    """The LeafClass and a second form of the same object, in one stored value (PAIR)."""
    first = _PACKER.compress(xml)
    # the second's dictionary holds this object's XML: indexed per call whatever the binding
    # (~36 us a datagen entry; liblz4 through a kept state measured 33, not worth its code)
    return (PAIR + _LENGTH.pack(len(first)) + first
            + lz4.block.compress(second, mode="high_compression", compression=LEVEL,
                                 store_size=True, dict=SECOND_DICTIONARY + xml))


def _first_block(stored: bytes) -> tuple[bytes, int]:
    """(the dictionary, the offset) of the LeafClass block of a packed value."""
    marker = stored[:1]
    if marker == PAIR and len(stored) >= 1 + _LENGTH.size + _SIZE.size:
        return DICTIONARIES[CURRENT], 1 + _LENGTH.size
    dictionary = DICTIONARIES.get(marker)
    if dictionary is None or len(stored) < 5:
        raise PackingError(f"stored XML in an unknown format (first byte {marker!r})")
    return dictionary, 1


def unpacked_size(stored: bytes) -> int:
    """The size `unpack` will give, read from the packed header (no decompression)."""
    if stored[:1] == RAW:
        return len(stored)
    if stored[:1] == MARKED and len(stored) >= 1 + _LENGTH.size:
        return _LENGTH.unpack_from(stored, 1)[0]
    offset = 1 + _LENGTH.size if stored[:1] == PAIR else 1
    return _SIZE.unpack_from(stored, offset)[0] if len(stored) >= offset + _SIZE.size \
        else len(stored)


def _decompress(block: bytes, dictionary: bytes, what: str) -> bytes:
    if len(block) < _SIZE.size:
        raise PackingError(f"stored {what} is truncated")
    if _SIZE.unpack_from(block)[0] > MAX_UNPACKED:
        raise PackingError(f"stored {what} claims an unpacked size over 16 MiB")
    try:
        return lz4.block.decompress(block, dict=dictionary)
    except lz4.block.LZ4BlockError as exc:
        raise PackingError(f"stored {what} does not unpack: {exc}") from None


def unpack(stored: bytes, ids: Sequence[str] = ()) -> bytes:
    """The LeafClass XML (of a PAIR, its first block only); `ids`: its record's entryUUID (and
    an association's source and target), which a MARKED value needs."""
    if stored[:1] == RAW:
        return stored
    if stored[:1] == MARKED:
        if not ids:
            raise PackingError("stored XML with marked ids read without its record's ids")
        text = _decompress(stored[1 + _LENGTH.size:], DICTIONARIES[CURRENT], "XML")
        for index in range(min(len(ids), len(MARKS)) - 1, -1, -1):    # the reverse order
            if identifier := ids[index]:
                text = text.replace(MARKS[index], identifier.encode())
            elif MARKS[index] in text:
                raise PackingError("stored XML with marked ids read without its record's ids")
        return text
    dictionary, offset = _first_block(stored)
    end = offset + _LENGTH.unpack_from(stored, 1)[0] if offset > 1 else len(stored)
    return _decompress(stored[offset:end], dictionary, "XML")


def second_form(stored: bytes | None) -> bytes | None:
    """The second form of a PAIR (its LeafClass unpacked first: the second's dictionary);
    None for a value without one."""
    if not stored or stored[:1] != PAIR or len(stored) < 1 + _LENGTH.size:
        return None
    start = 1 + _LENGTH.size + _LENGTH.unpack_from(stored, 1)[0]
    if start >= len(stored):
        raise PackingError("stored value: its second form is missing")
    return _decompress(stored[start:], SECOND_DICTIONARY + unpack(stored), "second form")
