"""Metrics: every family written from start-up (HELP and TYPE before any request), requests,
submissions and retrievals by front and outcome summed over the gunicorn workers, documents and
bytes stored, the audit backlog, the ATNA queue and the database pool, read by Prometheus's own
parser; the API the other fronts call."""

from __future__ import annotations

import time
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.engine import make_url

from xds_server.consumer.documents import RETRIEVE, parse_retrieve, retrieve_request
from xds_server.consumer.transport import SoapClient
from xds_server.ops import metrics as metrics_module
from xds_server.ops.metrics import Gauges, Metrics

from .conftest import DATABASES, database_for, start_server, stop_server
from .crash import open_patient_at, provide_one, repository_id_at
from .registry_data import new_patient

FAMILIES = {
    "xds_requests": "counter", "xds_request_duration_seconds": "histogram",
    "xds_submissions": "counter", "xds_retrievals": "counter",
    "xds_documents_stored": "gauge", "xds_document_bytes_stored": "gauge",
    "xds_audit_backlog": "gauge", "xds_atna_queue": "gauge",
    "xds_db_connections_in_use": "gauge", "xds_db_connections_max": "gauge",
}


def scrape(url: str) -> dict:
    with urllib.request.urlopen(url + "/metrics", timeout=10) as response:
        text = response.read().decode()
    return {family.name: family for family in text_string_to_metric_families(text)}


def value(families: dict, name: str, sample: str | None = None, **labels: str) -> float:
    family = families[name]
    found = [s.value for s in family.samples if s.name == (sample or name)
             and all(s.labels.get(k) == v for k, v in labels.items())]
    return sum(found)


def test_other_fronts_report_through_the_same_families():
    """A FHIR front's ITI-65 is a submission, its ITI-68 a retrieval, under front="fhir"."""
    metrics = Metrics()
    observe = metrics.observer("fhir")
    observe("mhd", "ITI-65", "success", 0.01)
    observe("mhd", "ITI-68", "failure", 0.02)
    observe("mhd", "ITI-67", "success", 0.01)
    families = {f.name: f for f in text_string_to_metric_families(metrics.render().decode())}
    assert value(families, "xds_submissions", "xds_submissions_total", front="fhir",
                 transaction="ITI-65", outcome="success") == 1
    assert value(families, "xds_retrievals", "xds_retrievals_total", front="fhir",
                 outcome="failure") == 1
    assert value(families, "xds_requests", "xds_requests_total", front="fhir") == 3


def test_the_databases_state_is_read_at_most_once_per_period(monkeypatch):
    """An exposed /metrics does not let a caller set the database's load."""
    reads = []
    metrics = Metrics(Gauges(documents_stored=lambda: reads.append(1) or (3, 300)))
    for _ in range(50):
        families = {f.name: f for f in text_string_to_metric_families(metrics.render().decode())}
    assert len(reads) == 1 and value(families, "xds_documents_stored") == 3
    later = time.monotonic() + metrics_module.STATE_SECONDS + 1
    monkeypatch.setattr(metrics_module.time, "monotonic", lambda: later)
    metrics.render()
    assert len(reads) == 2


@pytest.mark.http
@pytest.mark.parametrize("kind", DATABASES)
def test_every_family_from_start_up_then_counted_across_workers(kind, tmp_path):
    with database_for(kind, tmp_path) as database_url:
        process, url, _ = start_server(tmp_path / "var", {
            "XDS_PROFILE": "ihe", "XDS_DATABASE_URL": database_url})
        try:
            started = time.monotonic()
            first = scrape(url)                               # before any request
            assert {name: first[name].type for name in FAMILIES} == FAMILIES
            assert value(first, "xds_documents_stored") == 0
            # the pools of the workers that made their application (operations.md's sizes)
            per_worker = {"sqlite": 15, "postgresql": 10}[make_url(database_url).get_backend_name()]
            assert value(first, "xds_db_connections_max") in (per_worker, 2 * per_worker)

            patient = new_patient()
            open_patient_at(database_url, patient)
            repository = SoapClient(url + "/xds/repository")
            stored = {}
            for size in (1000, 2500):                         # land on both workers, or not
                data = b"x" * size
                status, unique_id = provide_one(repository, patient, data, "text/plain")
                assert status == "Success"
                stored[unique_id] = data
            repository_id = repository_id_at(tmp_path / "var")
            answer = parse_retrieve(repository.call(RETRIEVE, retrieve_request(
                [(repository_id, uid) for uid in stored])))
            assert answer.status == "Success"
            try:                                              # the DMP front: a client fault
                urllib.request.urlopen(urllib.request.Request(
                    url + "/dmp/patients", b"<not-soap/>",
                    {"Content-Type": "application/soap+xml"}), timeout=10)
            except urllib.error.HTTPError as error:
                assert error.code == 400

            time.sleep(max(0.0, metrics_module.STATE_SECONDS + 0.2
                           - (time.monotonic() - started)))
            families = scrape(url)
            assert value(families, "xds_submissions", "xds_submissions_total", front="soap",
                         transaction="ITI-41", outcome="success") == 2
            assert value(families, "xds_retrievals", "xds_retrievals_total", front="soap",
                         transaction="ITI-43", outcome="success") == 1
            assert value(families, "xds_requests", "xds_requests_total", front="dmp",
                         endpoint="patients") == 1
            assert value(families, "xds_documents_stored") == 2
            assert value(families, "xds_document_bytes_stored") == 3500
            assert value(families, "xds_audit_backlog") >= 0
            assert "xds_atna_queue" in families and not families["xds_atna_queue"].samples
        finally:
            stop_server(process)


def test_a_disposed_pool_counts_no_connection(tmp_path):
    """`serve`'s master recovers the repository with an application of its own and lives on:
    its pool was counted in xds_db_connections_max (45 for two SQLite workers; issue 18, R7)."""
    from xds_server.store.database import Database

    database = Database.from_url(f"sqlite:///{tmp_path / 'registry.sqlite3'}")
    capacity = []
    database.watch_pool(lambda _change: None, capacity.append)
    database.dispose()
    assert capacity == [15, 0]
