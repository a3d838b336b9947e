"""Read audits off the request path: queued, and written in batches by one thread per process.

Changes are audited in their own database transaction (register, update, remove); a read
changes nothing, so its record is written a few milliseconds later, many to a transaction.
A process killed outright loses at most the last interval's records; a normal stop (SIGTERM,
exit) writes them.

One record never costs another: a batch the database refuses is written again record by record,
each in its own transaction, so only a record that fails alone is lost (at once: it would fail
again) while the others are kept; when every record fails the database is down, and the batch is
retried. A lost record is counted (`on_lost`, the xds_audit_records_lost_total metric) and
logged at ERROR with its request id (issue 16 re-test c: a 100-character NameID lost a minute
of every caller's reads on PostgreSQL, seen only in one log line).
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
DOWN_PROBES = 8          # records tried alone, all failing, before the database is judged down


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
        self.on_lost: Callable[[int], None] | None = None      # told n as records are lost

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
            if len(batch) > 1 and self._one_by_one(batch):   # the others failed on their own
                self._failures = 0
                return True
            self._failures += 1
            if self._failures >= MAX_ATTEMPTS:
                self._failures = 0
                self._lose(batch, exc)
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

    def _one_by_one(self, batch: list[AuditEvent]) -> bool:
        """Each record of a refused batch in its own transaction. True when some were written
        (those that failed are lost: they fail alone); False, nothing written, when the first
        DOWN_PROBES all failed: the database is down, and the batch will be retried."""
        failed: list[tuple[AuditEvent, Exception]] = []
        for tried, event in enumerate(batch):
            if tried == len(failed) >= DOWN_PROBES:
                return False
            try:
                with self.database.transaction() as uow:
                    audit_store.write(uow, [event])
            except Exception as exc:
                failed.append((event, exc))
        if len(failed) == len(batch):
            return False
        self._dequeued(len(batch) - len(failed))
        for event, exc in failed:
            self._lose([event], exc)
        if self._pending:
            self._wake.set()
        return True

    def _lose(self, events: Sequence[AuditEvent], exc: BaseException | str) -> None:
        """Records that will not be written: counted and logged, each with its request id."""
        for event in events:
            log.error("read audit record lost: request_id=%s transaction=%s patient=%s: %s",
                      event.request_id, event.transaction, event.patient_id, exc)
        self._dequeued(len(events))
        if self.on_lost is not None:
            self.on_lost(len(events))

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
                self._lose(self._pending, "not written at exit")
                self._pending.clear()
