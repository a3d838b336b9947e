"""Filesystem document store root; the put/commit/open/delete/sweep interface grows with ITI-41.

Writability is checked the way documents will be written: a temporary file, fsync, rename, delete.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


class FilesystemBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def ensure(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)

    def check_writable(self) -> tuple[bool, str]:
        """(writable, detail) for /health; never raises."""
        try:
            self.ensure()
            descriptor, name = tempfile.mkstemp(prefix=".health-", dir=self.root)
            try:
                os.write(descriptor, b"ok")
                os.fsync(descriptor)
            finally:
                os.close(descriptor)
            final = name + ".done"
            os.replace(name, final)
            os.unlink(final)
            return True, str(self.root)
        except OSError as exc:
            return False, f"{self.root}: {exc.strerror or type(exc).__name__}"
