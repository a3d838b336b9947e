"""Filesystem document store: stage, commit, open, delete, sweep.

A document is written to a staging file and fsynced before the registry commits; it becomes
visible (renamed into place) only after. File names derive from a hash of the document's
uniqueId, never from client text, and shard into two directory levels.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

CHUNK = 1024 * 1024


def blob_key(unique_id: str) -> str:
    return hashlib.sha256(unique_id.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class StagedBlob:
    key: str
    path: Path
    size: int
    sha1: str


def _fsync_dir(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


class FilesystemBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._root = str(self.root)
        self.staging = self.root / ".staging"

    def ensure(self) -> None:
        if not self.staging.is_dir():
            self.staging.mkdir(parents=True, exist_ok=True)

    def final_path(self, key: str) -> Path:
        return Path(os.path.join(self._root, key[:2], key[2:4], key))   # joined as text: hot

    # --- writing ------------------------------------------------------------------------------

    def stage(self, unique_id: str, source: BinaryIO | Path,
              known: tuple[int, str] | None = None) -> StagedBlob:
        """Copy (or hard-link, for a spool file on the same disk) the bytes into staging,
        durably. `known` is (size, sha1) when the caller computed them while receiving."""
        self.ensure()
        key = blob_key(unique_id)
        target = self.staging / f"{key}.{uuid.uuid4().hex}.staged"
        digest = hashlib.sha1()
        size = 0
        if isinstance(source, Path):
            if known is None:
                with open(source, "rb") as handle:
                    while block := handle.read(CHUNK):
                        digest.update(block)
                        size += len(block)
            try:
                os.link(source, target)  # same filesystem: no copy
            except OSError:
                shutil.copyfile(source, target)
            with open(target, "rb+") as handle:
                os.fsync(handle.fileno())
        else:
            with open(target, "wb") as handle:
                while block := source.read(CHUNK):
                    digest.update(block)
                    size += len(block)
                    handle.write(block)
                handle.flush()
                os.fsync(handle.fileno())
        _fsync_dir(self.staging)
        if known is not None and isinstance(source, Path):
            return StagedBlob(key, target, known[0], known[1])
        return StagedBlob(key, target, size, digest.hexdigest())

    def commit(self, staged: StagedBlob) -> Path:
        """Make a staged blob visible under its final name (atomic rename).

        The rename is not fsynced: if a crash loses it, the file is still in staging under a
        committed row, and recovery moves it into place again."""
        final = self.final_path(staged.key)
        try:
            os.replace(staged.path, final)
        except FileNotFoundError:
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staged.path, final)
        return final

    def discard(self, staged: StagedBlob) -> None:
        with contextlib.suppress(FileNotFoundError):
            staged.path.unlink()

    def delete(self, unique_id: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.final_path(blob_key(unique_id)).unlink()

    # --- reading ------------------------------------------------------------------------------

    def open(self, unique_id: str) -> BinaryIO:
        return open(self.final_path(blob_key(unique_id)), "rb")

    def exists(self, unique_id: str) -> bool:
        return self.final_path(blob_key(unique_id)).is_file()

    # --- recovery -----------------------------------------------------------------------------

    def staged_keys(self, older_than: float = 0.0) -> list[tuple[str, Path]]:
        """(key, path) of staged files last written more than `older_than` seconds ago."""
        if not self.staging.is_dir():
            return []
        limit = time.time() - older_than
        found = []
        for path in self.staging.iterdir():
            if path.name.endswith(".staged") and path.stat().st_mtime <= limit:
                found.append((path.name.split(".", 1)[0], path))
        return found

    def sweep(self, is_committed: Callable[[str], bool], older_than: float) -> tuple[int, int]:
        """Finish or drop what a crash left in staging: a blob whose row committed is moved
        into place, any other older than `older_than` seconds is deleted. (finished, dropped)"""
        finished = dropped = 0
        for key, path in self.staged_keys(older_than):
            if is_committed(key):
                final = self.final_path(key)
                final.parent.mkdir(parents=True, exist_ok=True)
                os.replace(path, final)
                finished += 1
            else:
                path.unlink(missing_ok=True)
                dropped += 1
        return finished, dropped

    def final_keys(self) -> Iterable[str]:
        for path in self.root.glob("??/??/*"):
            if path.is_file():
                yield path.name

    def check_writable(self) -> tuple[bool, str]:
        """(writable, detail) for /health; never raises."""
        try:
            self.ensure()
            descriptor, name = tempfile.mkstemp(prefix=".health-", dir=self.staging)
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
