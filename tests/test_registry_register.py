"""ITI-42 Register Document Set-b, in-process over SOAP, on every database."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree
from sqlalchemy import func, select

from xds_server.consumer.metadata import has_member, relationship
from xds_server.ebxml.encode import add_slot
from xds_server.model import vocabulary as v
from xds_server.model.metadata import Submission
from xds_server.store.tables import metadata as registry_tables

from .conftest import REFERENCE
from .registry_data import (
    FAILURE,
    SUCCESS,
    document,
    folder,
    new_patient,
    open_patient,
    register,
    run_query,
    single_document_submission,
    submission_set,
)

GET_DOCUMENTS = "urn:uuid:5c4f972b-d56b-40ac-a5fc-c8ca9b40b9d4"
SS_AND_CONTENTS = "urn:uuid:e8e3cb2c-e39c-46b9-99e4-c12f57260b83"
IHE_EXAMPLES = REFERENCE / "xds-messages" / "ihe-iti-examples" / "XDS.b"


def row_counts(app) -> dict[str, int]:
    with app.database.engine.connect() as connection:
        return {table.name: connection.execute(select(func.count()).select_from(table)).scalar()
                for table in registry_tables.sorted_tables if table.name != "patients"}


def test_register_one_document_then_find_it(app, patient):
    submission = single_document_submission(patient)
    reply = register(app, submission)
    assert (reply.status, reply.errors) == (SUCCESS, [])
    found = run_query(app, GET_DOCUMENTS, {"$XDSDocumentEntryUniqueId":
                                           [submission.documents[0].unique_id]})
    assert found.status == SUCCESS
    [entry] = found.objects("ExtrinsicObject")
    assert entry.get("status") == v.APPROVED
    assert entry.get("id").startswith("urn:uuid:")
    assert entry.get("lid") == entry.get("id")
    title = entry.find("{*}Name/{*}LocalizedString").get("value")
    assert title == "Compte rendu"


def test_ihe_example_register_request_is_accepted(app):
    """The IHE ITI example (with its ebRS 2.1-style 'HasMember' type) registers."""
    request = etree.parse(str(IHE_EXAMPLES / "RegisterDocumentSet-bRequest.xml")).getroot()
    patient_id = request.find(".//{*}ExternalIdentifier[@identificationScheme='"
                              f"{v.SS_PATIENT_ID}']").get("value")
    open_patient(app, patient_id)
    reply = register(app, request)
    # The example has no hash, size or repositoryUniqueId (required for ITI-42), and its
    # sourceId "3670984664" is not an OID: the registry says exactly that.
    assert reply.status == FAILURE
    assert {e["location"] for e in reply.errors} == {"DocumentEntry.hash",
                                                     "DocumentEntry.size",
                                                     "DocumentEntry.repositoryUniqueId",
                                                     "SubmissionSet.sourceId"}
    request.find(f".//{{*}}ExternalIdentifier[@identificationScheme='{v.SS_SOURCE_ID}']").set(
        "value", "1.3.6.1.4.1.21367.2005.3.7")
    extrinsic = request.find(".//{*}ExtrinsicObject")
    for attribute, value in (("hash", "e543712c0e10501972de13a5bfcbe826c49feb75"),
                             ("size", "4"), ("repositoryUniqueId", "1.19.6.24.109.42.1")):
        add_slot(extrinsic, attribute, [value])
        extrinsic.insert(0, extrinsic[-1])  # slots come first in ebRIM
    assert register(app, request).status == SUCCESS


def test_unknown_and_closed_patients_are_refused(app, patient):
    reply = register(app, single_document_submission(new_patient()))
    assert reply.codes == ["XDSUnknownPatientId"]
    app.records.close(patient)
    assert register(app, single_document_submission(patient)).codes == ["XDSUnknownPatientId"]


def test_patient_mismatch_inside_a_submission(app, patient):
    other = new_patient()
    open_patient(app, other)
    submission = single_document_submission(patient)
    submission.documents[0].patient_id = other
    reply = register(app, submission)
    assert reply.codes == ["XDSPatientIdDoesNotMatch"]
    assert "Document01" in reply.errors[0]["context"]


def test_duplicate_unique_id_in_message(app, patient):
    submission = single_document_submission(patient)
    second = document(patient, "Document02", unique_id=submission.documents[0].unique_id)
    submission.documents.append(second)
    submission.associations.append(has_member("SubmissionSet01", "Document02"))
    assert "XDSRegistryDuplicateUniqueIdInMessage" in register(app, submission).codes


def test_resubmission_same_hash_accepted_other_hash_refused(app, patient):
    first = single_document_submission(patient)
    assert register(app, first).status == SUCCESS
    unique_id = first.documents[0].unique_id
    again = single_document_submission(patient, unique_id=unique_id)
    assert register(app, again).status == SUCCESS
    changed = single_document_submission(patient, unique_id=unique_id, content=b"other bytes")
    assert register(app, changed).codes == ["XDSNonIdenticalHash"]
    found = run_query(app, GET_DOCUMENTS, {"$XDSDocumentEntryUniqueId": [unique_id]})
    assert len(found.objects("ExtrinsicObject")) == 2


def test_submission_set_unique_id_reused_is_duplicate_in_registry(app, patient):
    first = single_document_submission(patient)
    assert register(app, first).status == SUCCESS
    second = single_document_submission(patient)
    second.submission_set.unique_id = first.submission_set.unique_id
    assert register(app, second).codes == ["XDSDuplicateUniqueIdInRegistry"]


def test_missing_required_attributes_are_named(app, patient):
    submission = single_document_submission(patient, class_code=None, creation_time="2025-11-03")
    reply = register(app, submission)
    assert reply.status == FAILURE
    contexts = " | ".join(e["context"] for e in reply.errors)
    assert "DocumentEntry Document01: classCode is required but missing" in contexts
    assert "creationTime '2025-11-03' is not a DTM" in contexts
    assert {e["code"] for e in reply.errors} == {"XDSRegistryMetadataError"}


def test_document_without_has_member_is_refused(app, patient):
    submission = single_document_submission(patient)
    submission.associations.clear()
    reply = register(app, submission)
    assert any("no HasMember association from the SubmissionSet" in e["context"]
               for e in reply.errors)


def test_extra_slots_give_a_warning_and_success(app, patient):
    submission = single_document_submission(patient)
    submission.documents[0].extra_slots = {"urn:vendor:color": ["blue"]}
    reply = register(app, submission)
    assert reply.status == SUCCESS
    assert reply.codes == ["XDSExtraMetadataNotSaved"]
    assert reply.errors[0]["severity"].endswith("Warning")


def test_rejected_submission_leaves_nothing_behind(app, patient):
    before = row_counts(app)
    good = document(patient, "Document01")
    bad = document(patient, "Document02", hash="not-a-hash")
    package = submission_set(patient)
    reply = register(app, Submission(package, [good, bad], associations=[
        has_member(package.entry_uuid, "Document01"),
        has_member(package.entry_uuid, "Document02")]))
    assert reply.status == FAILURE
    assert row_counts(app) == {**before, "audit_events": before["audit_events"] + 1}  # the refusal
    # And a failure found only against the registry (second document's uniqueId taken).
    registered = single_document_submission(patient)
    assert register(app, registered).status == SUCCESS
    middle = row_counts(app)
    clash = document(patient, "Document02", unique_id=registered.documents[0].unique_id,
                     content=b"different")
    reply = register(app, Submission(submission_set(patient), [document(patient), clash],
                                     associations=[has_member("SubmissionSet01", "Document01"),
                                                   has_member("SubmissionSet01", "Document02")]))
    assert reply.codes == ["XDSNonIdenticalHash"]
    assert row_counts(app) == {**middle, "audit_events": middle["audit_events"] + 1}


def _register_original(app, patient):
    original = single_document_submission(patient)
    assert register(app, original).status == SUCCESS
    found = run_query(app, GET_DOCUMENTS, {"$XDSDocumentEntryUniqueId":
                                           [original.documents[0].unique_id]})
    return found.objects("ExtrinsicObject")[0].get("id")


def _status_of(app, entry_uuid):
    found = run_query(app, GET_DOCUMENTS, {"$XDSDocumentEntryEntryUUID": [entry_uuid]})
    return found.objects("ExtrinsicObject")[0].get("status")


@pytest.mark.parametrize("kind", [v.RPLC, v.XFRM_RPLC])
def test_replacement_deprecates_the_original_and_its_addenda(app, patient, kind):
    original = _register_original(app, patient)
    addendum = single_document_submission(patient)
    addendum.associations.append(relationship(v.APND, "Document01", original))
    assert register(app, addendum).status == SUCCESS

    replacement = single_document_submission(patient)
    replacement.associations.append(relationship(kind, "Document01", original))
    assert register(app, replacement).status == SUCCESS
    assert _status_of(app, original) == v.DEPRECATED

    again = single_document_submission(patient)
    again.associations.append(relationship(v.RPLC, "Document01", original))
    reply = register(app, again)
    assert reply.status == FAILURE
    assert "Deprecated, not Approved" in reply.errors[0]["context"]


def test_relationship_to_unknown_or_foreign_document(app, patient):
    submission = single_document_submission(patient)
    submission.associations.append(relationship(v.RPLC, "Document01",
                                                "urn:uuid:00000000-0000-4000-8000-000000000000"))
    assert "neither in this submission nor in the registry" in register(
        app, submission).errors[0]["context"]
    other = new_patient()
    open_patient(app, other)
    foreign = _register_original(app, other)
    submission = single_document_submission(patient)
    submission.associations.append(relationship(v.APND, "Document01", foreign))
    assert register(app, submission).codes == ["XDSPatientIdDoesNotMatch"]


def test_folder_with_document_and_replacement_joins_the_folder(app, patient):
    package = submission_set(patient)
    doc = document(patient)
    fol = folder(patient)
    membership = has_member("Folder01", "Document01", status=None)
    submission = Submission(package, [doc], [fol], [
        has_member("SubmissionSet01", "Document01"),
        has_member("SubmissionSet01", "Folder01", status=None), membership,
        has_member("SubmissionSet01", membership.entry_uuid, status=None)])
    assert register(app, submission).status == SUCCESS
    contents = run_query(app, "urn:uuid:b909a503-523d-4517-8acf-8e5834dfc4c7",
                         {"$XDSFolderUniqueId": fol.unique_id})
    [original] = contents.objects("ExtrinsicObject")
    replacement = single_document_submission(patient)
    replacement.associations.append(relationship(v.RPLC, "Document01", original.get("id")))
    assert register(app, replacement).status == SUCCESS
    contents = run_query(app, "urn:uuid:b909a503-523d-4517-8acf-8e5834dfc4c7",
                         {"$XDSFolderUniqueId": fol.unique_id})
    ids = {e.get("id"): e.get("status") for e in contents.objects("ExtrinsicObject")}
    assert ids[original.get("id")] == v.DEPRECATED
    assert list(ids.values()).count(v.APPROVED) == 1


def test_reused_entry_uuid_is_refused(app, patient):
    fixed = "urn:uuid:3f0a8f1c-6f53-4d2a-9d55-1bd1e7f0c001"
    first = single_document_submission(patient)
    first.documents[0].entry_uuid = fixed
    first.associations[0].target = fixed
    assert register(app, first).status == SUCCESS
    second = single_document_submission(patient)
    second.documents[0].entry_uuid = fixed
    second.associations[0].target = fixed
    reply = register(app, second)
    assert reply.status == FAILURE
    assert "already registered" in reply.errors[0]["context"]


def test_a_reused_id_does_not_tell_what_it_names(app, patient):
    """Outside round 19g, 19g-3: an ITI-57 whose SubmissionSet took another patient's
    document's entryUUID, and an ITI-42 whose folder took a document's uniqueId, were told
    the kind of the object ("(document) is already registered")."""
    from xds_server.consumer.changes import UPDATE
    from xds_server.consumer.metadata import submit_objects_request

    from .registry_data import soap_call

    other = new_patient()
    open_patient(app, other)
    theirs = single_document_submission(other)
    theirs.documents[0].entry_uuid = "urn:uuid:7c1d2e3f-4a5b-4c6d-8e9f-0a1b2c3d4e5f"
    theirs.associations[0].target = theirs.documents[0].entry_uuid
    assert register(app, theirs).status == SUCCESS
    update = single_document_submission(patient)
    update.submission_set.entry_uuid = theirs.documents[0].entry_uuid
    update.associations[0].source = update.submission_set.entry_uuid
    reply = soap_call(app, "/xds/registry", UPDATE, submit_objects_request(update))
    shelf = Submission(submission_set(patient), [], folders=[
        folder(patient, unique_id=theirs.documents[0].unique_id)])
    shelf.associations = [has_member(shelf.submission_set.entry_uuid, "Folder01", None)]
    for answer in (reply, register(app, shelf)):
        assert answer.status == FAILURE
        said = [e["context"] for e in answer.errors if "already registered" in e["context"]]
        assert said and not [c for c in said if "document" in c.lower()], answer.errors


def test_not_a_submit_objects_request_body(app):
    reply = register(app, etree.fromstring(
        b'<lcm:SubmitObjectsRequest xmlns:lcm="urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0"/>'))
    assert reply.status == FAILURE
    assert "RegistryObjectList" in reply.errors[0]["context"]


def test_alembic_schema_matches_the_table_definitions(app):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    with app.database.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), registry_tables)
    assert diff == []


def test_reference_dir_is_there():
    assert Path(IHE_EXAMPLES).is_dir()


def test_signature_document_signs_its_own_submission_set(app, patient):
    """The DMP's submission-set signature: a document of the submission signs the set."""
    submission = single_document_submission(patient)
    signature = document(patient, "Signature01", mime_type="text/xml", language_code="art")
    submission.documents.append(signature)
    submission.associations += [has_member("SubmissionSet01", "Signature01"),
                                relationship(v.SIGNS, "Signature01", "SubmissionSet01")]
    reply = register(app, submission)
    assert (reply.status, reply.errors) == (SUCCESS, [])


@pytest.mark.parametrize("kinds", [(v.RPLC, v.RPLC), (v.RPLC, v.XFRM_RPLC)])
def test_two_replacements_of_one_document_in_one_submission(app, patient, kinds):
    """Issue 16 re-test m4: both became current (a forked history); refused, nothing kept."""
    original = _register_original(app, patient)
    first, second = document(patient, "Document01"), document(patient, "Document02")
    package = submission_set(patient)
    submission = Submission(package, [first, second], associations=[
        has_member(package.entry_uuid, "Document01"), has_member(package.entry_uuid,
                                                                 "Document02"),
        relationship(kinds[0], "Document01", original),
        relationship(kinds[1], "Document02", original)])
    reply = register(app, submission)
    assert reply.status == FAILURE and reply.codes == ["XDSRegistryMetadataError"]
    assert "replaced by 2 documents" in reply.errors[0]["context"]
    assert _status_of(app, original) == v.APPROVED
