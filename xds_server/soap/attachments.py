"""Binary content of SOAP messages: kept as bytes or in a spool file, never as base64 in a tree.

An `Attachment` is what an MTOM part or an inline base64 element becomes. A spooled part's SHA-1
is computed while it is written, so a repository never needs a second pass over a document; a
part kept in memory is hashed only if asked.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import tempfile
from pathlib import Path
from typing import BinaryIO

from ..model.content import CHUNK, Attachment
from ..model.errors import is_disk_full

__all__ = ["CHUNK", "Attachment", "AttachmentWriter", "decode_base64_text"]


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
        self._digest: hashlib._Hash | None = None    # made when the part spills to disk
        self.size = 0
        # the disk filled while the part was spooled: the rest is read and dropped, so the
        # request can still be answered "storage full" by its operation (never a traceback)
        self.disk_full: OSError | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        self.size += len(data)
        if self.disk_full is not None:
            return
        try:
            if self._file is not None:
                assert self._digest is not None
                self._digest.update(data)
                self._file.write(data)
                return
            self._buffer += data
            if len(self._buffer) > self._threshold:
                self._spill()
        except OSError as exc:
            if not is_disk_full(exc):
                raise
            self.disk_full = exc
            self.abort()
            self._file, self._buffer = None, bytearray()

    def _spill(self) -> None:
        if self._spool_dir is not None:
            self._spool_dir.mkdir(parents=True, exist_ok=True)
        handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed in finish()/abort()
            prefix="part-", suffix=".bin", dir=self._spool_dir, delete=False)
        self._file = handle  # type: ignore[assignment]
        self._path = Path(handle.name)
        self._digest = hashlib.sha1(self._buffer)   # a part kept in memory: hashed when asked
        handle.write(self._buffer)
        self._buffer = bytearray()

    def finish(self) -> Attachment:
        """The part; a part lost to a full disk is empty (the reader lists it as lost)."""
        if self._file is not None:
            try:
                self._file.close()
            except OSError as exc:
                if not is_disk_full(exc):
                    raise
                self.disk_full = exc
                self.abort()
                self._file = None
        if self._file is None:
            return Attachment(self.content_type, self.content_id, data=bytes(self._buffer))
        assert self._digest is not None
        return Attachment(self.content_type, self.content_id, path=self._path, size=self.size,
                          sha1=self._digest.hexdigest(), owns_file=True)

    def abort(self) -> None:
        if self._file is not None:
            try:
                self._file.close()      # flushing on a full disk fails too
            except OSError as exc:
                if not is_disk_full(exc):
                    raise
            finally:
                if self._path is not None:
                    self._path.unlink(missing_ok=True)


def decode_base64_text(text: str | None) -> bytes:
    """Strict base64 (white space allowed between groups, as XML schema's base64Binary)."""
    cleaned = "".join((text or "").split())
    try:
        return base64.b64decode(cleaned, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"not valid base64: {exc}") from None
