"""The registry's stored LeafClass XML, packed: LZ4 with a dictionary of ebRIM boilerplate. The
registry keeps what this makes as opaque bytes (ebxml/stored.py is the form it registers).

A FindDocuments answer is the stored XML of ~20 entries, ~6.4 KB each. Sent raw, that is most
of the database's work for the query (TOAST reads, decompression, 120 KB pushed through its
8 KB send buffer); packed with `dictionaries/ebrim-1.xml` (made by ebxml/boilerplate.py) an
entry is ~0.76 KB, inline in its row, and unpacks in ~6 us. The first byte says the format,
so rows written before packing (raw XML, starting with '<') stay readable as is.

Packed by LZ4's high-compression mode (level 4) since issue 20: the same format, read by the
same decoder as fast, 26 % smaller than its fast mode (a document entry 0.76 KB instead of 1.02,
a submission set 0.44 instead of 0.64, an association 0.13 instead of 0.19), for ~0.17 ms more
to pack an entry once. Zstandard with the same dictionary packed smaller (0.64 KB) but unpacked
3-4x slower (20-25 us an entry): FindDocuments p50 1.19x slower at 10^5 (docs/benchmarks.md).
"""

from __future__ import annotations

import struct
from importlib import resources

import lz4.block

RAW = b"<"
_SIZE = struct.Struct("<I")    # LZ4's stored size prefix
MAX_UNPACKED = 16 * 2**20      # a LeafClass object is a few KB; a larger claim is corruption


def _dictionary(name: str) -> bytes:
    return resources.files(__package__).joinpath("dictionaries", name).read_bytes()


# format byte → dictionary; a new dictionary takes the next byte, old ones stay forever
DICTIONARIES: dict[bytes, bytes] = {b"\x01": _dictionary("ebrim-1.xml")}
CURRENT = b"\x01"
LEVEL = 4       # 9 packs 1 % smaller for twice the time


class PackingError(ValueError):
    """Stored XML that this version cannot read back."""


def pack(xml: bytes) -> bytes:
    return CURRENT + lz4.block.compress(xml, mode="high_compression", compression=LEVEL,
                                        store_size=True, dict=DICTIONARIES[CURRENT])


def unpacked_size(stored: bytes) -> int:
    """The size `unpack` will give, read from the packed header (no decompression)."""
    if stored[:1] == RAW:
        return len(stored)
    return _SIZE.unpack_from(stored, 1)[0] if len(stored) >= 1 + _SIZE.size else len(stored)


def unpack(stored: bytes) -> bytes:
    marker = stored[:1]
    if marker == RAW:
        return stored
    dictionary = DICTIONARIES.get(marker)
    if dictionary is None or len(stored) < 5:
        raise PackingError(f"stored XML in an unknown format (first byte {marker!r})")
    if _SIZE.unpack_from(stored, 1)[0] > MAX_UNPACKED:
        raise PackingError("stored XML claims an unpacked size over 16 MiB")
    try:
        return lz4.block.decompress(stored[1:], dict=dictionary)
    except lz4.block.LZ4BlockError as exc:
        raise PackingError(f"stored XML does not unpack: {exc}") from None
