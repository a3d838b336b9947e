"""A refused or failed read is audited with what was asked (issue 18 M4): the document uniqueId,
the repositoryUniqueId the caller named, whose document it is when the server holds it, and
why it was not served, in the audit trail, its DICOM message and the log line; the caller is
still answered alike for a hidden document and an unknown one. ITI-43 (SOAP) and ITI-68
(FHIR, whole, Range and HEAD)."""

from __future__ import annotations

import base64
import json
import logging
import uuid

import pytest
from lxml import etree

from xds_server.consumer.documents import retrieve_request
from xds_server.logs import JsonFormatter
from xds_server.model.hl7 import patient_key
from xds_server.security.audit_export import audit_message
from xds_server.store import audit_store

from .conftest import call_wsgi
from .dicom_audit import problems
from .fhir_data import fhir
from .iua_data import TokenIssuer
from .registry_data import (
    new_patient,
    open_patient,
    provide_text_document,
)
from .soap_messages import envelope
from .vihf_data import SigningAuthority, assertion, security_header

AUTHOR = "810000000001"
RETRIEVE = "urn:ihe:iti:2007:RetrieveDocumentSet"


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    root = tmp_path_factory.mktemp("read-audit")
    return SigningAuthority.create(root / "ca"), TokenIssuer.create(root / "iua")


@pytest.fixture
def secured(make_app, keys):
    authority, issuer = keys
    app = make_app(profile="ihe", vihf_trusted_certs=str(authority.trusted), **issuer.settings())
    owner, stranger = new_patient(), new_patient()
    for patient in (owner, stranger):
        open_patient(app, patient)
    return app, authority, issuer, owner, stranger


def _store(app, patient: str) -> str:
    return provide_text_document(app, patient, AUTHOR).unique_id


def _trail(app) -> list:
    app.repository.audit_writer.flush()
    with app.database.reading() as uow:
        return audit_store.trail(uow)


def _failures(app, transaction: str) -> dict[str, tuple]:
    """document asked → (patient, repository, outcome, error) of its failure record."""
    found = {}
    for event in _trail(app):
        if event.transaction == transaction and event.outcome == "failure":
            detail = dict(line.split("=", 1) for line in event.detail.splitlines())
            for unique_id in event.documents.split():
                found[unique_id] = (event.patient_id, detail.get("repository"),
                                    detail.get("outcome"), detail.get("error"))
    return found


def _soap_retrieve(app, items, header: str = ""):
    body = envelope(etree.tostring(retrieve_request(items)).decode(), action=RETRIEVE,
                    extra_headers=header)
    result = call_wsgi(app, "POST", "/xds/repository", body, "application/soap+xml")
    assert result.status == 200, result.body[:500]
    return result.body


def _response(body: bytes, asked: str) -> bytes:
    """The RetrieveDocumentSetResponse of an answer (the envelope's message ids differ)."""
    start = body.index(b"<xdsb:RetrieveDocumentSetResponse")
    end = body.index(b"</xdsb:RetrieveDocumentSetResponse>")
    return body[start:end].replace(asked.encode(), b"ID")


def _vihf(authority, patient: str) -> str:
    return etree.tostring(security_header(authority.sign(assertion(
        patient, speciality=None, subject=AUTHOR)))).decode()


def test_iti43_refusals_name_what_was_asked_and_answer_alike(secured, caplog):
    app, authority, _, owner, stranger = secured
    hidden = _store(app, owner)
    own = app.repository.repository_unique_id
    unknown, elsewhere = f"1.2.250.{uuid.uuid4().int}", f"1.2.250.{uuid.uuid4().int}"
    header = _vihf(authority, stranger)     # a VIHF for another patient: the document is hidden
    with caplog.at_level(logging.WARNING, "xds_server.repository"):
        answers = {asked: _soap_retrieve(app, [(own, asked)], header)
                   for asked in (hidden, unknown)}
        _soap_retrieve(app, [("1.2.3.999", elsewhere)], header)
    # the wire: the same response, word for word but for the id echoed
    assert _response(answers[hidden], hidden) == _response(answers[unknown], unknown)
    assert b"XDSDocumentUniqueIdError" in answers[hidden]
    failures = _failures(app, "ITI-43")
    assert failures[hidden] == (patient_key(owner), own, "refused-by-policy",
                                "XDSDocumentUniqueIdError")
    assert failures[unknown] == (patient_key(stranger), own, "unknown-document",
                                 "XDSDocumentUniqueIdError")
    assert failures[elsewhere] == (patient_key(stranger), "1.2.3.999", "unknown-repository",
                                   "XDSUnknownRepositoryId")
    # the log line: the same facts as data (the JSON form writes them as keys)
    lines = [json.loads(JsonFormatter().format(r)) for r in caplog.records
             if getattr(r, "xds", {}).get("documents")]
    by_document = {line["documents"][0]: line for line in lines}
    assert by_document[hidden]["reason"] == "refused-by-policy"
    assert by_document[hidden]["repository"] == own
    assert by_document[elsewhere]["outcome"] == "refused:XDSUnknownRepositoryId"
    assert by_document[unknown]["transaction"] == "ITI-43"


def test_a_failed_read_without_vihf_names_the_document_and_repository(app):
    """XDS_SECURITY=none: the system caller's reads are written off the request path; a
    failure names the document and the repository asked all the same."""
    patient = new_patient()
    open_patient(app, patient)
    held = _store(app, patient)
    own = app.repository.repository_unique_id
    unknown = f"1.2.250.{uuid.uuid4().int}"
    body = _soap_retrieve(app, [(own, held), (own, unknown), ("1.2.3.998", held)])
    assert b"PartialSuccess" in body
    failures = _failures(app, "ITI-43")
    assert failures[unknown] == (None, own, "unknown-document", "XDSDocumentUniqueIdError")
    # the document is held here, under another repository's id: whose it is is known
    assert failures[held] == (patient_key(patient), "1.2.3.998", "unknown-repository",
                              "XDSUnknownRepositoryId")
    served = [e for e in _trail(app) if e.outcome == "success" and e.transaction == "ITI-43"]
    assert [e.documents for e in served] == [held]


@pytest.mark.parametrize("variant", ["whole", "range", "head"])
def test_iti68_refusals_name_what_was_asked(secured, variant):
    app, _, issuer, owner, stranger = secured
    hidden = _store(app, owner)
    unknown = f"1.2.250.{uuid.uuid4().int}"
    headers = issuer.header(stranger, subject=AUTHOR)
    extra = {"range": {"Range": "bytes=0-3"}}.get(variant, {})
    method = "HEAD" if variant == "head" else "GET"
    answers = {asked: fhir(app, method, f"/Binary/{asked}", headers={**headers, **extra})
               for asked in (hidden, unknown)}
    assert answers[hidden].status == answers[unknown].status == 404
    assert answers[hidden].body.replace(hidden.encode(), b"ID") == \
        answers[unknown].body.replace(unknown.encode(), b"ID")
    own = app.repository.repository_unique_id
    failures = _failures(app, "ITI-68")
    assert failures[hidden] == (patient_key(owner), own, "refused-by-policy",
                                "XDSDocumentUniqueIdError")
    assert failures[unknown] == (patient_key(stranger), own, "unknown-document",
                                 "XDSDocumentUniqueIdError")


def test_the_dicom_message_of_a_refused_read_names_patient_document_repository(secured):
    app, authority, _, owner, stranger = secured
    hidden = _store(app, owner)
    own = app.repository.repository_unique_id
    _soap_retrieve(app, [(own, hidden)], _vihf(authority, stranger))
    event = next(e for e in _trail(app)
                 if e.transaction == "ITI-43" and e.documents == hidden)
    message = audit_message(event, "source", dicom=True)
    assert problems(message) == []
    assert message.find("EventIdentification").get("EventOutcomeIndicator") == "4"
    objects = {o.get("ParticipantObjectTypeCodeRole"): o
               for o in message.findall("ParticipantObjectIdentification")}
    assert objects["1"].get("ParticipantObjectID") == patient_key(owner)
    assert objects["3"].get("ParticipantObjectID") == hidden
    details = {d.get("type"): base64.b64decode(d.get("value")).decode()
               for d in objects["3"].findall("ParticipantObjectDetail")}
    assert details == {"Repository Unique Id": own,
                       "Outcome": "refused-by-policy XDSDocumentUniqueIdError"}


def test_the_patient_history_leaves_out_a_refused_read_of_a_hidden_document(secured):
    """The owner's AccessHistory tells of a refused read of their document; an id the record
    names is never one the history's reader may not see (records/actor.py)."""
    app, authority, _, owner, stranger = secured
    hidden = _store(app, owner)
    _soap_retrieve(app, [(app.repository.repository_unique_id, hidden)],
                   _vihf(authority, stranger))
    app.repository.audit_writer.flush()
    history = app.records.history(owner)
    assert any(e.outcome == "failure" and e.documents == hidden for e in history)
    assert all(hidden not in e.documents for e in app.records.history(stranger))
