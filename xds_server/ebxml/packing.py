"""The registry's stored LeafClass XML, packed with a dictionary of ebRIM boilerplate. The
registry keeps what this makes as opaque bytes (ebxml/stored.py is the form it registers).

A FindDocuments answer is the stored XML of ~20 entries, ~6.4 KB each. Sent raw, that is most
of the database's work for the query (TOAST reads, decompression, 120 KB pushed through its
8 KB send buffer). The first byte says the format, so rows of every earlier format stay
readable as they are:

- `<`: raw XML (rows written before packing);
- `\\x01`: LZ4 with `dictionaries/ebrim-1.xml` (made by ebxml/boilerplate.py): ~1.0 KB an
  entry, ~5 us to unpack;
- `\\x02` (written now): Zstandard level 3 with the same dictionary as raw content: ~0.64 KB an
  entry (a submission set 0.36 KB, an association 0.11 KB), the same order of time to unpack
  and ~50 us to pack. Measured on bench/datagen.py's entries (issue 20, docs/benchmarks.md):
  zlib with the same dictionary packs to ~0.58 KB but unpacks 2x slower, LZ4's
  high-compression mode reaches only ~0.76 KB and packs 3x slower; a dictionary trained on
  entries was not taken: trained on generated data, it would fit the generator, not a registry.
"""

from __future__ import annotations

import struct
import threading
from importlib import resources

import lz4.block
import zstandard

RAW = b"<"
_SIZE = struct.Struct("<I")    # LZ4's stored size prefix
MAX_UNPACKED = 16 * 2**20      # a LeafClass object is a few KB; a larger claim is corruption
ZSTD_LEVEL = 3


def _dictionary(name: str) -> bytes:
    return resources.files(__package__).joinpath("dictionaries", name).read_bytes()


# format byte → dictionary; a new dictionary takes the next byte, old ones stay forever
DICTIONARIES: dict[bytes, bytes] = {b"\x01": _dictionary("ebrim-1.xml"),
                                    b"\x02": _dictionary("ebrim-1.xml")}
LZ4, ZSTD = b"\x01", b"\x02"
CURRENT = ZSTD

_ZSTD_DICTIONARY = zstandard.ZstdCompressionDict(DICTIONARIES[ZSTD],
                                                 dict_type=zstandard.DICT_TYPE_RAWCONTENT)
_ZSTD_DICTIONARY.precompute_compress(level=ZSTD_LEVEL)


class _Codecs(threading.local):
    """One compressor and decompressor per thread: zstandard's are not safe to share."""

    def __init__(self) -> None:
        # the frame says its content size (read by unpacked_size); no checksum (the database
        # keeps its own), no dictionary id (the format byte names the dictionary)
        self.compressor = zstandard.ZstdCompressor(
            dict_data=_ZSTD_DICTIONARY, write_content_size=True, write_checksum=False,
            write_dict_id=False)
        self.decompressor = zstandard.ZstdDecompressor(dict_data=_ZSTD_DICTIONARY,
                                                       max_window_size=MAX_UNPACKED)


_codecs = _Codecs()


class PackingError(ValueError):
    """Stored XML that this version cannot read back."""


def pack(xml: bytes) -> bytes:
    return ZSTD + _codecs.compressor.compress(xml)


def unpacked_size(stored: bytes) -> int:
    """The size `unpack` will give, read from the packed header (no decompression)."""
    marker = stored[:1]
    if marker == ZSTD:
        try:
            size = zstandard.frame_content_size(stored[1:])
        except zstandard.ZstdError:
            return len(stored)
        return size if size >= 0 else len(stored)
    if marker == LZ4 and len(stored) >= 1 + _SIZE.size:
        return _SIZE.unpack_from(stored, 1)[0]
    return len(stored)


def unpack(stored: bytes) -> bytes:
    marker = stored[:1]
    if marker == RAW:
        return stored
    if marker == ZSTD:
        return _unzstd(stored)
    if marker != LZ4 or len(stored) < 5:
        raise PackingError(f"stored XML in an unknown format (first byte {marker!r})")
    if _SIZE.unpack_from(stored, 1)[0] > MAX_UNPACKED:
        raise PackingError("stored XML claims an unpacked size over 16 MiB")
    try:
        return lz4.block.decompress(stored[1:], dict=DICTIONARIES[LZ4])
    except lz4.block.LZ4BlockError as exc:
        raise PackingError(f"stored XML does not unpack: {exc}") from None


def _unzstd(stored: bytes) -> bytes:
    try:
        size = zstandard.frame_content_size(stored[1:])
    except zstandard.ZstdError as exc:
        raise PackingError(f"stored XML does not unpack: {exc}") from None
    if size < 0:        # pack always writes the size: a frame without it is not ours
        raise PackingError("stored XML does not unpack: no content size")
    if size > MAX_UNPACKED:
        raise PackingError("stored XML claims an unpacked size over 16 MiB")
    try:
        return _codecs.decompressor.decompress(stored[1:])
    except zstandard.ZstdError as exc:
        raise PackingError(f"stored XML does not unpack: {exc}") from None


def repack(stored: bytes) -> bytes:
    """A stored form in the current format (the migration that brought it, 0010)."""
    return stored if stored[:1] == CURRENT else pack(unpack(stored))
