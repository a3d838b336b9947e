"""The SOAP core over real HTTP: a gunicorn server started by the tests on a loopback port.

Runs once per database the suite has (the live_server fixture is parametrised).
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import socket
import time
import urllib.request
from urllib.parse import urlsplit

import pytest
import zeep
from lxml import etree

from xds_server.consumer.transport import SoapClient
from xds_server.soap.attachments import Attachment
from xds_server.soap.namespaces import XDSSRV

from .conftest import LIVE_MAX_REQUEST_BYTES
from .soap_messages import BILLION_LAUGHS, XXE, echo_body, envelope

ECHO = "urn:xds-server:2026:Echo"


def get(url: str) -> tuple[int, dict, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def echo_payload(text: str, binaries: list[tuple[bytes, str]]):
    payload = etree.Element(f"{{{XDSSRV}}}Echo", nsmap={"x": XDSSRV})
    payload.text = text
    pairs = []
    for data, content_type in binaries:
        element = etree.SubElement(payload, f"{{{XDSSRV}}}Binary", contentType=content_type)
        pairs.append((element, Attachment.from_bytes(data, content_type)))
    return payload, pairs


def test_health_over_http(live_server):
    status, headers, body = get(live_server.url + "/health")
    report = json.loads(body)
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert report["status"] == "ok"
    assert report["database"]["reachable"] is True
    assert report["database"]["detail"] == live_server.database
    assert report["blob_store"]["writable"] is True


@pytest.mark.parametrize("mtom", [True, False], ids=["mtom", "inline-base64"])
def test_echo_round_trip_with_binary_and_accents(live_server, mtom):
    big = os.urandom(3 * 1024 * 1024)  # over the server's 256 KiB spool threshold
    text = "Lettre de liaison — patiente Zoé Lefèvre, née à Saint-Étienne"
    payload, binaries = echo_payload(text, [(big, "application/pdf"),
                                            (text.encode("utf-8"), "text/plain; charset=utf-8")])
    client = SoapClient(live_server.url + "/xds/repository")
    reply = client.call(ECHO, payload, binaries=binaries, mtom=mtom, message_id="urn:uuid:m-1")
    assert reply.status == 200, reply.fault
    assert reply.mtom is mtom
    assert reply.header("RelatesTo") == "urn:uuid:m-1"
    answer = reply.payload
    assert answer.text == text
    returned = answer.findall(f"{{{XDSSRV}}}Binary")
    assert [reply.binary(e) for e in returned] == [big, text.encode("utf-8")]
    assert returned[0].get("sha1") == hashlib.sha1(big).hexdigest()
    reply.close()
    # the worker removes its spool files once the answer's last byte is written, which can be
    # just after the client has read it: wait for that (a leak never empties the directory)
    spool = live_server.data_dir / "spool"
    deadline = time.monotonic() + 10
    while list(spool.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert list(spool.iterdir()) == []


def test_faults_over_http_carry_status_code_and_request_id(live_server):
    client = SoapClient(live_server.url + "/xds/registry")
    cases = [
        (envelope(echo_body(), action=None), 400, "env:Sender",
         ["wsa:MessageAddressingHeaderRequired"]),
        (envelope(echo_body(), action="urn:ihe:iti:2007:Unknown"), 400, "env:Sender",
         ["wsa:ActionNotSupported"]),
        (envelope(echo_body(), extra_headers='<v:X xmlns:v="urn:v" '
                                             'env:mustUnderstand="true"/>'), 500,
         "env:MustUnderstand", []),
        (envelope(echo_body("<broken>")), 400, "env:Sender", ["xds:MalformedXml"]),
        (XXE, 400, "env:Sender", ["xds:UnsafeXml"]),
        (BILLION_LAUGHS, 400, "env:Sender", ["xds:UnsafeXml"]),
    ]
    for body, status, code, subcodes in cases:
        reply = client.send_raw("application/soap+xml; charset=UTF-8", body)
        fault = reply.fault
        assert (reply.status, fault.code, fault.subcodes) == (status, code, subcodes)
        assert fault.request_id == reply.headers["x-request-id"]
        assert re.search(rf"request_id={fault.request_id} .*fault=", live_server.log())
        assert b"Traceback" not in etree.tostring(reply.envelope)
    assert "Traceback" not in live_server.log()


def test_oversized_request_refused_before_the_body_is_read(live_server):
    """A 200 MiB declaration is answered at once; the server never reads the body."""
    parts = urlsplit(live_server.url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
    declared = 200 * 1024 * 1024
    sock.sendall(f"POST /xds/registry HTTP/1.1\r\nHost: x\r\nContent-Type: application/soap+xml"
                 f"\r\nContent-Length: {declared}\r\n\r\n".encode() + b"<" * 65536)
    started = time.monotonic()
    response = http.client.HTTPResponse(sock)
    response.begin()
    body = response.read()
    sock.close()
    assert time.monotonic() - started < 5
    assert response.status == 413
    assert b"RequestTooLarge" in body and str(LIVE_MAX_REQUEST_BYTES).encode() in body


def test_oversized_chunked_request_is_cut_off(live_server):
    parts = urlsplit(live_server.url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)

    def chunks():
        block = b"A" * (1024 * 1024)
        for _ in range(LIVE_MAX_REQUEST_BYTES // len(block) + 8):
            yield block

    try:
        connection.request("POST", "/xds/registry", body=chunks(),
                           headers={"Content-Type": "application/soap+xml"},
                           encode_chunked=True)
        response = connection.getresponse()
        assert response.status == 413
        assert b"RequestTooLarge" in response.read()
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server answered and closed while we were still sending: also a refusal
    finally:
        connection.close()
    assert "RequestTooLarge" in live_server.log()


def test_wsdl_served_and_loaded_by_zeep(live_server):
    for path, service in (("/xds/registry", "DocumentRegistry"),
                          ("/xds/repository", "DocumentRepository")):
        status, headers, _ = get(live_server.url + path + "?wsdl")
        assert status == 200 and headers["Content-Type"].startswith("text/xml")
        client = zeep.Client(live_server.url + path + "?wsdl")
        service_obj = client.wsdl.services[service]
        port = next(iter(service_obj.ports.values()))
        assert port.binding_options["address"] == live_server.url + path
        assert "Diagnostic_Echo" in port.binding._operations
        operation = port.binding._operations["Diagnostic_Echo"]
        assert operation.soapaction == ECHO


def test_metrics_aggregate_every_worker(live_server):
    client = SoapClient(live_server.url + "/xds/registry")
    _, _, before = get(live_server.url + "/metrics")

    def count(text: bytes) -> float:
        match = re.search(rb'xds_requests_total\{endpoint="registry",front="soap",'
                          rb'outcome="success",transaction="Echo"\} ([0-9.]+)', text)
        return float(match.group(1)) if match else 0.0

    for _ in range(20):  # sync workers: requests land on both processes
        client.call(ECHO, etree.fromstring(echo_body().encode()))
    _, headers, after = get(live_server.url + "/metrics")
    assert headers["Content-Type"].startswith("text/plain")
    assert count(after) - count(before) == 20
    assert b"xds_request_duration_seconds_bucket" in after


def test_request_id_is_logged_for_success_too(live_server):
    client = SoapClient(live_server.url + "/xds/registry")
    reply = client.call(ECHO, etree.fromstring(echo_body().encode()))
    request_id = reply.headers["x-request-id"]
    time.sleep(0.1)
    assert f"request_id={request_id} endpoint=registry transaction=Echo outcome=success" in (
        live_server.log())
