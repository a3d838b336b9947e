"""LZ4 high-compression blocks against a fixed dictionary, the dictionary indexed once.

python-lz4's `lz4.block.compress(..., mode="high_compression", dict=...)` clears a 256 KB
HC state and indexes the whole dictionary on every call (LZ4_resetStreamHC, LZ4_loadDictHC,
LZ4_compress_HC_continue): for the 15 KB ebrim-1.xml that is most of the cost of packing a
registry object. liblz4 documents the way to use one dictionary many times: load it once into
a dictionary stream, then per call reset a working stream (LZ4_resetStreamHC_fast) and attach
the dictionary stream to it (LZ4_attach_HC_dictionary, "a no-copy setup mechanism"). No
maintained Python package exposes that (python-lz4 4.4 has neither call), so this module calls
them by ctypes in the very library python-lz4 runs: its extension module carries liblz4 and
exports its symbols (or, built against the system's liblz4, resolves them there). Same
library, same level, same block format: `lz4.block.decompress(..., dict=...)` reads the result.

Measured (issue 19, docs/benchmarks.md "Packing an object": alternated rounds, thread CPU
time, datagen's objects): a DocumentEntry's LeafClass (6.4 KB) 64 -> 43 us, a SubmissionSet
(3 KB) 50 -> 23, an association (0.6 KB) 38 -> 10; the bytes identical on every datagen and
reference object. Over 4 KB of input liblz4 itself copies the dictionary's state (the bytes
are python-lz4's by construction); below, it searches the dictionary in place, which may pick
another match: 3 bytes more at worst in 20,000 random texts (tests/test_lz4_dictionary.py).

Where the symbols are missing (a python-lz4 built against an older system liblz4 that keeps
them static) `HighCompressor` falls back to `lz4.block.compress`: the same format, the old cost.
"""

from __future__ import annotations

import ctypes
import struct
import threading

import lz4.block

_SIZE = struct.Struct("<I")      # python-lz4's stored size prefix (store_size=True)
MIN_VERSION = 10900              # 1.9.0: resetStreamHC_fast and attach_HC_dictionary as used
_POINTER = ctypes.c_void_p


def _python_lz4_library() -> str | None:
    """The file of python-lz4's block extension (liblz4 inside, or linked by it)."""
    try:
        from lz4.block import _block
    except ImportError:
        return None
    return getattr(_block, "__file__", None)


def _library(path: str | None) -> ctypes.CDLL | None:
    """liblz4 at `path`, its needed calls typed; None where one is missing."""
    if path is None:
        return None
    try:
        lib = ctypes.CDLL(path)
        calls = {"LZ4_versionNumber": ([], ctypes.c_int),
                 "LZ4_sizeofStateHC": ([], ctypes.c_int),
                 "LZ4_initStreamHC": ([_POINTER, ctypes.c_size_t], _POINTER),
                 "LZ4_resetStreamHC_fast": ([_POINTER, ctypes.c_int], None),
                 "LZ4_loadDictHC": ([_POINTER, ctypes.c_char_p, ctypes.c_int], ctypes.c_int),
                 "LZ4_attach_HC_dictionary": ([_POINTER, _POINTER], None),
                 "LZ4_compress_HC_continue": ([_POINTER, ctypes.c_char_p, _POINTER,
                                               ctypes.c_int, ctypes.c_int], ctypes.c_int)}
        for name, (arguments, result) in calls.items():
            function = getattr(lib, name)
            function.argtypes, function.restype = arguments, result
    except (OSError, AttributeError):
        return None
    return lib if lib.LZ4_versionNumber() >= MIN_VERSION else None


_LIB = _library(_python_lz4_library())


def _bound(size: int) -> int:
    """LZ4_compressBound: the largest block `size` bytes can become."""
    return size + size // 255 + 16


class _Stream:
    """A liblz4 LZ4_streamHC_t in memory of ours (ctypes buffers are malloc'd: aligned)."""

    def __init__(self, lib: ctypes.CDLL) -> None:
        size = lib.LZ4_sizeofStateHC()
        self.buffer = ctypes.create_string_buffer(size)
        if not lib.LZ4_initStreamHC(self.buffer, size):
            raise OSError("liblz4 refused an HC stream's memory")


class HighCompressor:
    """`compress(data)` is a block of `lz4.block.compress(data, mode="high_compression",
    compression=level, store_size=True, dict=dictionary)`'s format, for a few us of setup
    instead of re-indexing the dictionary. Thread-safe: each thread has its working stream
    (ctypes releases the GIL in liblz4); the dictionary stream is only read."""

    def __init__(self, dictionary: bytes, level: int, lib: ctypes.CDLL | None = _LIB) -> None:
        self.dictionary, self.level, self._lib = bytes(dictionary), level, lib
        self._local = threading.local()
        if lib is not None:
            try:
                self._dictionary_stream = _Stream(lib)  # kept: the working streams read it
            except OSError:
                self._lib = None
                return
            lib.LZ4_resetStreamHC_fast(self._dictionary_stream.buffer, level)
            lib.LZ4_loadDictHC(self._dictionary_stream.buffer, self.dictionary,
                               len(self.dictionary))    # refers to self.dictionary's bytes

    @property
    def indexed_once(self) -> bool:
        """False where liblz4's calls are missing and python-lz4 re-indexes every time."""
        return self._lib is not None

    def compress(self, data: bytes) -> bytes:
        lib = self._lib
        if lib is None:
            return lz4.block.compress(data, mode="high_compression", compression=self.level,
                                      store_size=True, dict=self.dictionary)
        data = bytes(data)
        work, out = self._working(_SIZE.size + _bound(len(data)))
        lib.LZ4_resetStreamHC_fast(work.buffer, self.level)
        lib.LZ4_attach_HC_dictionary(work.buffer, self._dictionary_stream.buffer)
        written = lib.LZ4_compress_HC_continue(work.buffer, data,
                                               ctypes.addressof(out) + _SIZE.size, len(data),
                                               len(out) - _SIZE.size)
        if written <= 0:        # cannot happen with a compressBound buffer; the stream resets
            raise ValueError("LZ4 compression failed")
        _SIZE.pack_into(out, 0, len(data))
        return ctypes.string_at(out, _SIZE.size + written)

    def _working(self, size: int) -> tuple[_Stream, ctypes.Array]:
        """This thread's working stream and an output buffer of at least `size` bytes."""
        local = self._local
        work = getattr(local, "work", None)
        if work is None:
            work = local.work = _Stream(self._lib)
            local.out = ctypes.create_string_buffer(64 * 1024)
        if len(local.out) < size:
            local.out = ctypes.create_string_buffer(size)
        return work, local.out
