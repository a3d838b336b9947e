"""The registry's stored LeafClass XML, packed: LZ4 with a dictionary of ebRIM boilerplate.

A FindDocuments answer is the stored XML of ~20 entries, ~6.4 KB each. Sent raw, that is most
of the database's work for the query (TOAST reads, decompression, 120 KB pushed through its
8 KB send buffer); packed with `dictionaries/ebrim-1.xml` (made by ebxml/boilerplate.py) an
entry is ~0.9 KB, inline in its row, and unpacks in about a microsecond. The first byte says
the format, so rows written before packing (raw XML, starting with '<') stay readable as is.
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


class PackingError(ValueError):
    """Stored XML that this version cannot read back."""


def pack(xml: bytes) -> bytes:
    return CURRENT + lz4.block.compress(xml, store_size=True, dict=DICTIONARIES[CURRENT])


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
