"""The core as a library, without SOAP: typed requests in, model objects out, the same access
decision for every front. What an MHD or HL7 v2 front will do: build model objects and typed
queries, call the actors with a Principal, read records back."""

from __future__ import annotations

import dataclasses

import pytest

from xds_server.consumer.metadata import has_member
from xds_server.ebxml.stored import model_object
from xds_server.model import vocabulary as v
from xds_server.model.content import Attachment
from xds_server.model.errors import ErrorCode, RegistryFailure
from xds_server.model.ids import urn_uuid
from xds_server.model.metadata import Submission
from xds_server.model.registered import DocumentRecord
from xds_server.model.stored_queries import (
    QUERIES,
    FindDocuments,
    GetDocuments,
    GetSubmissionSetAndContents,
    ReturnType,
    parse,
)
from xds_server.records.actor import InvalidMode, NotAllowed, UnknownRecord
from xds_server.repository.actor import DocumentRequest
from xds_server.security.principal import SYSTEM, Principal

from .registry_data import document, new_patient, submission_set

PROFESSIONAL = "810101234567"


def _submission(patient: str, content: bytes = b"") -> Submission:
    """One document and its submission set, with the UUIDs a library caller gives."""
    entry = document(patient, urn_uuid(), **({"content": content} if content else {}))
    package = submission_set(patient, urn_uuid())
    return Submission(package, [entry],
                      associations=[has_member(package.entry_uuid, entry.entry_uuid,
                                               entry_uuid=urn_uuid())])


@pytest.fixture
def record(app):
    patient = new_patient()
    assert app.records.open(patient) is True
    return app, patient


def test_register_then_find_as_model_objects(record):
    app, patient = record
    submission = _submission(patient)
    assert app.registry.register(submission, SYSTEM) == []
    answer = app.registry.query(FindDocuments(patient_id=patient, statuses=(v.APPROVED,)),
                                SYSTEM)
    [found] = answer.result.documents
    assert isinstance(found, DocumentRecord) and found.entry_uuid == \
        submission.documents[0].entry_uuid
    registered = model_object(found)           # the registered form, as a model object again
    sent = submission.documents[0]
    assert (registered.unique_id, registered.title, registered.class_code,
            registered.authors) == (sent.unique_id, sent.title, sent.class_code, sent.authors)
    assert registered.status == v.APPROVED and registered.version == "1"


def test_typed_queries_return_what_the_ebxml_one_does(record):
    """The same query built directly or parsed from the wire's raw values."""
    app, patient = record
    submission = _submission(patient)
    app.registry.register(submission, SYSTEM)
    unique_id = submission.documents[0].unique_id
    direct = app.registry.query(GetDocuments(unique_ids=(unique_id,)), SYSTEM).result
    parsed = app.registry.query(parse(GetDocuments.ID, {
        "$XDSDocumentEntryUniqueId": [[unique_id]]}), SYSTEM).result
    assert direct == parsed and len(direct.documents) == 1
    contents = app.registry.query(GetSubmissionSetAndContents(
        unique_ids=(submission.submission_set.unique_id,),
        return_type=ReturnType.OBJECT_REF), SYSTEM).result
    assert {r.entry_uuid for r in contents.documents + contents.submission_sets} == {
        submission.documents[0].entry_uuid, submission.submission_set.entry_uuid}


def test_the_access_decision_is_the_same_without_soap(record):
    app, patient = record
    app.registry.register(_submission(patient), SYSTEM)
    find = FindDocuments(patient_id=patient, statuses=(v.APPROVED,))
    stranger = Principal(subject_id=PROFESSIONAL, role="professional", patient_id=patient)
    assert app.registry.query(find, stranger).result.documents == []   # not authorised
    app.records.authorize(patient, PROFESSIONAL)
    assert len(app.registry.query(find, stranger).result.documents) == 1
    elsewhere = dataclasses.replace(stranger, patient_id=new_patient())
    with pytest.raises(RegistryFailure) as refused:
        app.registry.query(find, elsewhere)
    assert [e.code for e in refused.value.errors] == [ErrorCode.PATIENT_ID_DOES_NOT_MATCH]


def test_provide_retrieve_remove_through_the_repository(record):
    app, patient = record
    content = b"<ClinicalDocument/>"
    submission = _submission(patient, content)
    entry = submission.documents[0]
    entry.repository_unique_id = app.settings.repository_unique_id
    assert app.repository.provide(submission, {entry.entry_uuid: Attachment.from_bytes(content)},
                                  SYSTEM, []) == []
    asked = DocumentRequest(app.settings.repository_unique_id, entry.unique_id)
    [found], errors = app.repository.retrieve([asked], SYSTEM)
    assert (found.content.read_bytes(), found.mime_type, errors) == (content, "text/xml", [])
    removed, refused = app.repository.remove([asked], SYSTEM)   # RMD: ITI-62 comes first
    assert (removed, [e.code for e in refused]) == ([], [ErrorCode.DOCUMENT_UNIQUE_ID_ERROR])
    assert app.repository.retrieve([asked], SYSTEM)[0][0].content.read_bytes() == content


def test_the_records_actor_decides_who_manages_a_record(record):
    app, patient = record
    owner = Principal(subject_id="285067512345639", role="patient", patient_id=patient)
    assert app.records.set_oppositions(patient, ["centre_15"], owner) == ["centre_15"]
    assert app.records.record(patient).opposed_modes == {"centre_15"}
    assert app.records.authorize(patient, PROFESSIONAL, owner) is True
    assert [a.professional_id for a in app.records.professionals(patient, owner)] == [
        PROFESSIONAL]
    assert [(e.action, e.transaction) for e in app.records.history(patient, owner)] == [
        ("U", "records"), ("U", "records")]     # both changes, by the patient
    doctor = Principal(subject_id=PROFESSIONAL, role="professional", patient_id=patient)
    with pytest.raises(NotAllowed, match="may not do this"):
        app.records.authorize(patient, "899999999999", doctor)
    with pytest.raises(NotAllowed, match="another patient"):
        app.records.set_oppositions(new_patient(), [], owner)
    with pytest.raises(InvalidMode, match="unknown access mode"):
        app.records.set_oppositions(patient, ["holidays"], owner)
    with pytest.raises(UnknownRecord):
        app.records.authorize(new_patient(), PROFESSIONAL)
    assert [r.patient_id for r in app.records.records_of(PROFESSIONAL, doctor)] == [patient]
    app.records.close(patient)
    assert app.records.record(patient).status == "closed"
    with pytest.raises(UnknownRecord):
        app.records.close(patient)


@pytest.mark.parametrize("query", QUERIES, ids=lambda q: q.NAME)
def test_each_parameter_rule_names_a_field_of_its_query(query):
    fields = {field.name for field in dataclasses.fields(query)}
    assert {param.field for param in query.PARAMS} <= fields
    assert len({param.name for param in query.PARAMS}) == len(query.PARAMS)
    assert all(name in query.BY_NAME for group in query.ONE_OF for name in group)


@pytest.mark.parametrize("query, code, names", [
    (FindDocuments(patient_id="P^^^&1.2&ISO", statuses=()),
     ErrorCode.STORED_QUERY_MISSING_PARAM, "$XDSDocumentEntryStatus"),
    (FindDocuments(patient_id="P^^^&1.2&ISO", statuses=("Approved",)),
     ErrorCode.REGISTRY_ERROR, "$XDSDocumentEntryStatus"),
    (FindDocuments(patient_id="P^^^&1.2&ISO", statuses=(v.APPROVED,),
                   creation_time_from="not-a-date"),
     ErrorCode.REGISTRY_ERROR, "$XDSDocumentEntryCreationTimeFrom"),
    (GetDocuments(), ErrorCode.STORED_QUERY_MISSING_PARAM, "$XDSDocumentEntryEntryUUID"),
    (GetDocuments(entry_uuids=("urn:uuid:1",), unique_ids=("1.2",)),
     ErrorCode.STORED_QUERY_PARAM_NUMBER, "$XDSDocumentEntryEntryUUID"),
], ids=["no-status", "short-status", "bad-time", "no-id", "two-kinds-of-id"])
def test_a_query_built_directly_is_held_to_the_ihe_rules(record, query, code, names):
    """A front that builds its typed query itself (MHD) gets the refusal ITI-18 gives, naming
    the parameter, never an empty answer."""
    app, _ = record
    with pytest.raises(RegistryFailure) as failure:
        app.registry.query(query, SYSTEM)
    assert any(e.code == code and e.location == names for e in failure.value.errors), \
        failure.value.errors
