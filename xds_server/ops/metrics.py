"""Prometheus metrics: requests and latency by endpoint, transaction and outcome.

Under gunicorn each worker is a process, so metrics use prometheus-client's multiprocess mode
when PROMETHEUS_MULTIPROC_DIR is set (the `serve` command sets it before any import of
prometheus_client); in a single process they live in a private registry.
"""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    def __init__(self) -> None:
        self._registry = CollectorRegistry()
        self.requests = Counter("xds_requests", "SOAP requests handled",
                                ("endpoint", "transaction", "outcome"), registry=self._registry)
        self.latency = Histogram("xds_request_duration_seconds", "SOAP request handling time",
                                 ("endpoint", "transaction", "outcome"), buckets=_BUCKETS,
                                 registry=self._registry)

    def observe(self, endpoint: str, transaction: str, outcome: str, seconds: float) -> None:
        self.requests.labels(endpoint, transaction, outcome).inc()
        self.latency.labels(endpoint, transaction, outcome).observe(seconds)

    def render(self) -> bytes:
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry)
        return generate_latest(self._registry)
