"""ITI-41 and ITI-43 in-process over SOAP (MTOM and inline base64), on every database."""

from __future__ import annotations

import hashlib
import io
import uuid

import pytest
from lxml import etree

from xds_server.consumer.documents import (
    PROVIDE,
    RETRIEVE,
    parse_retrieve,
    provide_request,
    retrieve_request,
)
from xds_server.consumer.metadata import has_member
from xds_server.consumer.transport import decode_reply, encode_request
from xds_server.model.content import Attachment
from xds_server.model.metadata import Submission
from xds_server.store import repository_store

from .conftest import REFERENCE, call_wsgi
from .registry_data import (
    document,
    new_patient,
    open_patient,
    single_document_submission,
    submission_set,
)

PDF = b"%PDF-1.4\n" + bytes(range(256)) * 300 + b"\n%%EOF\n"


@pytest.fixture
def app(make_app):
    return make_app(profile="ihe", spool_threshold_bytes=16 * 1024)


def exchange(app, action, payload, binaries=(), mtom=True, endpoint="/xds/repository"):
    encoded = encode_request(f"http://testserver{endpoint}", action, payload,
                             binaries=binaries, mtom=mtom)
    body = b"".join(encoded.chunks)
    result = call_wsgi(app, "POST", endpoint, body, encoded.content_type)
    return decode_reply(result.status, result.headers, io.BytesIO(result.body),
                        result.headers["content-type"])


def provide(app, submission, documents, mtom=True):
    payload, binaries = provide_request(
        submission, {k: Attachment.from_bytes(v, "application/pdf") for k, v in documents.items()})
    reply = exchange(app, PROVIDE, payload, binaries, mtom)
    status = reply.payload.get("status", "").rsplit(":", 1)[-1]
    codes = [e.get("errorCode") for e in reply.payload.iter("{*}RegistryError")]
    contexts = [e.get("codeContext") for e in reply.payload.iter("{*}RegistryError")]
    return status, codes, contexts


def retrieve(app, items, mtom=True):
    return parse_retrieve(exchange(app, RETRIEVE, retrieve_request(items), mtom=mtom))


def held_files(app) -> list:
    return [p for p in app.document_store.root.rglob("*") if p.is_file()]


@pytest.mark.parametrize("mtom", [True, False], ids=["mtom", "base64"])
def test_provide_then_retrieve_byte_identical(app, patient, mtom):
    submission = single_document_submission(patient, hash=None, size=None,
                                            repository_unique_id=None, mime_type="application/pdf")
    assert provide(app, submission, {"Document01": PDF}, mtom)[:2] == ("Success", [])
    unique_id = submission.documents[0].unique_id
    result = retrieve(app, [(app.settings.repository_unique_id, unique_id)], mtom)
    assert result.status == "Success"
    [doc] = result.documents
    assert (doc.data, doc.mime_type, doc.document_unique_id) == (PDF, "application/pdf",
                                                                  unique_id)
    with app.database.reading() as uow:
        row = repository_store.documents(uow, [unique_id])[unique_id]
    assert (row.size, row.hash) == (len(PDF), hashlib.sha1(PDF).hexdigest())


def test_registry_gets_the_repository_values(app, patient):
    from .registry_data import run_query

    submission = single_document_submission(patient, hash=None, size=None,
                                            repository_unique_id=None)
    provide(app, submission, {"Document01": PDF})
    reply = run_query(app, "urn:uuid:5c4f972b-d56b-40ac-a5fc-c8ca9b40b9d4",
                      {"$XDSDocumentEntryUniqueId": [submission.documents[0].unique_id]})
    slots = {s.get("name"): s.findtext("{*}ValueList/{*}Value")
             for s in reply.objects("ExtrinsicObject")[0].findall("{*}Slot")}
    assert slots["size"] == str(len(PDF))
    assert slots["hash"] == hashlib.sha1(PDF).hexdigest()
    assert slots["repositoryUniqueId"] == app.settings.repository_unique_id


@pytest.mark.parametrize("given", ["1.19.6.24.109.42.1", None])
def test_the_repository_names_itself_whatever_the_source_says(app, patient, given):
    """ITI TF-2b 3.41.4.1.3: the repository adds or replaces repositoryUniqueId (NIST toolkit
    test 12344 sends its own); only hash and size are the source's to get right."""
    from .registry_data import run_query

    submission = single_document_submission(patient, hash=None, size=None,
                                            repository_unique_id=given)
    assert provide(app, submission, {"Document01": PDF})[:2] == ("Success", [])
    unique_id = submission.documents[0].unique_id
    reply = run_query(app, "urn:uuid:5c4f972b-d56b-40ac-a5fc-c8ca9b40b9d4",
                      {"$XDSDocumentEntryUniqueId": [unique_id]})
    slots = {s.get("name"): s.findtext("{*}ValueList/{*}Value")
             for s in reply.objects("ExtrinsicObject")[0].findall("{*}Slot")}
    assert slots["repositoryUniqueId"] == app.settings.repository_unique_id
    result = retrieve(app, [(app.settings.repository_unique_id, unique_id)])
    assert [d.data for d in result.documents] == [PDF]


def test_source_hash_and_size_must_match(app, patient):
    submission = single_document_submission(patient, hash="0" * 40, size="3",
                                            repository_unique_id=None)
    status, codes, contexts = provide(app, submission, {"Document01": PDF})
    assert status == "Failure"
    assert codes == ["XDSRepositoryMetadataError", "XDSRepositoryMetadataError"]
    assert "DocumentEntry Document01: size '3' given by the source" in contexts[0]
    assert held_files(app) == []


def test_missing_document_and_missing_metadata(app, patient):
    submission = single_document_submission(patient, hash=None, size=None,
                                            repository_unique_id=None)
    status, codes, contexts = provide(app, submission, {"Document99": PDF})
    assert status == "Failure"
    assert sorted(codes) == ["XDSMissingDocument", "XDSMissingDocumentMetadata"]
    assert any("Document99" in c for c in contexts)


def test_registry_errors_pass_through_and_nothing_is_kept(app):
    submission = single_document_submission(new_patient(), hash=None, size=None,
                                            repository_unique_id=None)
    status, codes, _ = provide(app, submission, {"Document01": PDF})
    assert (status, codes) == ("Failure", ["XDSUnknownPatientId"])
    assert held_files(app) == []
    with app.database.reading() as uow:
        assert repository_store.documents(uow, [submission.documents[0].unique_id]) == {}


def test_retrieve_several_with_unknown_and_wrong_repository(app, patient):
    first = single_document_submission(patient, hash=None, size=None, repository_unique_id=None)
    provide(app, first, {"Document01": PDF})
    second = single_document_submission(patient, hash=None, size=None, repository_unique_id=None)
    provide(app, second, {"Document01": b"second"})
    repo = app.settings.repository_unique_id
    result = retrieve(app, [(repo, first.documents[0].unique_id),
                            (repo, second.documents[0].unique_id), (repo, "1.2.3.404"),
                            ("9.9.9", first.documents[0].unique_id)])
    assert result.status == "PartialSuccess"
    assert [d.data for d in result.documents] == [PDF, b"second"]
    assert sorted(code for code, _ in result.errors) == ["XDSDocumentUniqueIdError",
                                                          "XDSUnknownRepositoryId"]
    assert retrieve(app, [(repo, "1.2.3.404")]).status == "Failure"


def test_two_documents_in_one_submission(app, patient):
    package = submission_set(patient)
    docs = [document(patient, f"Document0{i}", hash=None, size=None, repository_unique_id=None)
            for i in (1, 2)]
    submission = Submission(package, docs, associations=[
        has_member("SubmissionSet01", d.entry_uuid) for d in docs])
    assert provide(app, submission, {"Document01": b"one", "Document02": b"two"})[0] == \
        "Success"
    result = retrieve(app, [(app.settings.repository_unique_id, d.unique_id) for d in docs])
    assert [d.data for d in result.documents] == [b"one", b"two"]


def test_resubmission_of_the_same_document_is_idempotent(app, patient):
    submission = single_document_submission(patient, hash=None, size=None,
                                            repository_unique_id=None)
    unique_id = submission.documents[0].unique_id
    assert provide(app, submission, {"Document01": PDF})[0] == "Success"
    again = single_document_submission(patient, unique_id=unique_id, hash=None, size=None,
                                       repository_unique_id=None)
    assert provide(app, again, {"Document01": PDF})[0] == "Success"
    other = single_document_submission(patient, unique_id=unique_id, hash=None, size=None,
                                       repository_unique_id=None)
    assert provide(app, other, {"Document01": b"different"})[1] == ["XDSNonIdenticalHash"]
    assert len(held_files(app)) == 1


def test_inline_document_over_the_limit(make_app):
    """Inline base64 (bounded by the request size): refused by the repository, by name."""
    app = make_app(profile="ihe", max_document_bytes=1000)
    patient = new_patient()
    open_patient(app, patient)
    submission = single_document_submission(patient, hash=None, size=None,
                                            repository_unique_id=None)
    status, codes, contexts = provide(app, submission, {"Document01": PDF}, mtom=False)
    assert (status, codes) == ("Failure", ["XDSRepositoryError"])
    assert "over the limit of 1000" in contexts[0]


def test_nist_validator_pnr_without_document_is_missing_document(app):
    envelope = etree.parse(str(REFERENCE / "xds-messages/nist-validators/pnr_soap.xml")).getroot()
    payload = envelope.find("{*}Body")[0]
    patient = payload.find(".//{*}ExternalIdentifier[@identificationScheme="
                           "'urn:uuid:6b5aea1a-874d-4603-a4bc-96a0a7b38446']").get("value")
    open_patient(app, patient)
    reply = exchange(app, PROVIDE, payload)
    codes = [e.get("errorCode") for e in reply.payload.iter("{*}RegistryError")]
    assert "XDSMissingDocument" in codes


def test_ihe_example_provide_request(app):
    """The IHE ITI-41 example, its patient opened; it carries the hash and size the example's
    own tiny document has, and no repositoryUniqueId, so it registers here."""
    envelope = etree.parse(str(REFERENCE / "xds-messages/ihe-iti-examples/XDS.b/"
                                           "ProvideAndRegisterDocumentSet-bRequest_SOAP.xml"))
    payload = envelope.getroot().find("{*}Body")[0]
    patient = payload.find(".//{*}ExternalIdentifier[@identificationScheme="
                           "'urn:uuid:6b5aea1a-874d-4603-a4bc-96a0a7b38446']").get("value")
    open_patient(app, patient)
    reply = exchange(app, PROVIDE, payload, mtom=False)
    errors = [(e.get("errorCode"), e.get("codeContext"))
              for e in reply.payload.iter("{*}RegistryError")]
    # Its sourceId is not an OID (IHE's own illustrative value): refused by name, nothing kept.
    assert reply.payload.get("status").endswith("Failure")
    assert any("sourceId" in context for _, context in errors)
    assert held_files(app) == []


def test_crash_between_commit_and_rename_is_finished_by_recovery(app, patient):
    submission = single_document_submission(patient, hash=None, size=None,
                                            repository_unique_id=None)
    commit = app.document_store.commit
    app.document_store.commit = lambda staged: None  # the process "dies" before the rename
    try:
        assert provide(app, submission, {"Document01": PDF})[0] == "Success"
    finally:
        app.document_store.commit = commit
    unique_id = submission.documents[0].unique_id
    assert not app.document_store.exists(unique_id) and app.document_store.staged_keys()
    assert app.repository.recover()["finished"] == 1
    assert app.document_store.exists(unique_id)
    result = retrieve(app, [(app.settings.repository_unique_id, unique_id)])
    assert result.documents[0].data == PDF


def test_staged_blob_without_registration_is_dropped(app):
    app.document_store.stage("1.2.3.999", Attachment.from_bytes(b"orphan"))
    assert app.repository.recover()["dropped"] == 1
    assert app.document_store.staged_keys() == [] and not app.document_store.exists("1.2.3.999")


def test_mtom_document_over_the_limit_is_refused_while_it_arrives(make_app):
    """The part is cut off at the limit: never read whole, nothing spooled or stored."""
    app = make_app(profile="ihe", max_document_bytes=100_000, spool_threshold_bytes=4096)
    patient = new_patient()
    open_patient(app, patient)
    submission = single_document_submission(patient, hash=None, size=None,
                                            repository_unique_id=None)
    payload, binaries = provide_request(submission, {"Document01": Attachment.from_bytes(
        b"x" * 1_000_000, "application/pdf")})
    encoded = encode_request("http://testserver/xds/repository", PROVIDE, payload,
                             binaries=binaries)
    result = call_wsgi(app, "POST", "/xds/repository", b"".join(encoded.chunks),
                       encoded.content_type)
    assert result.status == 413
    assert b"DocumentTooLarge" in result.body and b"XDS_MAX_DOCUMENT_BYTES" in result.body
    assert list(app.settings.spool_dir.iterdir()) == []
    assert held_files(app) == []


def test_remove_documents_iti86(app, patient):
    """ITI-86 (IHE RMD): bytes a registry entry still names stay (XDSDocumentUniqueIdError
    naming the uniqueId: a registered document is always retrievable); once ITI-62 removed the
    metadata the repository deletes them (rows and files), names what it does not hold, and says
    PartialSuccess when both happen."""
    from xds_server.consumer.changes import REMOVE_METADATA, remove_objects_request
    from xds_server.consumer.documents import REMOVE, remove_request

    ids = [f"urn:uuid:{uuid.uuid4()}" for _ in range(3)]
    entry = document(patient, ids[0], hash=None, size=None, repository_unique_id=None,
                     mime_type="application/pdf")
    package = submission_set(patient, ids[1])
    submission = Submission(package, [entry], associations=[
        has_member(package.entry_uuid, entry.entry_uuid, entry_uuid=ids[2])])
    assert provide(app, submission, {ids[0]: PDF})[:2] == ("Success", [])
    ours, unique_id = app.settings.repository_unique_id, entry.unique_id
    assert len(held_files(app)) == 1

    registered = exchange(app, REMOVE, remove_request([(ours, unique_id)]))
    assert registered.payload.get("status").endswith(":Failure")
    assert [(e.get("errorCode"), e.get("location")) for e in registered.payload.iter(
        "{*}RegistryError")] == [("XDSDocumentUniqueIdError", unique_id)]
    assert len(held_files(app)) == 1
    assert retrieve(app, [(ours, unique_id)]).documents[0].data == PDF

    metadata = exchange(app, REMOVE_METADATA, remove_objects_request(ids),
                        endpoint="/xds/registry")
    assert metadata.payload.get("status").endswith(":Success"), [
        e.get("codeContext") for e in metadata.payload.iter("{*}RegistryError")]
    reply = exchange(app, REMOVE, remove_request([(ours, unique_id), (ours, "1.2.3.404")]))
    assert reply.payload.get("status").endswith(":PartialSuccess")
    assert [e.get("errorCode") for e in reply.payload.iter("{*}RegistryError")] == [
        "XDSDocumentUniqueIdError"]
    assert held_files(app) == []
    got = retrieve(app, [(ours, unique_id)])
    assert got.status == "Failure" and got.documents == []

    again = exchange(app, REMOVE, remove_request([("9.9.9", unique_id)]))
    assert again.payload.get("status").endswith(":Failure")
    assert [e.get("errorCode") for e in again.payload.iter("{*}RegistryError")] == [
        "XDSUnknownRepositoryId"]
