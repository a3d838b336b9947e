"""/health and /metrics in-process, on every database the suite has."""

from __future__ import annotations

import json

from xds_server.app import create_app
from xds_server.store.documents import FilesystemDocumentStore

from .conftest import call_wsgi
from .soap_messages import echo_body, envelope


def test_health_reports_database_and_store(make_app, database_url):
    app = make_app()
    result = call_wsgi(app, "GET", "/health")
    assert result.status == 200
    report = json.loads(result.body)
    assert report["status"] == "ok"
    assert report["database"] == {"reachable": True,
                                  "detail": "sqlite" if "sqlite" in database_url
                                  else "postgresql"}
    assert report["blob_store"]["writable"] is True
    assert report["version"]


def test_health_is_503_when_the_database_is_unreachable(make_settings):
    app = create_app(make_settings(
        database_url="postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2"))
    result = call_wsgi(app, "GET", "/health")
    assert result.status == 503
    report = json.loads(result.body)
    assert report["status"] == "unavailable"
    assert report["database"]["reachable"] is False
    assert "nobody" not in result.body.decode()  # no credentials or URLs in the answer


def test_health_is_503_when_the_store_is_not_writable(make_settings, tmp_path):
    app = create_app(make_settings())
    blocker = tmp_path / "file-not-dir"
    blocker.write_text("x")
    app.document_store = FilesystemDocumentStore(blocker / "documents")
    report = json.loads(call_wsgi(app, "GET", "/health").body)
    assert report["blob_store"]["writable"] is False


def test_metrics_count_requests_by_transaction_and_outcome(make_settings):
    app = create_app(make_settings())
    call_wsgi(app, "POST", "/xds/registry", envelope(echo_body()), "application/soap+xml")
    call_wsgi(app, "POST", "/xds/registry", envelope(echo_body(), action="urn:x"),
              "application/soap+xml")
    text = call_wsgi(app, "GET", "/metrics").body.decode()
    assert ('xds_requests_total{endpoint="registry",front="soap",outcome="success",'
            'transaction="Echo"} 1.0' in text)
    assert 'outcome="fault:wsa:ActionNotSupported",transaction="unknown"} 1.0' in text
    assert "xds_request_duration_seconds_bucket" in text


def test_every_fault_outcome_label_is_prefix_and_code(make_settings):
    """One pattern splits every fault outcome (issue 18, m9: `fault:VersionMismatch` stood
    beside `fault:xds:NotSoapEnvelope`): a SOAP 1.1 message, a body that is no envelope, an
    unknown action."""
    import re

    app = create_app(make_settings())
    soap11 = (b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body/>'
              b"</s:Envelope>")
    call_wsgi(app, "POST", "/xds/registry", soap11, "text/xml")
    call_wsgi(app, "POST", "/xds/registry", b"<not-soap/>", "application/soap+xml")
    call_wsgi(app, "POST", "/xds/registry", envelope(echo_body(), action="urn:x"),
              "application/soap+xml")
    text = call_wsgi(app, "GET", "/metrics").body.decode()
    outcomes = set(re.findall(r'outcome="(fault:[^"]*)"', text))
    assert len(outcomes) == 3, outcomes
    assert all(re.fullmatch(r"fault:[a-z]+:[A-Za-z]+", outcome) for outcome in outcomes), outcomes
    assert "fault:env:VersionMismatch" in outcomes
