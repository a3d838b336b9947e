"""A request body as it arrives: in memory while small and while the worker's memory budget has
room, in a spool file otherwise, within the worker's spool budget (budget.py).

The event loop writes into it; the application reads it (as `wsgi.input`) only once it is whole,
so a slow sender never holds one of the threads that run the application.
"""

from __future__ import annotations

import io
import os
from typing import BinaryIO

from .budget import WorkerBudget


class SpoolFull(Exception):
    """The worker's spool budget has no room for this body."""


class SpooledBody:
    def __init__(self, threshold: int, budget: WorkerBudget) -> None:
        self._threshold = threshold
        self._budget = budget
        self._memory = bytearray()
        self._file: BinaryIO | None = None
        self._spooled = 0          # bytes of the spool budget this body holds
        self._reserved = 0         # bytes reserved ahead (a declared Content-Length)
        self.size = 0

    def reserve(self, declared: int) -> None:
        """A body that will be spooled claims its room before a byte of it is read; SpoolFull
        when there is none (the client gets a 503 before sending it)."""
        if declared <= self._threshold:
            return
        if not self._budget.hold_spool(declared):
            raise SpoolFull(declared)
        self._reserved = declared

    def write(self, data: bytes) -> None:
        size = len(data)
        self.size += size
        if self._file is None:
            if len(self._memory) + size <= self._threshold and self._budget.hold_memory(size):
                self._memory += data
                return
            self._spill()
        self._take_spool(size)
        assert self._file is not None
        self._file.write(data)

    def _take_spool(self, size: int) -> None:
        if self._reserved >= self._spooled + size:
            self._spooled += size
            return
        extra = self._spooled + size - max(self._reserved, self._spooled)
        if not self._budget.hold_spool(extra):
            raise SpoolFull(self.size)
        self._spooled += size
        self._reserved = max(self._reserved, self._spooled)

    def _spill(self) -> None:
        """Memory is over the threshold or the budget: everything so far goes to a file."""
        handle = self._budget.spool_file("body-")
        held = len(self._memory)
        self._take_spool(held)
        handle.write(self._memory)
        self._memory = bytearray()
        self._budget.release_memory(held)
        self._file = handle

    def reader(self) -> BinaryIO:
        """The whole body, readable from its start (the writer is done)."""
        if self._file is None:
            return io.BytesIO(bytes(self._memory))
        self._file.flush()
        self._file.seek(0, os.SEEK_SET)
        return self._file

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self._budget.release_memory(len(self._memory))
        self._memory = bytearray()
        self._budget.release_spool(max(self._reserved, self._spooled))
        self._reserved = self._spooled = 0
