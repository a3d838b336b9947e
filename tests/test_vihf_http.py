"""XDS_SECURITY=vihf over real HTTP: a server that trusts a test authority answers a caller with
a signed VIHF, refuses the rest with a SOAP fault saying why, and refuses a request about a
patient the VIHF is not for."""

from __future__ import annotations

import copy
import time

import pytest
from lxml import etree

from xds_server.consumer.documents import PROVIDE, provide_request
from xds_server.consumer.queries import STORED_QUERY, find_documents_request
from xds_server.consumer.sources import SourceOptions, submission_for_files
from xds_server.consumer.transport import SoapClient
from xds_server.model.content import Attachment

from .cda_data import CR_BIO, TEST_INS
from .conftest import start_server, stop_server
from .test_conformance import run_cli
from .vihf_data import SigningAuthority, assertion, security_header

pytestmark = pytest.mark.http   # every test here talks to a server over loopback

OTHER = "1850675123456^^^&1.2.250.1.213.1.4.10&ISO^NH"


@pytest.fixture(scope="module")
def secured(tmp_path_factory):
    root = tmp_path_factory.mktemp("vihf-server")
    authority = SigningAuthority.create(root / "ca")
    data_dir = root / "var"
    env = {"XDS_DATA_DIR": str(data_dir), "XDS_PROFILE": "cisis", "XDS_SECURITY": "vihf",
           "XDS_VIHF_TRUSTED_CERTS": str(authority.trusted), "XDS_ACCEPT_TEST_INS": "true",
           # about the VIHF (and the DMP services, tests/test_dmp_services.py): unsigned sets
           "XDS_REQUIRE_SUBMISSION_SIGNATURE": "false"}
    for patient in (TEST_INS, OTHER):
        assert run_cli("patient", "add", patient, env=env).returncode == 0
    process, url, _ = start_server(data_dir, env, workers=1)
    yield authority, url, env
    stop_server(process)


def vihf(authority, patient: str = TEST_INS, **options) -> etree._Element:
    return security_header(authority.sign(assertion(patient, **options)))


def query(url: str, patient: str, header: etree._Element | None):
    return SoapClient(url + "/xds/registry").call(
        STORED_QUERY, find_documents_request(patient, ["Approved"]),
        extra_headers=[header] if header is not None else [])


def test_a_signed_vihf_is_accepted(secured):
    authority, url, _ = secured
    reply = query(url, TEST_INS, vihf(authority))
    assert reply.fault is None and reply.payload.get("status").endswith(":Success")


def test_without_a_vihf_the_fault_says_so(secured):
    _, url, _ = secured
    reply = query(url, TEST_INS, None)
    assert reply.status == 400 and reply.fault is not None
    assert any(code.endswith(":InvalidSecurity") for code in reply.fault.subcodes), \
        reply.fault.subcodes
    assert "no wsse:Security header" in reply.fault.reason


def test_a_tampered_vihf_is_refused(secured):
    authority, url, _ = secured
    header = vihf(authority)
    forged = copy.deepcopy(header)
    value = next(v for v in forged.iter("{*}AttributeValue") if (v.text or "").startswith("27"))
    value.text = OTHER
    reply = query(url, OTHER, forged)
    assert reply.fault is not None and "does not verify" in reply.fault.reason


def test_a_request_about_another_patient_is_refused(secured):
    authority, url, _ = secured
    reply = query(url, OTHER, vihf(authority, TEST_INS))
    assert reply.fault is None and reply.payload.get("status").endswith(":Failure")
    codes = [e.get("errorCode") for e in reply.payload.iter("{*}RegistryError")]
    assert codes == ["XDSPatientIdDoesNotMatch"]


def test_a_submission_with_a_vihf(secured):
    authority, url, _ = secured
    submission, _ = submission_for_files([CR_BIO], TEST_INS, SourceOptions())
    payload, binaries = provide_request(submission, {
        "Document01": Attachment.from_bytes(CR_BIO.read_bytes(), "text/xml")})
    reply = SoapClient(url + "/xds/repository").call(
        PROVIDE, payload, binaries=binaries, extra_headers=[vihf(authority)])
    assert reply.fault is None and reply.payload.get("status").endswith(":Success"), \
        etree.tostring(reply.payload)[:600]


def test_every_transaction_is_traced_and_exported(secured, tmp_path):
    """The patient's access history names who read and wrote, and why; the export is ATNA."""
    authority, url, env = secured
    reader = vihf(authority, subject="810109999999", purpose="bris_de_glace")
    assert query(url, TEST_INS, reader).fault is None
    for _ in range(10):          # reads are written in batches, a fraction of a second later
        shown = run_cli("audit", "show", "--patient", TEST_INS, env=env)
        assert shown.returncode == 0, shown.stderr
        lines = [line for line in shown.stdout.splitlines() if "810109999999" in line]
        if lines:
            break
        time.sleep(0.3)
    assert lines and "ITI-18" in lines[-1] and "bris_de_glace" in lines[-1]
    out = tmp_path / "audit.xml"
    exported = run_cli("audit", "export", "--out", str(out), "--format", "dicom", env=env)
    assert exported.returncode == 0, exported.stderr
    messages = etree.parse(str(out)).getroot().findall("AuditMessage")
    queries = [m for m in messages if m.find("EventIdentification/EventTypeCode")
               .get("csd-code") == "ITI-18"]
    people = [p.get("UserID") for p in queries[-1].findall("ActiveParticipant")]
    assert queries and "810109999999" in people    # the Human Requestor, beside the caller


def test_a_zeep_client_reaches_a_vihf_server_with_soapheaders(secured):
    """typed-clients.md gave no way for a zeep client to reach a VIHF server (issue 18, m14):
    the signed wsse:Security block goes in `_soapheaders`, zeep sends it as given."""
    zeep = pytest.importorskip("zeep")
    authority, url, _ = secured
    registry = zeep.Client(url + "/xds/registry?wsdl")
    rim = "{urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0}"
    t = registry.get_type

    def slot(name, *values):
        return t(rim + "SlotType1")(name=name, ValueList=t(rim + "ValueListType")(
            Value=list(values)))

    found = registry.service.DocumentRegistry_RegistryStoredQuery(
        ResponseOption={"returnType": "ObjectRef", "returnComposedObjects": True},
        AdhocQuery=t(rim + "AdhocQueryType")(
            id="urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d",
            Slot=[slot("$XDSDocumentEntryPatientId", f"'{TEST_INS}'"),
                  slot("$XDSDocumentEntryStatus",
                       "('urn:oasis:names:tc:ebxml-regrep:StatusType:Approved')")]),
        _soapheaders=[vihf(authority)])
    assert found.status.endswith(":Success")
