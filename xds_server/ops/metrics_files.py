"""The multiprocess metrics' files, given their disk blocks when made.

prometheus-client makes each worker's file by truncating it to 1 MiB (and doubles it the same
way): a sparse file whose pages get blocks only when first written. On a disk filled meanwhile,
that first write is a fault the kernel answers with SIGBUS (tmpfs): the worker died after
serving a read, was restarted and died again, so a full disk stopped the reads too (issue 18).
Allocating the blocks up front (posix_fallocate) turns that into an ENOSPC at the moment the
file is made, and a worker whose files hold their blocks never faults on them; a worker that
cannot make its file keeps its values aside, in memory, and serves on."""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile

from prometheus_client import mmap_dict, values

log = logging.getLogger("xds_server.ops")


def _allocate(filename: str, size: int, descriptor: int | None = None) -> bool:
    """Blocks for `size` bytes of the file (by its open descriptor when given: an aside file
    has no name any more)."""
    try:
        if descriptor is not None:
            os.posix_fallocate(descriptor, 0, size)
            return True
        with open(filename, "a+b") as handle:
            os.posix_fallocate(handle.fileno(), 0, size)
        return True
    except OSError as exc:
        log.error("metrics file %s: %s: free space in the data directory", filename,
                  exc.strerror or exc)
        return False


def _aside(filename: str) -> str:
    """Where a worker that cannot make its file on a full disk keeps its values instead: a
    private file in memory (/dev/shm), so it serves on, its samples left out of /metrics."""
    with contextlib.suppress(OSError):
        os.unlink(filename)
    handle, aside = tempfile.mkstemp(prefix="xds-metrics-", suffix=".db",
                                     dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
    os.close(handle)
    os.unlink(aside)
    log.error("metrics of process %d kept aside in %s until it restarts (not in /metrics)",
              os.getpid(), aside)
    return aside


class AllocatedMmapedDict(mmap_dict.MmapedDict):
    """prometheus-client's MmapedDict whose file holds its blocks from the start and on growth."""

    def __init__(self, filename: str, read_mode: bool = False) -> None:
        aside = False
        if not read_mode and not (os.path.exists(filename) and os.path.getsize(filename)) \
                and not _allocate(filename, mmap_dict._INITIAL_MMAP_SIZE):
            filename, aside = _aside(filename), True
            _allocate(filename, mmap_dict._INITIAL_MMAP_SIZE)
        super().__init__(filename, read_mode)
        if aside:       # open and mapped: its name is not needed, and outlived the server
            with contextlib.suppress(OSError):     # in /dev/shm (64 KiB a worker, each HUP)
                os.unlink(filename)

    def _init_value(self, key: str) -> None:
        capacity = self._capacity
        super()._init_value(key)
        if self._capacity != capacity:
            _allocate(self._fname, self._capacity, self._f.fileno())


def install() -> None:
    """Make prometheus-client's per-process values use AllocatedMmapedDict (before any metric
    of the process is made)."""
    values.MmapedDict = AllocatedMmapedDict
