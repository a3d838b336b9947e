"""Document content as the actors see it: bytes in memory or in a file, with size and SHA-1.

Kept out of the wire layer so the repository can hold and serve content without knowing SOAP;
the SOAP layer fills it from MTOM parts or inline base64.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

CHUNK = 64 * 1024
FILE_CHUNK = 1024 * 1024  # large reads for streaming: fewer syscalls, bounded memory


def file_chunks(path: Path, size: int = FILE_CHUNK) -> Iterator[bytes]:
    """A file's bytes in large blocks, for a streaming writer."""
    with open(path, "rb") as handle:
        while block := handle.read(size):
            yield block


class Attachment:
    """Bytes with a content type and a content id, held in memory or in a spool file."""

    def __init__(self, content_type: str, content_id: str, *, data: bytes | None = None,
                 path: Path | None = None, size: int = 0, sha1: str = "",
                 owns_file: bool = False) -> None:
        self.content_type = content_type
        self.content_id = content_id
        self._data = data
        self._path = path
        self._owns_file = owns_file
        self.size = len(data) if data is not None else size
        self._sha1 = sha1

    @property
    def sha1(self) -> str:
        """Hex SHA-1 of the content; for bytes in memory computed when first asked (most
        parts, a SOAP envelope among them, are never asked)."""
        if not self._sha1 and self._data is not None:
            self._sha1 = hashlib.sha1(self._data).hexdigest()
        return self._sha1

    @classmethod
    def from_bytes(cls, data: bytes, content_type: str = "application/octet-stream",
                   content_id: str = "") -> Attachment:
        return cls(content_type, content_id, data=data)

    @classmethod
    def from_file(cls, path: Path, content_type: str = "application/octet-stream",
                  content_id: str = "") -> Attachment:
        """Reference an existing file (not deleted on close); hashes it once."""
        digest = hashlib.sha1()
        size = 0
        with open(path, "rb") as handle:
            while block := handle.read(CHUNK):
                digest.update(block)
                size += len(block)
        return cls(content_type, content_id, path=Path(path), size=size, sha1=digest.hexdigest())

    def with_content_id(self, content_id: str) -> Attachment:
        """The same content under another content id (the file stays owned by `self`)."""
        return Attachment(self.content_type, content_id, data=self._data, path=self._path,
                          size=self.size, sha1=self.sha1)

    @property
    def in_memory(self) -> bool:
        return self._data is not None

    @property
    def path(self) -> Path | None:
        """The spool or source file, when the content is on disk."""
        return self._path

    def read_bytes(self) -> bytes:
        if self._data is not None:
            return self._data
        assert self._path is not None
        return self._path.read_bytes()

    def iter_chunks(self, size: int = FILE_CHUNK) -> Iterator[bytes]:
        """The content in pieces (a digest over a spooled document reads no whole file);
        in-memory content comes whole."""
        if self._data is not None:
            yield self._data
            return
        assert self._path is not None
        yield from file_chunks(self._path, size)

    def base64_text(self) -> str:
        return base64.b64encode(self.read_bytes()).decode("ascii")

    def close(self) -> None:
        """Delete the spool file this attachment owns; harmless to call twice."""
        if self._owns_file and self._path is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._path)
            self._owns_file = False

    def __repr__(self) -> str:
        where = "memory" if self.in_memory else str(self._path)
        return f"<Attachment {self.content_id!r} {self.content_type} {self.size} B in {where}>"
