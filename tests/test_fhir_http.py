"""The FHIR front over real HTTP, with a FHIR client nobody here wrote (fhirpy), against a
server in the cisis profile with the ANS kit, VIHF on the SOAP side and IUA tokens on the FHIR
side: an ANS CDA provided by ITI-65 goes through the same CI-SIS and CDA checks as ITI-41, is
found by ITI-67 (paged, the client following the links) and by ITI-18 (SOAP, VIHF), and
retrieved by ITI-68 byte for byte (ranges too); a contradicting one is refused naming both."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid

import pytest
from fhirpy import SyncFHIRClient
from fhirpy.base.exceptions import OperationOutcome as ClientOutcome

from xds_server.consumer.queries import STORED_QUERY, find_documents_request
from xds_server.consumer.sources import SourceOptions, submission_for_files
from xds_server.consumer.transport import SoapClient

from .cda_data import ANS_KIT, CR_BIO, LEVEL1, TEST_INS
from .conftest import start_server, stop_server
from .fhir_data import provide_bundle
from .hl7v2_data import rewrite_cda
from .iua_data import TokenIssuer
from .test_conformance import run_cli
from .vihf_data import NON_PROFESSIONAL, SigningAuthority, assertion, security_header

pytestmark = pytest.mark.http


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("fhir-http")
    authority = SigningAuthority.create(root / "ca")
    issuer = TokenIssuer.create(root / "iua")
    data_dir = root / "var"
    env = {"XDS_DATA_DIR": str(data_dir), "XDS_PROFILE": "cisis", "XDS_ACCEPT_TEST_INS": "true",
           "XDS_SECURITY": "vihf", "XDS_VIHF_TRUSTED_CERTS": str(authority.trusted),
           "XDS_REQUIRE_SUBMISSION_SIGNATURE": "false",
           **{f"XDS_{k.upper()}": v for k, v in issuer.settings().items()}}
    installed = run_cli("kit", "install", "--from", str(ANS_KIT), env=env)
    assert installed.returncode == 0, installed.stderr
    process, url, _ = start_server(data_dir, env, workers=2)
    assert run_cli("patient", "add", TEST_INS, env=env).returncode == 0
    yield url, authority, issuer
    stop_server(process)


def _bundle(paths, **changes):
    submission, _ = submission_for_files(paths, TEST_INS, SourceOptions())
    for document in submission.documents:
        document.entry_uuid = f"urn:uuid:{uuid.uuid4()}"
        for name, value in changes.items():
            setattr(document, name, value)
    submission.submission_set.entry_uuid = f"urn:uuid:{uuid.uuid4()}"
    return provide_bundle(submission.submission_set,
                          [(d, p.read_bytes()) for d, p in zip(submission.documents, paths,
                                                               strict=True)])


def _client(url, issuer, **claims):
    return SyncFHIRClient(url + "/fhir", authorization=f"Bearer {issuer.token(TEST_INS, **claims)}",
                          extra_headers={"Accept": "application/fhir+json"})


def test_iti65_then_iti67_iti68_and_iti18_over_http(server):
    url, authority, issuer = server
    client = _client(url, issuer)
    answer = client.execute("", method="post", data=_bundle([LEVEL1, CR_BIO]))
    assert answer["type"] == "transaction-response" and len(answer["entry"]) == 5
    # a professional the patient did not authorise sees none of it; the patient sees it all
    doctor = client.resources("DocumentReference").search(
        **{"patient.identifier": f"urn:oid:{TEST_INS.split('&')[1]}|{TEST_INS.split('^')[0]}",
           "status": "current"}).fetch_all()
    assert doctor == []
    client = _client(url, issuer, kind="patient", subject="PATIENT-1")
    found = client.resources("DocumentReference").search(
        **{"patient.identifier": f"urn:oid:{TEST_INS.split('&')[1]}|{TEST_INS.split('^')[0]}",
           "status": "current"}).limit(1).fetch_all()          # one per page: the links
    assert len(found) == 2
    by_title = {d["content"][0]["attachment"]["title"]: d for d in found}
    [bio] = [d for d in found if d["content"][0]["attachment"]["size"] == len(
        CR_BIO.read_bytes())]
    request = urllib.request.Request(bio["content"][0]["attachment"]["url"], headers={
        "Authorization": f"Bearer {issuer.token(TEST_INS, kind='patient')}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.read() == CR_BIO.read_bytes()
    request.add_header("Range", "bytes=0-99")
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 206 and response.read() == CR_BIO.read_bytes()[:100]
    header = security_header(authority.sign(assertion(
        TEST_INS, role=("PATIENT", NON_PROFESSIONAL), speciality=None)))
    reply = SoapClient(url + "/xds/registry").call(
        STORED_QUERY, find_documents_request(TEST_INS, ["Approved"]), extra_headers=[header])
    unique_ids = {e.get("value") for e in reply.payload.iter("{*}ExternalIdentifier")}
    assert {d["masterIdentifier"]["value"].removeprefix("urn:oid:")
            for d in by_title.values()} <= unique_ids


def test_a_cda_contradicting_its_document_reference_is_refused_as_by_iti41(server):
    url, _, issuer = server
    client = _client(url, issuer)
    with pytest.raises(ClientOutcome) as refused:
        client.execute("", method="post", data=_bundle([CR_BIO], title="Autre titre"))
    text = json.dumps(refused.value.resource if hasattr(refused.value, "resource")
                      else str(refused.value))
    assert "XDSRepositoryMetadataError" in text and "Autre titre" in text


def test_without_a_token_or_for_another_patient_nothing(server):
    url, _, issuer = server
    query = (f"/fhir/DocumentReference?patient.identifier=urn:oid:1.2.250.1.213.1.4.10|"
             f"{TEST_INS.split('^')[0]}&status=current")
    with pytest.raises(urllib.error.HTTPError) as anonymous:
        urllib.request.urlopen(url + query, timeout=10)
    assert anonymous.value.code == 401
    other = "2800875123456^^^&1.2.250.1.213.1.4.10&ISO"
    request = urllib.request.Request(url + query, headers={
        "Authorization": f"Bearer {issuer.token(other)}"})
    with pytest.raises(urllib.error.HTTPError) as stranger:
        urllib.request.urlopen(request, timeout=10)
    assert stranger.value.code == 403
    assert json.loads(stranger.value.read())["resourceType"] == "OperationOutcome"


def _fetch(url: str, token: str, method: str = "GET", **headers) -> tuple[int, bytes]:
    request = urllib.request.Request(url, method=method, headers={
        "Authorization": f"Bearer {token}", **headers})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as refused:
        return refused.code, refused.read()


def test_a_masking_update_hides_the_bytes_on_the_wire(server, tmp_path):
    """Issue 16 re-test B1 and M4 over HTTP: after the patient masks a document (MASQUE_PS, a
    new version), a professional in bris de glace gets 404 for it (whole, Range, HEAD) as for
    an unknown document; a lone surrogate in a member name is a 400 the server can write."""
    url, _, issuer = server
    fresh = tmp_path / LEVEL1.name          # its own document id: the server is the module's
    fresh.write_bytes(rewrite_cda(LEVEL1.read_bytes(), document_id=f"2.25.{uuid.uuid4().int}"))
    answer = _client(url, issuer).execute("", method="post", data=_bundle([fresh]))
    assert answer["type"] == "transaction-response"
    rid = next(e["response"]["location"].rsplit("/", 1)[-1] for e in answer["entry"]
               if "/DocumentReference/" in e["response"]["location"])
    patient = issuer.token(TEST_INS, kind="patient", subject=TEST_INS.split("^")[0])
    status, body = _fetch(f"{url}/fhir/DocumentReference/{rid}", patient)
    assert status == 200, body
    binary = json.loads(body)["content"][0]["attachment"]["url"]
    urgent = issuer.token(TEST_INS, subject="810000000077", purpose="bris_de_glace")
    assert _fetch(binary, urgent)[0] == 200
    patch = json.dumps([{"op": "add", "path": "/securityLabel/-", "value": {"coding": [{
        "system": "https://mos.esante.gouv.fr/NOS/TRE_A07-StatutVisibiliteDocument/FHIR/"
                  "TRE-A07-StatutVisibiliteDocument", "code": "MASQUE_PS"}]}}]).encode()
    status, body = _patch(f"{url}/fhir/DocumentReference/{rid}", patient, patch)
    assert status == 200, body.decode()
    unknown = _fetch(f"{binary.rsplit('/', 1)[0]}/1.2.250.999.{uuid.uuid4().int}", urgent)
    for method, headers in (("GET", {}), ("GET", {"Range": "bytes=0-9"}), ("HEAD", {})):
        status, body = _fetch(binary, urgent, method, **headers)
        assert status == 404, (method, headers, body[:200])
        assert method == "HEAD" or json.loads(body)["issue"][0]["code"] == \
            json.loads(unknown[1])["issue"][0]["code"]
    assert _fetch(binary, patient)[0] == 200
    bundle = json.dumps({"resourceType": "Bundle", "type": "transaction", "x\ud800": 1})
    status, body = _patch(f"{url}/fhir", issuer.token(TEST_INS), bundle.encode(), "POST",
                          "application/fhir+json")
    assert status == 400 and json.loads(body)["resourceType"] == "OperationOutcome", body


def _patch(url: str, token: str, body: bytes, method: str = "PATCH",
           content_type: str = "application/json-patch+json") -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, method=method, headers={
        "Authorization": f"Bearer {token}", "Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as refused:
        return refused.code, refused.read()
