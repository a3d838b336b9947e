"""Signed submission sets over real HTTP, on a server in the cisis profile (which requires them):
a set signed by `xds-server submit --sign-key --sign-cert` is accepted, its signature document
is retrieved like any other and found by GetRelatedDocuments with `signs`; a DMP client's
layout is accepted; an unsigned set (ITI-41 and ITI-42) and an altered one are refused with the
error naming why, leaving nothing behind; each verification is in the audit trail and in its
ATNA export."""

from __future__ import annotations

import hashlib
import sqlite3
import time
import uuid

import pytest
from lxml import etree

from xds_server.config import ConfigError
from xds_server.consumer.documents import PROVIDE, provide_request
from xds_server.consumer.metadata import submit_objects_request
from xds_server.consumer.queries import STORED_QUERY, adhoc_query, find_documents_request
from xds_server.consumer.transport import SoapClient
from xds_server.dsig.produce import sign_submission
from xds_server.dsig.vocabulary import C14N
from xds_server.model.content import Attachment
from xds_server.store.documents import blob_key

from .cda_data import CR_BIO, LEVEL1, TEST_INS
from .cli_run import run_in_process as run_cli  # one shell call a family: test_cli_client.py
from .conftest import start_server, stop_server
from .dsig_data import cda_submission, fake_signed_submission, fresh, signed_submission
from .test_dsig_verify import drim_signature

pytestmark = pytest.mark.http   # these tests talk to a server over loopback

DS = "{http://www.w3.org/2000/09/xmldsig#}"
RIM = "{urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0}"
GET_RELATED = "urn:uuid:d90e5407-b356-4d91-a89f-873917b4b0e6"
SIGNS = "urn:ihe:iti:2007:AssociationType:signs"
REGISTER = "urn:ihe:iti:2007:RegisterDocumentSet-b"
OWN = "1.2.250.1.999.30"            # the server's repository
VERIFYING = "1.2.250.1.999.3"       # a repository elsewhere that verifies signatures


@pytest.fixture(scope="module")
def server(tmp_path_factory, authority):
    data_dir = tmp_path_factory.mktemp("dsig") / "var"
    env = {"XDS_DATA_DIR": str(data_dir), "XDS_PROFILE": "cisis", "XDS_SECURITY": "none",
           "XDS_ACCEPT_TEST_INS": "true", "XDS_REPOSITORY_UNIQUE_ID": OWN,
           "XDS_SIGNATURE_VERIFYING_REPOSITORIES": VERIFYING,
           "XDS_SIGNATURE_TRUSTED_CERTS": str(authority.trusted)}
    assert run_cli("patient", "add", TEST_INS, env=env).returncode == 0
    process, url, _ = start_server(data_dir, env, workers=1)
    yield url, data_dir
    stop_server(process)


def seal_options(authority, name="seal"):
    key, certificate = authority.files(name)
    return ["--sign-key", str(key), "--sign-cert", str(certificate)]


def provide(url, submission, documents):
    payload, binaries = provide_request(submission, documents)
    reply = SoapClient(url + "/xds/repository").call(PROVIDE, payload, binaries=binaries)
    errors = [(e.get("errorCode"), e.get("codeContext"), e.get("location"))
              for e in reply.payload.iter("{*}RegistryError")]
    return reply.payload.get("status", "").rsplit(":", 1)[-1], errors


def registered(url, unique_ids):
    reply = SoapClient(url + "/xds/registry").call(STORED_QUERY, find_documents_request(
        TEST_INS, ["Approved"]))
    held = {e.get("value") for e in reply.payload.iter(f"{RIM}ExternalIdentifier")}
    return [u for u in unique_ids if u in held]


def test_a_set_signed_by_the_client_is_accepted_and_its_signature_retrieved(
        server, authority, tmp_path):
    url, data_dir = server
    files = [fresh(CR_BIO, tmp_path), fresh(LEVEL1, tmp_path)]
    submitted = run_cli("submit", *map(str, files), "--patient", TEST_INS, "--repository",
                        url + "/xds/repository", *seal_options(authority))
    assert submitted.returncode == 0, submitted.stderr + submitted.stdout
    lines = submitted.stdout.splitlines()
    assert len(lines) == 3 and lines[2].endswith("Source Signature  (text/xml)")
    documents, signature = [line.split()[0] for line in lines[:2]], lines[2].split()[0]
    out = tmp_path / "signature.xml"
    fetched = run_cli("retrieve", signature, "--out", str(out), "--repository",
                      url + "/xds/repository", "--registry", url + "/xds/registry")
    assert fetched.returncode == 0, fetched.stderr
    root = etree.fromstring(out.read_bytes())
    assert root.tag == f"{DS}Signature"
    signed = [r.get("URI") for r in root.find(f".//{DS}Manifest")]
    assert signed[1:] == [f"urn:oid:{u}" for u in documents]      # after the set's
    key = blob_key(signature)                                      # stored like any other
    assert (data_dir / "documents" / key[:2] / key[2:4] / key).is_file()


def test_get_related_documents_with_signs_finds_the_signature(server, authority, tmp_path):
    url, _ = server
    document = fresh(LEVEL1, tmp_path)
    submitted = run_cli("submit", str(document), "--patient", TEST_INS, "--repository",
                        url + "/xds/repository", *seal_options(authority))
    assert submitted.returncode == 0, submitted.stderr
    unique_id, signature = (line.split()[0] for line in submitted.stdout.splitlines())
    reply = SoapClient(url + "/xds/registry").call(STORED_QUERY, adhoc_query(GET_RELATED, {
        "$XDSDocumentEntryUniqueId": unique_id, "$AssociationTypes": [SIGNS]}))
    found = {e.get("value") for e in reply.payload.iter(f"{RIM}ExternalIdentifier")
             if e.get("identificationScheme") == "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab"}
    assert found == {unique_id, signature}
    assert [a.get("associationType") for a in reply.payload.iter(f"{RIM}Association")] == [SIGNS]


def test_a_drimbox_style_signature_is_accepted(server, authority, tmp_path):
    """Default namespace, each CDA digested as canonical XML with the transform (SHA-256:
    SHA-1, the DRIMbox's, needs XDS_SIGNATURE_ACCEPT_SHA1, tests/test_dsig_verify.py)."""
    url, _ = server
    submission, documents = cda_submission([fresh(CR_BIO, tmp_path)], TEST_INS)
    content = drim_signature(authority, submission, documents, digest="sha256")
    entry, _ = sign_submission(submission, documents, authority.seal())
    documents[entry.entry_uuid] = Attachment.from_bytes(content, "text/xml")
    entry.hash, entry.size = None, None       # the repository computes them
    assert provide(url, submission, documents) == ("Success", [])


def test_an_unsigned_set_is_refused_by_the_repository_and_the_registry(server, tmp_path):
    url, _ = server
    document = fresh(LEVEL1, tmp_path)
    refused = run_cli("submit", str(document), "--patient", TEST_INS, "--repository",
                      url + "/xds/repository")
    assert refused.returncode != 0
    assert "XDSRepositoryMetadataError" in refused.stderr
    assert "the submission set is not signed" in refused.stderr
    submission, _ = cda_submission([document], TEST_INS)
    entry = submission.documents[0]
    entry.hash, entry.size, entry.repository_unique_id = "0" * 40, "1", "1.2.3"
    reply = SoapClient(url + "/xds/registry").call(REGISTER, submit_objects_request(submission))
    assert any(e.get("errorCode") == "XDSRegistryMetadataError" and
               "not signed" in e.get("codeContext") for e in reply.payload.iter("{*}RegistryError"))
    assert registered(url, [entry.unique_id]) == []


def test_iti42_takes_the_metadata_of_a_signed_set(server, authority, tmp_path):
    """A repository elsewhere verified the bytes (XDS_SIGNATURE_VERIFYING_REPOSITORIES); the
    registry checks the metadata part."""
    url, _ = server
    submission, documents, entry = signed_submission(authority, [fresh(LEVEL1, tmp_path)],
                                                     TEST_INS)
    for document in submission.documents:
        content = documents[document.entry_uuid].read_bytes()
        document.hash = hashlib.sha1(content).hexdigest()
        document.size, document.repository_unique_id = str(len(content)), VERIFYING
    reply = SoapClient(url + "/xds/registry").call(REGISTER, submit_objects_request(submission))
    assert reply.payload.get("status").endswith(":Success"), etree.tostring(reply.payload)
    entry.type_code = None                                  # no longer a signature's codes
    submission.submission_set.unique_id = f"2.25.{uuid.uuid4().int}"
    for document in submission.documents:
        document.unique_id = f"2.25.{uuid.uuid4().int}"
    reply = SoapClient(url + "/xds/registry").call(REGISTER, submit_objects_request(submission))
    contexts = [e.get("codeContext") for e in reply.payload.iter("{*}RegistryError")]
    assert any("typeCode missing: a signature document's is 'E1762'" in c for c in contexts)


def register_directly(url, submission):
    reply = SoapClient(url + "/xds/registry").call(REGISTER, submit_objects_request(submission))
    return reply.payload.get("status", "").rsplit(":", 1)[-1], [
        (e.get("errorCode"), e.get("codeContext")) for e in reply.payload.iter("{*}RegistryError")]


@pytest.mark.parametrize("repository, says", [
    (OWN, f"names this server's repository ({OWN}), which holds no document of this patient"),
    ("1.2.250.1.999.4", "XDS_SIGNATURE_VERIFYING_REPOSITORIES"),
], ids=["our-repository", "unknown-repository"])
def test_iti42_with_a_fake_signature_document_is_refused(server, tmp_path, repository, says):
    """Outside test 19, F01: ITI-42 straight to the registry with a fake signature entry (its
    codes, a `signs` association, hash 000…) naming our repository, whose bytes were never
    stored there, or an unknown one: registered 'signed', though nothing was verified."""
    url, _ = server
    submission, fake = fake_signed_submission(fresh(LEVEL1, tmp_path), TEST_INS, repository)
    status, errors = register_directly(url, submission)
    assert status == "Failure"
    assert any(code == "XDSRegistryMetadataError" and fake.unique_id in context and says
               in context for code, context in errors), errors
    assert registered(url, [d.unique_id for d in submission.documents]) == []


def test_a_comment_added_after_signing_under_c14n_without_comments_is_refused(
        server, authority, tmp_path, monkeypatch):
    """Outside test 19, F02: the Reference declared C14N without comments, so a comment added
    to the CDA after signing still matched its digest."""
    from .test_dsig_transforms import add_comment, signed_with

    url, _ = server
    submission, documents, entry = signed_with(authority, C14N, monkeypatch)
    data = documents[entry.entry_uuid].read_bytes()
    documents[entry.entry_uuid] = Attachment.from_bytes(add_comment(data), "text/xml")
    for document in submission.documents:
        document.hash, document.size = None, None       # the repository computes them
    status, errors = provide(url, submission, documents)
    assert status == "Failure"
    assert any(f"declares the transform {C14N}" in context for _, context, _ in errors), errors
    assert registered(url, [entry.unique_id]) == []


@pytest.mark.parametrize("attack, says", [
    ("swap", "documents swapped after signing"),
    ("impostor", "which is not an authority this server trusts"),
])
def test_an_attacked_set_is_refused_and_leaves_nothing(server, authority, tmp_path, attack,
                                                       says):
    url, data_dir = server
    paths = [fresh(CR_BIO, tmp_path), fresh(LEVEL1, tmp_path)]
    submission, documents, _ = signed_submission(
        authority, paths, TEST_INS, seal="impostor" if attack == "impostor" else "seal")
    if attack == "swap":
        first, second = (d.entry_uuid for d in submission.documents[:2])
        documents[first], documents[second] = documents[second], documents[first]
    status, errors = provide(url, submission, documents)
    assert status == "Failure"
    assert any(code == "XDSRepositoryMetadataError" and says in context
               for code, context, _ in errors), errors
    assert registered(url, [d.unique_id for d in submission.documents]) == []
    keys = {blob_key(d.unique_id) for d in submission.documents}
    assert [p for p in (data_dir / "documents").rglob("*") if p.name.split(".")[0] in keys] \
        == []                                   # nothing stored, staged or final


def test_each_verification_is_audited_and_exported(server, authority, tmp_path):
    url, data_dir = server
    document = fresh(LEVEL1, tmp_path)
    assert run_cli("submit", str(document), "--patient", TEST_INS, "--repository",
                   url + "/xds/repository", *seal_options(authority)).returncode == 0
    assert run_cli("submit", str(fresh(LEVEL1, tmp_path)), "--patient", TEST_INS,
                   "--repository", url + "/xds/repository",
                   *seal_options(authority, "expired")).returncode != 0
    deadline = time.monotonic() + 10        # written by the server's audit writer thread
    while True:
        with sqlite3.connect(data_dir / "registry.sqlite3") as db:
            rows = db.execute("SELECT outcome, action, documents, detail FROM audit_events "
                              "WHERE \"transaction\" = 'DSG' ORDER BY id").fetchall()
        if any("had expired" in row[3] for row in rows) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    outcomes = [row[0] for row in rows]
    assert "success" in outcomes and "failure" in outcomes
    success = next(row for row in rows if row[0] == "success")
    assert success[1] == "R" and "signature=valid" in success[3] and "signer=" in success[3]
    expired = [row for row in rows if row[0] == "failure" and "had expired" in row[3]]
    assert expired and "signature=refused" in expired[0][3]
    exported = run_cli("audit", "export", "--since", "2000-01-01", "--out",
                       str(tmp_path / "audit.xml"), "--data-dir", str(data_dir))
    assert exported.returncode == 0, exported.stderr
    messages = etree.parse(str(tmp_path / "audit.xml")).getroot()
    dsg = [m for m in messages if m.find("EventIdentification/EventTypeCode").get("code")
           == "urn:ihe:iti:dsg"]
    assert dsg and dsg[0].find("EventIdentification/EventID").get("code") == "110007"


def test_the_cisis_profile_needs_trusted_authorities_or_the_requirement_off(make_settings):
    from xds_server.app import create_app

    with pytest.raises(ConfigError, match="XDS_REQUIRE_SUBMISSION_SIGNATURE=true \\(the "
                                          "default in the cisis profile\\) needs "
                                          "XDS_SIGNATURE_TRUSTED_CERTS"):
        create_app(make_settings(profile="cisis"))
    assert create_app(make_settings(profile="cisis", require_submission_signature=False))
    assert make_settings(profile="ihe").require_submission_signature is False
