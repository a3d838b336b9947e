"""A worker's two budgets for what its connections hold between the network and the
application: bytes in memory (request bodies being received, answers being sent) and bytes in
its spool directory. See limits.py for the attacks they stop.

Memory comes first; past `max_buffer_bytes` a body or an answer goes to a spool file instead;
past `max_spool_bytes` too, a body is refused (503) before it is read and a large answer is
replaced by a 503, so neither budget is the attacker's to stretch. The event loop's thread is
the only one that touches a budget.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import tempfile
from pathlib import Path
from typing import BinaryIO

log = logging.getLogger("xds_server.serving")

# glibc keeps freed memory in its heap; after large requests or answers are gone, give it back
# (malloc_trim also returns free pages inside the heap, not only its top). Measured: 20 slow
# readers of 15 MB answers left the worker 780 MB larger after they closed, without a trim.
TRIM_AFTER_BYTES = 16 * 1024 * 1024


class WorkerBudget:
    def __init__(self, max_buffer_bytes: int, max_spool_bytes: int,
                 spool_dir: Path | None) -> None:
        self.max_buffer_bytes = max_buffer_bytes
        self.max_spool_bytes = max_spool_bytes
        self.spool_dir = spool_dir
        self._spool_prefix = (os.path.abspath(spool_dir) + os.sep) if spool_dir else None
        self.memory = 0          # bytes held in memory for connections
        self.spool = 0           # bytes held in spool files for connections
        self.refused = 0         # requests answered 503 for want of room
        self._freed = 0          # bytes let go since the last trim

    # -- memory -----------------------------------------------------------------------------
    def hold_memory(self, size: int) -> bool:
        """Take `size` bytes of memory if they fit."""
        if self.memory + size > self.max_buffer_bytes:
            return False
        self.memory += size
        return True

    def force_memory(self, size: int) -> None:
        """Take `size` bytes whether they fit or not (small answers: bounded by their size times
        the connections)."""
        self.memory += size

    def release_memory(self, size: int) -> None:
        self.memory -= size
        self._freed += size

    @property
    def exhausted(self) -> bool:
        """No room left in memory nor (beyond a megabyte) in the spool: a request whose answer
        is not small could not be held, so none is started."""
        return (self.memory >= self.max_buffer_bytes
                and self.spool + 1024 * 1024 > self.max_spool_bytes)

    # -- spool ------------------------------------------------------------------------------
    def hold_spool(self, size: int) -> bool:
        if self.spool + size > self.max_spool_bytes:
            return False
        self.spool += size
        return True

    def force_spool(self, size: int) -> None:
        self.spool += size

    def release_spool(self, size: int) -> None:
        self.spool -= size

    def spool_file(self, prefix: str) -> BinaryIO:
        """An unlinked file in the spool directory: it lives as long as its descriptor, a crash
        leaves nothing behind."""
        if self.spool_dir is not None:
            self.spool_dir.mkdir(parents=True, exist_ok=True)
        return tempfile.TemporaryFile(prefix=prefix, dir=self.spool_dir)

    def in_spool(self, path: Path) -> bool:
        """Whether `path` is one of this worker's spool files (an MTOM part an answer echoes),
        as opposed to a stored document (which costs no budget: it is kept anyway)."""
        return (self._spool_prefix is not None
                and os.path.abspath(path).startswith(self._spool_prefix))

    # -- giving memory back -----------------------------------------------------------------
    def note_freed(self, size: int) -> None:
        """A request of `size` bytes was served: parsing it took a few times that, now free."""
        self._freed += size

    def maybe_trim(self) -> None:
        """Called between requests: when large buffers were freed, hand their pages back."""
        if self._freed < TRIM_AFTER_BYTES:
            return
        self._freed = 0
        malloc_trim()


_libc = None


def malloc_trim() -> bool:
    """glibc's malloc_trim(0); False where it does not exist (musl, macOS)."""
    global _libc
    if _libc is None:
        try:
            _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            _libc.malloc_trim.argtypes = [ctypes.c_size_t]
        except (OSError, AttributeError):
            _libc = False
    if not _libc:
        return False
    return bool(_libc.malloc_trim(0))
