"""A request body as it arrives: in memory while small, in a spool file past a threshold.

The event loop writes into it; the application reads it (as `wsgi.input`) only once it is whole,
so a slow sender never holds one of the threads that run the application.
"""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path
from typing import BinaryIO


class SpooledBody:
    def __init__(self, threshold: int, spool_dir: Path | None) -> None:
        self._threshold = threshold
        self._spool_dir = spool_dir
        self._memory = bytearray()
        self._file: BinaryIO | None = None
        self.size = 0

    def write(self, data: bytes) -> None:
        self.size += len(data)
        if self._file is not None:
            self._file.write(data)
            return
        self._memory += data
        if len(self._memory) > self._threshold:
            if self._spool_dir is not None:
                self._spool_dir.mkdir(parents=True, exist_ok=True)
            # unlinked at once: the file lives as long as its descriptor, a crash leaves nothing
            handle = tempfile.TemporaryFile(  # noqa: SIM115 - closed in close()
                prefix="body-", dir=self._spool_dir)
            handle.write(self._memory)
            self._memory = bytearray()
            self._file = handle  # type: ignore[assignment]

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
        self._memory = bytearray()
