"""The room the repository keeps on its disk (XDS_MIN_FREE_BYTES): a submission that would leave
less is refused with a precise answer and an ERROR line, while retrievals go on. A filesystem
filled to the last byte also fails the database's writes and, on tmpfs, the metrics' memory maps
(SIGBUS): stopping writes short of it keeps the server answering for what it holds."""

from __future__ import annotations

import errno
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..model.errors import ErrorCode, StorageFull, error

log = logging.getLogger("xds_server.repository")

FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
STORAGE_FULL = "the repository's storage is full: nothing was stored; retry once the " \
    "operator has freed space"


@dataclass(frozen=True)
class StorageRoom:
    path: Path
    min_free_bytes: int

    def free_bytes(self) -> int:
        return shutil.disk_usage(self.path).free

    def check(self, incoming: int) -> None:
        """RegistryFailure (XDSRepositoryError) when `incoming` bytes would leave less room
        than kept."""
        free = self.free_bytes()
        if free - incoming < self.min_free_bytes:
            log.error("repository storage full: %d bytes free on %s, %d asked, %d kept "
                      "(XDS_MIN_FREE_BYTES): submissions are refused until space is freed",
                      free, self.path, incoming, self.min_free_bytes)
            raise full()


    def health(self) -> tuple[bool, str]:
        """(room enough, detail) for /health: below the floor every submission is refused, so
        the store is not writable for what it is there for, though the disk is not full."""
        try:
            free = self.free_bytes()
        except OSError as exc:
            return False, f"{self.path}: {exc.strerror or type(exc).__name__}"
        if free < self.min_free_bytes:
            return False, (f"{self.path}: {free} bytes free, below XDS_MIN_FREE_BYTES "
                           f"({self.min_free_bytes}): submissions are refused (storage full)")
        return True, ""


def full() -> StorageFull:
    return StorageFull([error(ErrorCode.REPOSITORY_ERROR, STORAGE_FULL, "")])


def is_full(exc: OSError) -> bool:
    return exc.errno in FULL_ERRNOS
