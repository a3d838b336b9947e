"""A signed set through the repository actor, in process on every database (the HTTP tests,
test_dsig_http.py, run one database): accepted, it is registered and retrievable, its signature
too; refused by its signature, it leaves nothing staged, stored or registered; a content error
and a signature error are reported together, each entry's first; the signature's entry keeps no
DocumentReference text, and ITI-67 gives the one it would have kept."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from lxml import etree

from xds_server.consumer.documents import provide_request
from xds_server.ebxml import packing
from xds_server.ebxml.decode import decode_submission
from xds_server.ebxml.namespaces import LCM
from xds_server.ebxml.stored import model_object
from xds_server.fhir.forms import FhirForms
from xds_server.fhir.stored_forms import base_text, document_form, document_text
from xds_server.model import vocabulary as v
from xds_server.model.content import Attachment
from xds_server.model.errors import RegistryFailure
from xds_server.model.registered import DocumentRecord
from xds_server.model.stored_queries import GetDocuments
from xds_server.repository.actor import DocumentRequest
from xds_server.security.principal import SYSTEM
from xds_server.store.documents import blob_key

from .cda_data import LEVEL1, TEST_INS
from .dsig_data import SealAuthority, signed_submission
from .fhir_data import fhir, patient_query
from .registry_data import open_patient


@pytest.fixture(scope="module")
def authority(tmp_path_factory) -> SealAuthority:
    return SealAuthority.create(tmp_path_factory.mktemp("signed-repository-pki"))


@pytest.fixture
def signed_app(make_app, authority):
    app = make_app(profile="cisis", accept_test_ins=True, require_submission_signature=True,
                   signature_trusted_certs=str(authority.trusted))
    open_patient(app, TEST_INS)
    return app


def fresh(directory: Path) -> Path:
    """LEVEL1 under a new document id (each test registers new documents)."""
    root = etree.parse(str(LEVEL1)).getroot()
    root.find("{urn:hl7-org:v3}id").set("root", f"2.25.{uuid.uuid4().int}")
    copy = directory / f"{uuid.uuid4().hex}.xml"
    copy.write_bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))
    return copy


def provide(app, submission, documents):
    """repository.provide with what an ITI-41 of them decodes into (symbolic ids resolved,
    the documents by Document id)."""
    payload, binaries = provide_request(submission, documents)
    decoded = decode_submission(payload.find(f"{{{LCM}}}SubmitObjectsRequest"))
    by_id = {element.get("id"): content for element, content in binaries}
    return app.repository.provide(decoded.submission, by_id, SYSTEM, decoded.errors)


def files_of(app, submission) -> list[Path]:
    keys = {blob_key(d.unique_id) for d in submission.documents}
    return [p for p in app.document_store.root.rglob("*") if p.name.split(".")[0] in keys]


def test_an_accepted_signed_set_is_stored_registered_and_retrievable(signed_app, authority,
                                                                      tmp_path):
    submission, documents, signature = signed_submission(authority, [fresh(tmp_path)],
                                                         TEST_INS)
    assert provide(signed_app, submission, documents) == []
    unique_ids = [d.unique_id for d in submission.documents]
    answer = signed_app.registry.query(GetDocuments(unique_ids=tuple(unique_ids)), SYSTEM)
    assert len(answer.result.documents) == 2
    found, errors = signed_app.repository.retrieve(
        [DocumentRequest(signed_app.settings.repository_unique_id, u) for u in unique_ids],
        SYSTEM)
    assert errors == []
    assert {f.request.document_unique_id: f.content.read_bytes() for f in found}[
        signature.unique_id] == documents[signature.entry_uuid].read_bytes()


def test_a_set_refused_by_its_signature_leaves_nothing(signed_app, authority, tmp_path):
    """The CDA changed after signing: its own checks pass, the signature refuses."""
    submission, documents, _ = signed_submission(authority, [fresh(tmp_path)], TEST_INS)
    cda = submission.documents[0]
    changed = documents[cda.entry_uuid].read_bytes().replace(b"</ClinicalDocument>",
                                                             b"<!-- x --></ClinicalDocument>")
    documents[cda.entry_uuid] = Attachment.from_bytes(changed, "text/xml")
    cda.hash = cda.size = None          # the repository computes them from the bytes
    with pytest.raises(RegistryFailure) as refused:
        provide(signed_app, submission, documents)
    contexts = [e.context for e in refused.value.errors]
    assert len(contexts) == 1 and "signature document" in contexts[0] \
        and cda.unique_id in contexts[0], contexts
    assert files_of(signed_app, submission) == []          # nothing staged, nothing final
    answer = signed_app.registry.query(
        GetDocuments(unique_ids=tuple(d.unique_id for d in submission.documents)), SYSTEM)
    assert answer.result.documents == []


def test_a_content_error_and_a_signature_error_are_reported_together(signed_app, authority,
                                                                      tmp_path):
    """A size the bytes contradict and a signature of other bytes: both, the entry's first."""
    submission, documents, _ = signed_submission(authority, [fresh(tmp_path)], TEST_INS)
    cda = submission.documents[0]
    changed = documents[cda.entry_uuid].read_bytes().replace(b"</ClinicalDocument>",
                                                             b"<!-- x --></ClinicalDocument>")
    documents[cda.entry_uuid] = Attachment.from_bytes(changed, "text/xml")
    cda.hash = None
    cda.size = "1"
    with pytest.raises(RegistryFailure) as refused:
        provide(signed_app, submission, documents)
    contexts = [e.context for e in refused.value.errors]
    assert len(contexts) == 2, contexts
    assert "size '1' given by the source" in contexts[0]
    assert "signature document" in contexts[1]
    assert files_of(signed_app, submission) == []


def test_the_signature_entry_is_rendered_on_demand_as_it_would_have_been_kept(signed_app,
                                                                           authority,
                                                                           tmp_path):
    """Registering a signed set keeps the CDA entry's DocumentReference text (packing 0x02)
    and not the signature document's (issue 19: its cost); ITI-67 answers both, each the very
    text the kept form gives spliced, and so does the on-demand rendering for every status."""
    submission, documents, signature = signed_submission(authority, [fresh(tmp_path)],
                                                         TEST_INS)
    assert provide(signed_app, submission, documents) == []
    query = GetDocuments(unique_ids=tuple(d.unique_id for d in submission.documents))
    records = {model_object(r).unique_id: r for r in
               signed_app.registry.query(query, SYSTEM).result.documents}
    assert {u: r.stored[:1] for u, r in records.items()} == {
        submission.documents[0].unique_id: packing.PAIR, signature.unique_id: packing.CURRENT}
    answer = fhir(signed_app, "GET",
                  f"/DocumentReference?{patient_query(TEST_INS)}&status=current")
    assert answer.status == 200
    listed = {e["resource"]["id"]: e["fullUrl"] for e in answer.json["entry"]}
    assert len(listed) == 2
    for record in records.values():
        short = record.entry_uuid.removeprefix("urn:uuid:")
        base = listed[short].removesuffix(f"/DocumentReference/{short}")
        kept = document_form(model_object(record))      # what registration keeps
        assert kept is not None
        spliced = document_text(kept, record, base_text(base))
        assert f'"resource":{spliced},' in answer.body.decode()
        for status in (v.APPROVED, v.DEPRECATED, v.CISIS_ARCHIVED, v.CISIS_DELETED):
            again = DocumentRecord(record.patient_id, record.entry_uuid, status, record.stored)
            assert FhirForms(model_object, size=0).document(again, base) == \
                document_text(kept, again, base_text(base))
