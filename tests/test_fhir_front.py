"""The /fhir front in-process, on every database: ITI-65 ⇄ ITI-18/ITI-43, ITI-41 ⇄ ITI-67/
ITI-68 (byte for byte, ranges), ITI-66, reads, paging, and precise refusals that leave nothing
behind."""

from __future__ import annotations

import uuid

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement

from xds_server.consumer.metadata import has_member
from xds_server.model import vocabulary as v
from xds_server.model.metadata import Submission
from xds_server.model.stored_queries import CodeValue, FindDocuments
from xds_server.security.principal import SYSTEM

from .fhir_data import fhir, patient_query, provide_bundle
from .registry_data import FIND_DOCUMENTS, document, folder, run_query, submission_set
from .test_repository import provide, retrieve

PDF = b"%PDF-1.4\n" + bytes(range(256)) * 40 + b"\n%%EOF\n"


def _urn() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


def _provide_soap(app, patient, content=PDF, **overrides):
    entry = document(patient, "Doc01", content=content, mime_type="application/pdf",
                     repository_unique_id=None, **overrides)
    package = submission_set(patient)
    submission = Submission(package, [entry],
                            associations=[has_member(package.entry_uuid, entry.entry_uuid)])
    status, codes, _ = provide(app, submission, {"Doc01": content})
    assert status == "Success", codes
    return entry


def test_metadata_is_a_capability_statement(app):
    answer = fhir(app, "GET", "/metadata")
    assert answer.status == 200 and answer.headers["content-type"].startswith(
        "application/fhir+json")
    statement = CapabilityStatement.model_validate(answer.json)
    served = {r.type for r in statement.rest[0].resource}
    assert served == {"DocumentReference", "List", "Binary", "Bundle"}


def test_iti41_found_by_iti67_and_retrieved_by_iti68_byte_for_byte(app, patient):
    entry = _provide_soap(app, patient)
    answer = fhir(app, "GET", f"/DocumentReference?{patient_query(patient)}&status=current")
    assert answer.status == 200, answer.body
    bundle = answer.json
    Bundle.model_validate(bundle)
    [found] = [e["resource"] for e in bundle["entry"]]
    assert found["masterIdentifier"]["value"] == f"urn:oid:{entry.unique_id}"
    url = found["content"][0]["attachment"]["url"]
    assert url.startswith("http://testserver:80/fhir/Binary/")
    document_answer = fhir(app, "GET", url.split("/fhir", 1)[1])
    assert document_answer.status == 200 and document_answer.body == PDF
    assert document_answer.headers["content-type"] == "application/pdf"
    assert found["content"][0]["attachment"]["size"] == len(PDF)
    ranged = fhir(app, "GET", url.split("/fhir", 1)[1], headers={"Range": "bytes=100-199"})
    assert ranged.status == 206 and ranged.body == PDF[100:200]
    assert ranged.headers["content-range"] == f"bytes 100-199/{len(PDF)}"
    tail = fhir(app, "GET", url.split("/fhir", 1)[1], headers={"Range": "bytes=-10"})
    assert tail.body == PDF[-10:]
    beyond = fhir(app, "GET", url.split("/fhir", 1)[1],
                  headers={"Range": f"bytes={len(PDF)}-"})
    assert beyond.status == 416
    # no validator is sent, so none an If-Range gives matches: the whole document, 200
    # (RFC 9110 §13.1.5; issue 16 re-test m12)
    for validator in ('"some-etag"', 'W/"x"', "Wed, 21 Oct 2015 07:28:00 GMT"):
        for asked in ("bytes=100-199", f"bytes={len(PDF)}-"):
            whole = fhir(app, "GET", url.split("/fhir", 1)[1],
                         headers={"Range": asked, "If-Range": validator})
            assert whole.status == 200 and whole.body == PDF, (validator, asked)
            assert "content-range" not in whole.headers


def test_iti65_found_by_iti18_and_retrieved_by_iti43(app, patient):
    entry = document(patient, _urn(), mime_type="application/pdf", repository_unique_id=None)
    package = submission_set(patient, _urn())
    answer = fhir(app, "POST", "", provide_bundle(package, [(entry, PDF)]))
    assert answer.status == 200, answer.body
    response = answer.json
    Bundle.model_validate(response)
    assert response["type"] == "transaction-response"
    assert [e["response"]["status"] for e in response["entry"]] == ["201 Created"] * 3
    reply = run_query(app, FIND_DOCUMENTS, {"$XDSDocumentEntryPatientId": patient,
                                            "$XDSDocumentEntryStatus": [v.APPROVED]})
    assert reply.status.endswith("Success")
    [found] = reply.objects("ExtrinsicObject")
    unique_ids = [e.get("value") for e in found.iter("{*}ExternalIdentifier")]
    assert entry.unique_id in unique_ids
    [doc] = retrieve(app, [(app.settings.repository_unique_id, entry.unique_id)]).documents
    assert (doc.data, doc.mime_type) == (PDF, "application/pdf")


def test_iti67_answers_what_finddocuments_answers(app, patient):
    """The same query over both fronts: the same documents, filters and all."""
    for content, code in ((b"a" * 50, "10"), (b"b" * 60, "11"), (b"c" * 70, "10")):
        _provide_soap(app, patient, content,
                      class_code=document(patient).class_code.__class__(
                          code, "1.2.250.1.213.1.1.4.1"))
    xds = app.registry.query(FindDocuments(patient_id=patient, statuses=(v.APPROVED,),
                                           class_codes=(CodeValue("10", "1.2.250.1.213.1.1.4.1"),)),
                             SYSTEM).result.documents
    answer = fhir(app, "GET", f"/DocumentReference?{patient_query(patient)}&status=current"
                              "&category=urn:oid:1.2.250.1.213.1.1.4.1|10")
    assert answer.status == 200
    assert sorted(f"urn:uuid:{e['resource']['id']}" for e in answer.json["entry"]) == \
        sorted(d.entry_uuid for d in xds) and len(xds) == 2


def test_paging_links(app, patient):
    for index in range(5):
        _provide_soap(app, patient, f"doc {index}".encode())
    query = f"/DocumentReference?{patient_query(patient)}&status=current&_count=2"
    first = fhir(app, "GET", query).json
    assert first["total"] == 5 and len(first["entry"]) == 2
    relations = {link["relation"]: link["url"] for link in first["link"]}
    assert "next" in relations and "previous" not in relations
    seen = [e["resource"]["id"] for e in first["entry"]]
    url = relations["next"]
    while url:
        page = fhir(app, "GET", url.split("/fhir", 1)[1]).json
        seen += [e["resource"]["id"] for e in page["entry"]]
        url = {link["relation"]: link["url"] for link in page["link"]}.get("next")
    assert len(seen) == len(set(seen)) == 5


def test_iti66_lists_and_reads(app, patient):
    entry = document(patient, _urn(), mime_type="application/pdf", repository_unique_id=None)
    package = submission_set(patient, _urn())
    box = folder(patient, _urn())
    assert fhir(app, "POST", "", provide_bundle(package, [(entry, PDF)],
                                                [(box, [0])])).status == 200
    lists = fhir(app, "GET", f"/List?{patient_query(patient)}&status=current").json
    kinds = sorted(e["resource"]["code"]["coding"][0]["code"] for e in lists["entry"])
    assert kinds == ["folder", "submissionset"]
    folders = fhir(app, "GET", f"/List?{patient_query(patient)}&code=folder").json
    [found] = folders["entry"]
    read = fhir(app, "GET", f"/List/{found['resource']['id']}")
    assert read.status == 200 and read.json["title"] == box.title
    [member] = read.json["entry"]          # a read lists the members
    assert member["item"]["reference"].startswith("DocumentReference/")
    docs = fhir(app, "GET", f"/DocumentReference?{patient_query(patient)}&status=current")
    doc_id = docs.json["entry"][0]["resource"]["id"]
    assert fhir(app, "GET", f"/DocumentReference/{doc_id}").json["id"] == doc_id


@pytest.mark.parametrize(("query", "missing"), [
    ("status=current", "patient"), ("{patient}", "status")])
def test_iti67_requires_patient_and_status(app, patient, query, missing):
    answer = fhir(app, "GET", "/DocumentReference?" + query.format(
        patient=patient_query(patient)))
    assert answer.status == 400 and answer.expressions == [missing]
    assert answer.codes == ["XDSStoredQueryMissingParam"]


def test_unknown_search_parameters_are_refused_not_ignored(app, patient):
    answer = fhir(app, "GET", f"/DocumentReference?{patient_query(patient)}&status=current"
                              "&contenttype=text/plain")
    assert answer.status == 400 and answer.expressions == ["contenttype"]


def test_a_wrong_hash_is_refused_with_its_code_and_path_and_leaves_nothing(app, patient):
    entry = document(patient, _urn(), mime_type="application/pdf", repository_unique_id=None)
    bundle = provide_bundle(submission_set(patient, _urn()), [(entry, PDF)])
    dr = next(e["resource"] for e in bundle["entry"]
              if e["resource"]["resourceType"] == "DocumentReference")
    dr["content"][0]["attachment"]["hash"] = "2jmj7l5rSw0yVb/vlWAYkK/YBwk="
    answer = fhir(app, "POST", "", bundle)
    assert answer.status == 422
    assert "XDSRepositoryMetadataError" in answer.codes
    assert "Bundle.entry[1].resource.content[0].attachment.hash" in answer.expressions
    assert not list(app.document_store.root.rglob("*.blob"))
    assert not app.registry.query(FindDocuments(patient_id=patient, statuses=(v.APPROVED,)),
                                  SYSTEM).result.documents


@pytest.mark.parametrize("mutation", ["no_subject", "no_binary", "bad_base64", "not_json",
                                      "wrong_type", "deep", "zoneless"])
def test_client_mistakes_get_an_operation_outcome_never_a_500(app, patient, mutation):
    entry = document(patient, _urn(), mime_type="application/pdf", repository_unique_id=None)
    bundle = provide_bundle(submission_set(patient, _urn()), [(entry, PDF)])
    dr = next(e["resource"] for e in bundle["entry"]
              if e["resource"]["resourceType"] == "DocumentReference")
    binary = next(e["resource"] for e in bundle["entry"]
                  if e["resource"]["resourceType"] == "Binary")
    body: object = bundle
    if mutation == "no_subject":
        del dr["subject"]
    elif mutation == "no_binary":
        dr["content"][0]["attachment"]["url"] = "urn:uuid:0000"
    elif mutation == "bad_base64":
        binary["data"] = "@@@@"
    elif mutation == "not_json":
        body = b"{not json"
    elif mutation == "wrong_type":
        bundle["type"] = "batch"
    elif mutation == "deep":
        body = b"[" * 100_000 + b"]" * 100_000
    elif mutation == "zoneless":
        dr["context"]["period"]["start"] = "2025-01-01T10:00:00"
    answer = fhir(app, "POST", "", body, "application/fhir+json")
    assert 400 <= answer.status < 500, answer.body
    assert answer.json["resourceType"] == "OperationOutcome"
    assert all(i.get("diagnostics") for i in answer.json["issue"])
