"""Logs: XDS_LOG_FORMAT=json gives one JSON object per line (a request's line with its request
id, transaction, caller, outcome and duration as keys); a fault the caller caused (SOAP 1.1,
malformed XML, an unknown action, a MustUnderstand header) is a WARNING, only the server's own
failures are ERRORs."""

from __future__ import annotations

import json
import logging
import sys
import urllib.error
import urllib.request

import pytest

from xds_server.logs import JsonFormatter
from xds_server.soap.endpoint import fault_level
from xds_server.soap.faults import MUST_UNDERSTAND, RECEIVER, SENDER, VERSION_MISMATCH, SoapFault

from .conftest import call_wsgi, start_server, stop_server
from .soap_messages import echo_body, envelope

SOAP11 = (b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>'
          b"<x/></s:Body></s:Envelope>")
CLIENT_MISTAKES = {
    "soap 1.1": (SOAP11, "text/xml"),
    "malformed xml": (b"<env:Envelope><unclosed>", "application/soap+xml"),
    "unknown action": (envelope(echo_body(), action="urn:nobody:Action"), "application/soap+xml"),
    "must understand": (envelope(echo_body(), extra_headers=(
        '<v:Vendor xmlns:v="urn:vendor" env:mustUnderstand="true">x</v:Vendor>')),
        "application/soap+xml"),
    "not xml": (b"\x00\x01binary", "application/soap+xml"),
}


def post(url: str, body: bytes, content_type: str) -> tuple[int, str]:
    request = urllib.request.Request(url, body, {"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers["X-Request-Id"]
    except urllib.error.HTTPError as error:
        return error.code, error.headers["X-Request-Id"]


@pytest.mark.parametrize("mistake", CLIENT_MISTAKES, ids=list(CLIENT_MISTAKES))
def test_a_clients_mistake_is_a_warning_not_an_error(app, caplog, mistake):
    body, content_type = CLIENT_MISTAKES[mistake]
    with caplog.at_level(logging.INFO, logger="xds_server"):
        result = call_wsgi(app, "POST", "/xds/registry", body, content_type)
    assert result.status in (400, 500)          # SOAP 1.2: VersionMismatch, MustUnderstand 500
    levels = {record.levelname for record in caplog.records if record.name.startswith("xds")}
    assert "WARNING" in levels and "ERROR" not in levels, levels
    # the request's line gives the bytes the client sent, faulted or not (issue 18, R7: 0)
    sizes = [r.xds["size"] for r in caplog.records if hasattr(r, "xds") and "size" in r.xds]
    assert sizes == [len(body)], sizes


def test_only_the_servers_own_failures_are_errors():
    assert fault_level(SoapFault(RECEIVER, "database down")) == logging.ERROR
    for code in (SENDER, VERSION_MISMATCH, MUST_UNDERSTAND):
        assert fault_level(SoapFault(code, "the request")) == logging.WARNING


def test_the_json_format_is_one_object_per_line_with_the_requests_fields():
    formatter = JsonFormatter()
    record = logging.LogRecord("xds_server.soap", logging.INFO, __file__, 1,
                               "request_id=%s done", ("r1",), None)
    record.xds = {"request_id": "r1", "transaction": "ITI-18", "caller": "801234567890",
                  "outcome": "success", "duration_ms": 3.5}
    line = formatter.format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["message"] == "request_id=r1 done" and entry["level"] == "INFO"
    assert entry["transaction"] == "ITI-18" and entry["duration_ms"] == 3.5
    try:
        raise ValueError("boom\nsecond line")
    except ValueError:
        failed = logging.LogRecord("xds_server.soap", logging.ERROR, __file__, 1, "failed", (),
                                   sys.exc_info())
    line = formatter.format(failed)
    assert "\n" not in line and "boom" in json.loads(line)["exception"]


@pytest.mark.http
def test_a_json_log_server_writes_only_json_lines(tmp_path):
    process, url, log_path = start_server(tmp_path, {
        "XDS_PROFILE": "ihe", "XDS_LOG_FORMAT": "json",
        "XDS_DATABASE_URL": f"sqlite:///{tmp_path / 'registry.sqlite3'}"})
    try:
        status, echo_id = post(url + "/xds/registry", envelope(echo_body()),
                               "application/soap+xml")
        assert status == 200
        status, soap11_id = post(url + "/xds/registry", SOAP11, "text/xml")
        assert status == 500
    finally:
        stop_server(process)
    lines = [line for line in log_path.read_text().splitlines() if line.strip()]
    entries = [json.loads(line) for line in lines]       # every line, gunicorn's included
    assert any(entry["logger"].startswith("gunicorn") for entry in entries)
    [echo] = [e for e in entries if e.get("request_id") == echo_id and "outcome" in e]
    assert (echo["front"], echo["transaction"], echo["outcome"], echo["status"]) == \
        ("soap", "Echo", "success", 200)
    assert echo["caller"] and echo["duration_ms"] >= 0 and echo["level"] == "INFO"
    assert echo["client"] == "127.0.0.1"
    soap11 = [e for e in entries if e.get("request_id") == soap11_id]
    assert soap11 and {e["level"] for e in soap11} <= {"INFO", "WARNING"}
    assert any(e.get("subcode") for e in soap11 if e["level"] == "WARNING")


@pytest.mark.parametrize(("path", "content_type"), [
    ("/fhir", "application/fhir+json"),
    ("/fhir/DocumentReference/_search", "application/x-www-form-urlencoded"),
    ("/dmp/patients", "application/soap+xml")])
def test_every_fronts_request_line_gives_the_bytes_read(app, caplog, path, content_type):
    """The DMP and FHIR fronts' request lines had no size (issue 18, m1); monitoring.md gives
    it for every request line."""
    body = b"{not json, not xml" + b" " * 100
    with caplog.at_level(logging.INFO, logger="xds_server"):
        call_wsgi(app, "POST", path, body, content_type)
    sizes = [r.xds["size"] for r in caplog.records if hasattr(r, "xds") and "status" in r.xds]
    assert sizes == [len(body)], (sizes, [r.getMessage() for r in caplog.records])
