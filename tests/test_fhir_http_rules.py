"""The outsider's HTTP findings over real HTTP (a server in a subprocess; fhirpy, the FHIR
client nobody here wrote, where it speaks the case): paging past the LeafClass limit by
following next links (9), POST _search (8), bad input never a 500 (4-6), 413 for a large
search body (18), HEAD and the Allow header of a 405 (27), the status logged is the status sent
(28); and in-process, the same rules where a log or a metric is read."""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
import uuid

import pytest
from fhirpy import SyncFHIRClient

from .conftest import start_server, stop_server
from .fhir_data import fhir, patient_query, provide_bundle
from .registry_data import document, new_patient, submission_set
from .test_conformance import run_cli
from .test_fhir_front import PDF, _provide_soap

LIMIT = 5
DOCUMENTS = 12


def _call(url, method="GET", body=None, headers=None):
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("fhir-rules")
    env = {"XDS_DATA_DIR": str(root), "XDS_PROFILE": "ihe", "XDS_SECURITY": "none",
           "XDS_MAX_LEAF_CLASS_RESULTS": str(LIMIT)}
    process, url, log = start_server(root, env, workers=1)
    try:            # a setup that fails still stops the server
        patient = new_patient()
        assert run_cli("patient", "add", patient, env=env).returncode == 0
        client = SyncFHIRClient(url + "/fhir",
                                extra_headers={"Accept": "application/fhir+json"})
        for _ in range(DOCUMENTS):
            entry = document(patient, f"urn:uuid:{uuid.uuid4()}",
                             mime_type="application/pdf", repository_unique_id=None)
            client.execute("", method="post", data=provide_bundle(
                submission_set(patient, f"urn:uuid:{uuid.uuid4()}"), [(entry, PDF)]))
        yield url, client, patient, log
    finally:
        stop_server(process)


@pytest.mark.http
def test_fhirpy_pages_past_the_leafclass_limit(server):
    _, client, patient, _ = server
    system, value = patient_query(patient).split("=", 1)[1].split("|")
    found = client.resources("DocumentReference").search(
        **{"patient.identifier": f"{system}|{value}", "status": "current"}
    ).limit(3).fetch_all()
    assert len({r["id"] for r in found}) == DOCUMENTS


@pytest.mark.http
def test_post_search_and_its_limits_over_http(server):
    url, _, patient, _ = server
    form = f"{patient_query(patient)}&status=current&_count=4".encode()
    status, _, body = _call(url + "/fhir/DocumentReference/_search", "POST", form,
                            {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 200, body
    bundle = json.loads(body)
    assert bundle["total"] == DOCUMENTS and len(bundle["entry"]) == 4
    status, _, _ = _call(url + "/fhir/DocumentReference/_search", "POST", b"a=" + b"x" * 9000,
                         {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 413


@pytest.mark.http
def test_bad_input_over_http_is_a_400_naming_the_element(server):
    url, _, patient, _ = server
    query = patient_query(patient)
    for search in ("creation=2024-02-30", "creation=ge9999-12-31T23:59:59Z",
                   "type=urn:oid:1.2%7C%00", "period=2025-02-29"):
        status, _, body = _call(f"{url}/fhir/DocumentReference?{query}&status=current&"
                                f"{search}")
        assert status in (200, 400), (search, body)
    entry = document(patient, f"urn:uuid:{uuid.uuid4()}", mime_type="application/pdf",
                     repository_unique_id=None, title="bad\x0btitle")
    bundle = provide_bundle(submission_set(patient, f"urn:uuid:{uuid.uuid4()}"),
                            [(entry, PDF)])
    status, _, body = _call(url + "/fhir", "POST", json.dumps(bundle).encode(),
                            {"Content-Type": "application/fhir+json"})
    assert status == 400, body
    [problem] = json.loads(body)["issue"]
    assert problem["expression"] == ["Bundle.entry[1].resource.content[0].attachment.title"]
    deep = '{"a":' * 200 + "1" + "}" * 200
    status, _, body = _call(url + "/fhir", "POST", deep.encode(),
                            {"Content-Type": "application/fhir+json"})
    assert status == 400, body


@pytest.mark.http
def test_head_and_allow_over_http(server):
    url, _, _, _ = server
    status, headers, body = _call(url + "/fhir/metadata", "HEAD")
    assert status == 200 and body == b"" and int(headers["Content-Length"]) > 100
    status, headers, _ = _call(url + "/fhir/metadata", "DELETE")
    assert status == 405 and headers["Allow"] == "GET, HEAD"
    status, headers, body = _call(url + "/fhir/Binary/1.2.3", "HEAD")
    assert status == 404 and body == b""
    status, headers, _ = _call(url + "/fhir/List/x", "PATCH", b"[]",
                               {"Content-Type": "application/json-patch+json"})
    assert status == 405 and headers["Allow"] == "GET, HEAD"


def test_ranges_are_logged_and_counted_with_the_status_sent(app, patient, caplog):
    entry = _provide_soap(app, patient)
    answer = fhir(app, "GET", f"/DocumentReference?{patient_query(patient)}&status=current")
    path = answer.json["entry"][0]["resource"]["content"][0]["attachment"]["url"]
    path = path.split("/fhir", 1)[1]
    assert entry.unique_id in path
    caplog.set_level(logging.INFO, logger="xds_server.fhir")
    for header, status in (("bytes=999999-", 416), ("bytes=0-9", 206), ("bytes=5-1,2", 200),
                           ("", 200)):
        caplog.clear()
        sent = fhir(app, "GET", path, headers={"Range": header} if header else {})
        assert sent.status == status
        [line] = [r.getMessage() for r in caplog.records if "outcome=" in r.getMessage()]
        assert f"status={status} " in line
        assert ("outcome=failure" in line) == (status == 416)
    head = fhir(app, "HEAD", path)      # in-process: the server's part (no body) is not run
    assert head.status == 200
    assert int(head.headers["content-length"]) == len(PDF)
