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
from collections.abc import Sequence

from sqlalchemy import Engine

from ..security.principal import Principal
from . import access_store

log = logging.getLogger("xds_server.audit")


class ReadAuditWriter:
    def __init__(self, engine: Engine, interval: float = 0.02, max_batch: int = 1000) -> None:
        self.engine = engine
        self.interval = interval
        self.max_batch = max_batch
        self._pending: list[tuple] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = 0

    def record(self, principal: Principal, action: str, outcome: str, patient_id: str | None,
               documents: Sequence[str], transaction: str) -> None:
        with self._lock:
            self._pending.append((principal, action, outcome, patient_id, tuple(documents),
                                  transaction))
            if self._thread is None or self._pid != os.getpid():   # first use, or after fork
                self._pid = os.getpid()
                self._thread = threading.Thread(target=self._run, name="audit-writer",
                                                daemon=True)
                self._thread.start()
                atexit.register(self.flush)
        self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            self._wake.wait(self.interval)        # let a batch gather
            self.flush()

    def flush(self) -> None:
        with self._lock:
            batch, self._pending = self._pending[:self.max_batch], self._pending[self.max_batch:]
        if not batch:
            return
        try:
            with self.engine.begin() as connection:
                for principal, action, outcome, patient, documents, transaction in batch:
                    access_store.audit(connection, principal, action, outcome, patient,
                                       documents, transaction)
        except Exception:
            log.exception("read audit records could not be written; retrying")
            with self._lock:
                self._pending[:0] = batch
        if self._pending:
            self._wake.set()
