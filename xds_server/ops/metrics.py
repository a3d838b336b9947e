"""Prometheus metrics, one set for every front (SOAP and DMP today; FHIR and MLLP reuse them).

A front reports each request with `observe_request(front, endpoint, transaction, outcome,
seconds)` (or the callable `observer(front)` gives it); the transaction's kind (`KINDS`: ITI-41
is a submission, ITI-43 a retrieval…) counts it in the submission and retrieval families too.
State that lives elsewhere is read when scraped: documents and bytes in the repository, the
records waiting for the audit record repository (`Gauges`, callables the wiring gives), each at
most once per `STATE_SECONDS` per process whatever the scrape rate (an exposed /metrics must not
let anyone set the database's load). The read-audit backlog and the database connections in use
are gauges each process keeps.

Under gunicorn each worker is a process: with PROMETHEUS_MULTIPROC_DIR set (the `serve` command
sets it before any import of prometheus_client) counters, histograms and the per-process gauges
are shared through files and summed; without it they live in a private registry. Every family
is declared up front and written, HELP and TYPE lines at least, from the first scrape, even
before a request (multiprocess mode alone writes a family only once it has a sample).
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from . import metrics_files

metrics_files.install()     # the files' blocks allocated when made: no SIGBUS on a full disk

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
STATE_SECONDS = 5.0

Observer = Callable[[str, str, str, float], None]

# transaction → what it does, for the submission and retrieval families (a front with other
# transactions adds its rows here: MHD ITI-65 is a submission, ITI-68 a retrieval)
KINDS: dict[str, str] = {
    "ITI-41": "submission", "ITI-42": "submission", "ITI-65": "submission",
    "ITI-43": "retrieval", "ITI-68": "retrieval",
}
_LABELS = ("front", "endpoint", "transaction", "outcome")


@dataclass(frozen=True)
class Gauges:
    """State read when scraped; each callable may raise (then the family has no sample)."""

    documents_stored: Callable[[], tuple[int, int]] | None = None    # (documents, bytes)
    atna_queue: Callable[[], int] | None = None                      # None: ATNA is off


class Metrics:
    def __init__(self, gauges: Gauges | None = None) -> None:
        self._registry = CollectorRegistry()
        r = self._registry
        self.requests = Counter("xds_requests", "Requests handled, by front (soap, dmp, fhir, "
                                "mllp), endpoint, transaction and outcome", _LABELS, registry=r)
        self.latency = Histogram("xds_request_duration_seconds", "Request handling time",
                                 _LABELS, buckets=_BUCKETS, registry=r)
        self.submissions = Counter("xds_submissions", "Submissions (ITI-41, ITI-42…) by front, "
                                   "transaction and outcome",
                                   ("front", "transaction", "outcome"), registry=r)
        self.retrievals = Counter("xds_retrievals", "Retrievals (ITI-43…) by front, "
                                  "transaction and outcome",
                                  ("front", "transaction", "outcome"), registry=r)
        self.audit_backlog = Gauge("xds_audit_backlog", "Read audit records queued in memory, "
                                   "not yet written to the audit trail", registry=r,
                                   multiprocess_mode="livesum")
        self.audit_lost = Counter("xds_audit_records_lost", "Read audit records that could "
                                  "not be written (each logged at ERROR with its request id)",
                                  registry=r)
        self.db_in_use = Gauge("xds_db_connections_in_use", "Database connections checked "
                               "out of the pools", registry=r, multiprocess_mode="livesum")
        self.db_capacity = Gauge("xds_db_connections_max", "Database connections the pools "
                                 "may open (pool size and overflow, every process)",
                                 registry=r, multiprocess_mode="livesum")
        self._state = _StateCollector(gauges or Gauges())
        self._declared = [self.requests, self.latency, self.submissions, self.retrievals,
                          self.audit_backlog, self.audit_lost, self.db_in_use, self.db_capacity]
        # labelled children by label values: labels() checks and hashes them on every call
        self._children: dict[tuple[str, str, str, str], tuple] = {}
        self._lock = threading.Lock()

    def observe_request(self, front: str, endpoint: str, transaction: str, outcome: str,
                        seconds: float) -> None:
        """One request of any front, with its outcome ('success', 'failure', 'fault:…')."""
        key = (front, endpoint, transaction, outcome)
        children = self._children.get(key)
        if children is None:
            kind = {"submission": self.submissions, "retrieval": self.retrievals}.get(
                KINDS.get(transaction, ""))
            children = (self.requests.labels(*key), self.latency.labels(*key),
                        kind.labels(front, transaction, outcome) if kind is not None else None)
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)
        if children[2] is not None:
            children[2].inc()

    def observer(self, front: str) -> Observer:
        """`observe_request` for one front: the (endpoint, transaction, outcome, seconds)
        callable the SOAP endpoints and the DMP services take."""
        return lambda endpoint, transaction, outcome, seconds: self.observe_request(
            front, endpoint, transaction, outcome, seconds)

    def render(self) -> bytes:
        registry = CollectorRegistry()
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry.register(_Declared(_MultiProcess(), self._declared))
        else:
            registry.register(_Declared(_Registry(self._registry), self._declared))
        registry.register(self._state)
        return generate_latest(registry)


class _MultiProcess:
    """Every process's samples, as prometheus-client's multiprocess collector sums them."""

    def collect(self) -> Iterable[Metric]:
        return multiprocess.MultiProcessCollector(None).collect()


class _Registry:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def collect(self) -> Iterable[Metric]:
        return self.registry.collect()


class _Declared:
    """The collected families, and every declared family that has no sample yet (its HELP and
    TYPE lines: a dashboard or an alert finds the series' name from start-up)."""

    def __init__(self, source, declared: list) -> None:
        self.source, self.declared = source, declared

    def collect(self) -> Iterator[Metric]:
        seen = set()
        for family in self.source.collect():
            seen.add(family.name)
            yield family
        for metric in self.declared:
            for family in metric.describe():
                if family.name not in seen:
                    yield Metric(family.name, family.documentation, family.type)


class _StateCollector:
    """Gauges read from shared state (the database) at scrape, cached STATE_SECONDS."""

    def __init__(self, gauges: Gauges) -> None:
        self.gauges = gauges
        self._cached: tuple[float, list[Metric]] | None = None
        self._lock = threading.Lock()

    def collect(self) -> list[Metric]:
        with self._lock:
            now = time.monotonic()
            if self._cached is None or now - self._cached[0] > STATE_SECONDS:
                self._cached = (now, self._read())
            return self._cached[1]

    def _read(self) -> list[Metric]:
        documents = GaugeMetricFamily("xds_documents_stored",
                                      "Documents the repository holds (committed)")
        size = GaugeMetricFamily("xds_document_bytes_stored",
                                 "Bytes of the documents the repository holds")
        queue = GaugeMetricFamily("xds_atna_queue", "Audit records waiting to be sent to the "
                                  "audit record repository (XDS_ATNA_URL)")
        if self.gauges.documents_stored is not None:
            try:
                count, total = self.gauges.documents_stored()
                documents.add_metric([], count)
                size.add_metric([], total)
            except Exception:       # the database is down: /health says so; no sample here
                pass
        if self.gauges.atna_queue is not None:
            with contextlib.suppress(Exception):
                queue.add_metric([], self.gauges.atna_queue())
        return [documents, size, queue]
