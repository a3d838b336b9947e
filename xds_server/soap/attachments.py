"""Binary content of SOAP messages: kept as bytes or in a spool file, never as base64 in a tree.

An `Attachment` is what an MTOM part or an inline base64 element becomes. Its size and SHA-1 are
computed while it is written, so a repository never needs a second pass over a document.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import io
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

CHUNK = 64 * 1024


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
        if data is not None:
            self.size = len(data)
            self.sha1 = sha1 or hashlib.sha1(data).hexdigest()
        else:
            self.size = size
            self.sha1 = sha1

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

    def open(self) -> BinaryIO:
        if self._data is not None:
            return io.BytesIO(self._data)
        assert self._path is not None
        return open(self._path, "rb")

    def iter_chunks(self, size: int = CHUNK) -> Iterator[bytes]:
        if self._data is not None:
            view = memoryview(self._data)
            for start in range(0, len(view), size):
                yield bytes(view[start:start + size])
            return
        with self.open() as handle:
            while block := handle.read(size):
                yield block

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


class AttachmentWriter:
    """Accumulates a part's bytes in memory, moving them to a spool file past `threshold`."""

    def __init__(self, content_type: str, content_id: str, spool_dir: Path | None,
                 threshold: int) -> None:
        self.content_type = content_type
        self.content_id = content_id
        self._spool_dir = spool_dir
        self._threshold = threshold
        self._buffer = bytearray()
        self._file: BinaryIO | None = None
        self._path: Path | None = None
        self._digest = hashlib.sha1()
        self.size = 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        self._digest.update(data)
        self.size += len(data)
        if self._file is not None:
            self._file.write(data)
            return
        self._buffer += data
        if len(self._buffer) > self._threshold:
            self._spill()

    def _spill(self) -> None:
        if self._spool_dir is not None:
            self._spool_dir.mkdir(parents=True, exist_ok=True)
        handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed in finish()/abort()
            prefix="part-", suffix=".bin", dir=self._spool_dir, delete=False)
        self._file = handle  # type: ignore[assignment]
        self._path = Path(handle.name)
        handle.write(self._buffer)
        self._buffer = bytearray()

    def finish(self) -> Attachment:
        if self._file is None:
            return Attachment(self.content_type, self.content_id, data=bytes(self._buffer))
        self._file.close()
        return Attachment(self.content_type, self.content_id, path=self._path, size=self.size,
                          sha1=self._digest.hexdigest(), owns_file=True)

    def abort(self) -> None:
        if self._file is not None:
            self._file.close()
            if self._path is not None:
                self._path.unlink(missing_ok=True)


def decode_base64_text(text: str | None) -> bytes:
    """Strict base64 (white space allowed between groups, as XML schema's base64Binary)."""
    cleaned = "".join((text or "").split())
    try:
        return base64.b64decode(cleaned, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"not valid base64: {exc}") from None
