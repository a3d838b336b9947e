"""Read audits off the request path: queued, and written in batches by one thread per process.

Changes are audited in their own database transaction (register, update, remove); a read
changes nothing, so its record is written a few milliseconds later, many to a transaction.
A process killed outright loses at most the last interval's records; a normal stop (SIGTERM,
exit) writes them.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from collections.abc import Callable, Sequence

from ..model.audit import AuditEvent, Caller
from . import audit_store
from .database import Database

log = logging.getLogger("xds_server.audit")
MAX_ATTEMPTS = 50        # about a minute of retries before records are reported lost


class ReadAuditWriter:
    def __init__(self, database: Database, interval: float = 0.25,
                 max_batch: int = 1000) -> None:
        self.database = database
        self.interval = interval
        self.max_batch = max_batch
        self._pending: list[AuditEvent] = []
        self._lock = threading.Lock()
        self._flushing = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._failures = 0
        self._woken = False     # the thread was told of the queued records
        # told +n as records are queued and -n as they are written (or lost): the metrics
        self.on_queued: Callable[[int], None] | None = None

    def record(self, caller: Caller, action: str, outcome: str, patient_id: str | None,
               documents: Sequence[str], transaction: str, detail: str = "") -> None:
        """Queue the record of a read, stamped now (when it happened)."""
        event = AuditEvent.of(caller, action, outcome, patient_id, documents, transaction, detail)
        with self._lock:
            self._pending.append(event)
            if self._thread is None or self._pid != os.getpid():   # first use, or after fork
                self._pid = os.getpid()
                self._stop.clear()
                self._thread = threading.Thread(target=self._run, name="audit-writer",
                                                daemon=True)
                self._thread.start()
                atexit.register(self.close)
            wake, self._woken = not self._woken, True
        if self.on_queued is not None:
            self.on_queued(1)
        if wake:        # once per batch: setting an Event takes a lock and notifies
            self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait()
            self._wake.clear()
            if self._stop.wait(self.interval if not self._failures else 1.0):
                break
            self.flush()

    def flush(self) -> bool:
        """Write what is queued; False when the database refused (the records stay queued).
        A batch the thread is writing is written when this returns (one flush at a time):
        a caller that flushes, then reads the trail, sees every record queued before."""
        with self._flushing:
            return self._flush()

    def _flush(self) -> bool:
        with self._lock:
            batch, self._pending = self._pending[:self.max_batch], self._pending[self.max_batch:]
            self._woken = bool(self._pending)
        if not batch:
            return True
        try:
            with self.database.transaction() as uow:
                audit_store.write(uow, batch)
        except Exception as exc:
            self._failures += 1
            if self._failures >= MAX_ATTEMPTS:
                log.error("%d read audit records lost: %s", len(batch), exc)
                self._failures = 0
                self._dequeued(len(batch))
            else:
                with self._lock:
                    self._pending[:0] = batch
                    self._woken = True
                self._wake.set()        # try again after the back-off
                if self._failures == 1:
                    log.warning("read audit records not written yet (%s); retrying", exc)
            return False
        self._failures = 0
        self._dequeued(len(batch))
        if self._pending:
            self._wake.set()
        return True

    def _dequeued(self, count: int) -> None:
        if self.on_queued is not None:
            self.on_queued(-count)

    def close(self) -> None:
        """Stop the thread and write what is left (once: at exit there is no retrying)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=2)
        self._thread = None
        while self._pending and self.flush():     # every batch (a flush writes max_batch)
            pass
        with self._lock:
            if self._pending:
                log.error("%d read audit records lost at exit", len(self._pending))
                self._dequeued(len(self._pending))
                self._pending.clear()
