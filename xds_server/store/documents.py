"""The filesystem document store (repository/document_store.py's DocumentStore): stage,
commit, open, withdraw, sweep.

A document is written to a staging file and fsynced before the registry commits; it becomes
visible (renamed into place) only after, and leaves its final name (renamed back into staging)
before its removal commits. So a file under its final name is a committed document: a retrieval
finds it, its size and its mime type (an extended attribute written with the bytes) without a
database round trip. File names derive from a hash of the document's uniqueId, never from
client text, and shard into two directory levels.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from ..model.content import Attachment

MIME_TYPE_XATTR = "user.xds.mime-type"
_HAS_XATTR = hasattr(os, "setxattr")   # Linux; elsewhere the database keeps the mime type
STAGED = ".staged"        # bytes written, waiting for their registration to commit
WITHDRAWN = ".withdrawn"  # taken from its final name, waiting for its removal to commit


# the fsyncs of one submission's documents run together (a few threads: they wait on the disk)
_FSYNC_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="document-fsync")


def blob_key(unique_id: str) -> str:
    return hashlib.sha256(unique_id.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class StagedBlob:
    key: str
    path: Path
    size: int
    sha1: str


def _write_mime_type(descriptor: int, mime_type: str | None) -> None:
    """Kept beside the bytes; a filesystem without user attributes leaves the database as the
    only place to read it from (retrieval then asks it)."""
    if mime_type and _HAS_XATTR:
        with contextlib.suppress(OSError):
            os.setxattr(descriptor, MIME_TYPE_XATTR, mime_type.encode("utf-8"))


def _fsync_dir(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


class FilesystemDocumentStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._root = str(self.root)
        self.staging = self.root / ".staging"

    def ensure(self) -> None:
        if not self.staging.is_dir():
            self.staging.mkdir(parents=True, exist_ok=True)

    def final_path(self, key: str) -> Path:
        return Path(self._final_name(key))

    def _final_name(self, key: str) -> str:
        return os.path.join(self._root, key[:2], key[2:4], key)   # joined as text: hot

    # --- writing ------------------------------------------------------------------------------

    def stage(self, unique_id: str, content: Attachment,
              mime_type: str | None = None) -> StagedBlob:
        """Copy (or hard-link, for a spool file on the same disk) the bytes into staging,
        durably, with their mime type; size and SHA-1 are the content's, computed while it was
        received."""
        [staged] = self.stage_all([(unique_id, content, mime_type)])
        return staged

    def stage_all(self, documents: Sequence[tuple[str, Attachment, str | None]]
                  ) -> list[StagedBlob]:
        """`stage` for the documents of one submission: their files written and fsynced at
        once (ext4 commits concurrent fsyncs in one journal transaction), then the staging
        directory fsynced once. A signed set (a CDA and its signature document) cost 0.71x an
        unsigned one with the fsyncs one after the other (bench/dsig.py)."""
        self.ensure()
        if len(documents) == 1:
            staged = [self._write(*documents[0])]
        else:
            futures = [_FSYNC_POOL.submit(self._write, *item) for item in documents]
            outcomes = [future.exception() or future.result() for future in futures]
            failed = [o for o in outcomes if isinstance(o, BaseException)]
            if failed:              # nothing half-staged is left behind
                for outcome in outcomes:
                    if isinstance(outcome, StagedBlob):
                        self.discard(outcome)
                raise failed[0]
            staged = [o for o in outcomes if isinstance(o, StagedBlob)]
        _fsync_dir(self.staging)
        return staged

    def _write(self, unique_id: str, content: Attachment,
               mime_type: str | None) -> StagedBlob:
        key = blob_key(unique_id)
        target = self.staging / f"{key}.{uuid.uuid4().hex}{STAGED}"
        if content.path is not None:
            try:
                os.link(content.path, target)  # same filesystem: no copy
            except OSError:
                shutil.copyfile(content.path, target)
            with open(target, "rb+") as handle:
                _write_mime_type(handle.fileno(), mime_type)
                os.fsync(handle.fileno())
        else:
            with open(target, "wb") as handle:
                handle.write(content.read_bytes())
                handle.flush()
                _write_mime_type(handle.fileno(), mime_type)
                os.fsync(handle.fileno())
        return StagedBlob(key, target, content.size, content.sha1)

    def commit(self, staged: StagedBlob) -> None:
        """Make a staged blob visible under its final name (atomic rename).

        The rename is not fsynced: if a crash loses it, the file is still in staging under a
        committed row, and recovery moves it into place again."""
        final = self.final_path(staged.key)
        try:
            os.replace(staged.path, final)
        except FileNotFoundError:
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staged.path, final)

    def discard(self, staged: StagedBlob) -> None:
        with contextlib.suppress(FileNotFoundError):
            staged.path.unlink()

    def withdraw(self, unique_id: str) -> Path | None:
        """Take a document from its final name before its removal commits (None: no file).
        Then `discard_withdrawn` once it committed, or `restore` if it did not."""
        key = blob_key(unique_id)
        withdrawn = self.staging / f"{key}.{uuid.uuid4().hex}{WITHDRAWN}"
        try:
            os.replace(self.final_path(key), withdrawn)
        except FileNotFoundError:
            return None
        os.utime(withdrawn)   # its age is the removal's, as a staged file's is its provide's:
        return withdrawn      # a sweep with older_than leaves a removal in progress alone

    def restore(self, withdrawn: Path) -> None:
        os.replace(withdrawn, self.final_path(withdrawn.name.split(".", 1)[0]))

    def forget(self, withdrawn: Path) -> None:
        withdrawn.unlink(missing_ok=True)

    # --- reading ------------------------------------------------------------------------------

    def open(self, unique_id: str, mime_type: str | None = None) -> Attachment | None:
        """The committed document's file with its size and mime type (`mime_type`, else the
        one kept with the bytes), or None when the file is not in place, or carries no mime
        type and none is given (written before, or on a filesystem without user attributes):
        the database then has the answer."""
        path = self._final_name(blob_key(unique_id))
        try:
            if mime_type is None:
                if not _HAS_XATTR:
                    return None
                mime_type = os.getxattr(path, MIME_TYPE_XATTR).decode("utf-8")
            size = os.stat(path).st_size
        except (OSError, UnicodeDecodeError):
            return None
        return Attachment(mime_type, "", path=Path(path), size=size)

    def exists(self, unique_id: str) -> bool:
        return self.final_path(blob_key(unique_id)).is_file()

    # --- recovery -----------------------------------------------------------------------------

    def staged_keys(self, older_than: float = 0.0,
                    suffixes: tuple[str, ...] = (STAGED,)) -> list[tuple[str, Path]]:
        """(key, path) of staging files with these suffixes last written more than
        `older_than` seconds ago."""
        if not self.staging.is_dir():
            return []
        limit = time.time() - older_than
        found = []
        for path in self.staging.iterdir():
            if path.name.endswith(suffixes) and path.stat().st_mtime <= limit:
                found.append((path.name.split(".", 1)[0], path))
        return found

    def sweep(self, is_committed: Callable[[str], bool], older_than: float = 0.0,
              include_withdrawn: bool = False) -> tuple[int, int]:
        """Finish or drop what a crash left in staging: a file whose row is committed goes
        (back) into place, any other older than `older_than` seconds is deleted. Recovery
        takes withdrawn files too (a removal that did not commit puts its file back); a
        retrieval must not, or it would undo a removal in progress. (finished, dropped)"""
        suffixes = (STAGED, WITHDRAWN) if include_withdrawn else (STAGED,)
        finished = dropped = 0
        for key, path in self.staged_keys(older_than, suffixes):
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
        made: list[str] = []        # removed whatever fails: a full disk left one a probe
        try:
            self.ensure()
            descriptor, name = tempfile.mkstemp(prefix=".health-", dir=self.staging)
            made.append(name)
            try:
                os.write(descriptor, b"ok")
                os.fsync(descriptor)
            finally:
                os.close(descriptor)
            final = name + ".done"
            os.replace(name, final)
            made.append(final)
            return True, str(self.root)
        except OSError as exc:
            return False, f"{self.root}: {exc.strerror or type(exc).__name__}"
        finally:
            for path in made:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
