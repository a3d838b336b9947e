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

        # labelled children by label values: labels() checks and hashes them on every call
        self._children: dict[tuple[str, str, str], tuple] = {}

    def observe(self, endpoint: str, transaction: str, outcome: str, seconds: float) -> None:
        key = (endpoint, transaction, outcome)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = (self.requests.labels(*key),
                                               self.latency.labels(*key))
        children[0].inc()
        children[1].observe(seconds)

    def render(self) -> bytes:
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry)
        return generate_latest(self._registry)
