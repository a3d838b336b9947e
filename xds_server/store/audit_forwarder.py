"""The audit trail sent on to an audit record repository (ATNA, ITI-20), off the request path.

The queue is the trail itself: a record written while forwarding is on carries `atna_pending`,
set in the transaction that writes it (store/audit_store.py), so a record exists for the
repository exactly when it exists for the server, and a repository that is down delays nothing
and loses nothing. One thread per data directory (the holder of `lock_path`, whichever worker
process gets it first; another takes over when its process ends) reads the oldest pending
records, sends them through `send` (which raises OSError when the repository did not take them)
and clears their mark; failures are retried with exponential back-off. A record is sent at
least once: a crash between the send and the clearing sends it again.

The store knows no wire format: `render` (the DICOM audit message in an RFC 5424 frame) and
`send` (TLS or UDP syslog) come from the wiring (app.py).
"""

from __future__ import annotations

import fcntl
import logging
import os
import random
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from ..model.audit import AuditEvent
from . import audit_store
from .database import Database, StoreUnavailable

log = logging.getLogger("xds_server.atna")


class AuditForwarder:
    def __init__(self, database: Database, render: Callable[[AuditEvent], bytes],
                 send: Callable[[Sequence[bytes]], None], lock_path: Path,
                 batch: int = 200, poll_seconds: float = 0.5,
                 max_backoff_seconds: float = 60.0) -> None:
        self.database = database
        self.render = render
        self.send = send
        self.lock_path = lock_path
        self.batch = batch
        self.poll_seconds = poll_seconds
        self.max_backoff_seconds = max_backoff_seconds
        self.failures = 0            # consecutive failed sends (0: the repository takes them)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._lock_file: int | None = None

    def start(self) -> None:
        """Start this process's thread (again after a fork: threads do not survive one)."""
        if self._thread is not None and self._pid == os.getpid():
            return
        self._pid = os.getpid()
        self._lock_file = None
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="atna-forwarder", daemon=True)
        self._thread.start()

    def _leader(self) -> bool:
        """Whether this process sends: it holds the data directory's lock (released by the
        kernel when the process ends, so another worker's thread takes over)."""
        if self._lock_file is not None:
            return True
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(descriptor)
            return False
        self._lock_file = descriptor
        return True

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if not self._leader():
                    self._stop.wait(5.0)
                    continue
                sent = self.forward_once()
            except OSError as exc:
                delay = self._backoff()
                (log.warning if self.failures == 1 else log.info)(
                    "audit record repository unreachable (%s); %d record(s) waiting, next try "
                    "in %.1f s", exc, self.backlog(), delay)
                self._stop.wait(delay)
                continue
            except StoreUnavailable as exc:      # the records wait in the database anyway
                delay = self._backoff()
                log.warning("audit forwarding waits for the database (%s); next try in %.1f s",
                            exc, delay)
                self._stop.wait(delay)
                continue
            except Exception:
                log.exception("audit forwarding failed; retrying")
                self._stop.wait(self._backoff())
                continue
            if self.failures:
                log.info("audit record repository reachable again")
                self.failures = 0
            if sent < self.batch:
                self._stop.wait(self.poll_seconds)

    def _backoff(self) -> float:
        """The wait after a failure: doubling from 1 s to max_backoff_seconds, with jitter so
        that the forwarders of several hosts do not retry in step."""
        self.failures += 1
        delay = min(self.max_backoff_seconds, 0.5 * 2 ** min(self.failures, 10))
        return delay * random.uniform(0.8, 1.2)

    def forward_once(self) -> int:
        """Send the oldest pending records; how many were sent. Raises OSError when the
        repository did not take them (they stay pending)."""
        queued = self.database.read(lambda uow: audit_store.forwarding_queue(uow, self.batch))
        if not queued:
            return 0
        self.send([self.render(item.event) for item in queued])
        with self.database.transaction() as uow:
            audit_store.mark_forwarded(uow, queued)
        return len(queued)

    def backlog(self) -> int:
        """Records waiting for the repository (every process sees the same number)."""
        try:
            return self.database.read(audit_store.forwarding_backlog)
        except Exception:       # the database is down: the health check says so
            return -1

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        self._thread = None
        if self._lock_file is not None and self._pid == os.getpid():
            os.close(self._lock_file)
            self._lock_file = None
