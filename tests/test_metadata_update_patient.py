"""ITI-57 that changes the patient of a DocumentEntry or Folder (the Metadata Update
supplement's Patient ID Management, 3.57.4.1.3.3.1.7 and 3.57.4.1.3.3.3.7; NIST 21002, 21003):
accepted when nothing links the object to the former patient's other objects, refused with
XDSPatientIDReconciliationError otherwise; the versions then span two records, which the
queries follow. Only the system moves anything: a VIHF caller acts on one record, and another
patient's object is, to them, not registered."""

from __future__ import annotations

import copy

import pytest

from xds_server.consumer.metadata import (
    has_member,
    relationship,
    status_update,
    submit_association,
    submit_objects_request,
)
from xds_server.ebxml.decode import decode_submission
from xds_server.model import vocabulary as v
from xds_server.model.errors import RegistryFailure
from xds_server.model.hl7 import patient_key
from xds_server.model.metadata import Submission
from xds_server.security.principal import Principal

from .registry_data import (
    FAILURE,
    SUCCESS,
    folder,
    new_patient,
    open_patient,
    register,
    run_query,
    submission_set,
)
from .test_metadata_update import GET_DOCUMENTS, GET_FOLDERS, RIM, next_version, registered, update
from .test_metadata_update_links import GET_ASSOCIATIONS, registered_folder

FIND_DOCUMENTS = "urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d"
GET_ALL = "urn:uuid:10b545ea-725c-446d-9b95-8aeb444eddf3"


@pytest.fixture
def other(app) -> str:
    patient = new_patient()
    open_patient(app, patient)
    return patient


def moved(patient, original, entry_uuid, previous="1"):
    """The next version of `original`, for `patient`."""
    return next_version(patient, original, entry_uuid, previous, patient_id=patient,
                        source_patient_id=patient)


def approved(app, patient) -> list[str]:
    reply = run_query(app, FIND_DOCUMENTS, {"$XDSDocumentEntryPatientId": patient,
                                            "$XDSDocumentEntryStatus": [v.APPROVED]})
    return [e.get("id") for e in reply.objects("ExtrinsicObject")]


def test_a_document_moves_to_another_patient(app, patient, other):
    """NIST 21002: the new version is the other patient's, Approved; the previous one stays,
    Deprecated, in the former record. Its versions now belong to two patients: by logicalId,
    LeafClass is XDSResultNotSinglePatient and ObjectRef lists both (NIST 21002 query_leaf,
    query_ref)."""
    original, entry_uuid = registered(app, patient)
    reply = update(app, moved(other, original, entry_uuid))
    assert reply.status == SUCCESS, reply.errors
    assert approved(app, patient) == []
    [new] = approved(app, other)
    first = run_query(app, GET_DOCUMENTS, {"$XDSDocumentEntryEntryUUID": [entry_uuid],
                                           "$MetadataLevel": 2}).objects("ExtrinsicObject")
    assert [e.get("status") for e in first] == [v.DEPRECATED]
    by_lid = {"$XDSDocumentEntryLogicalID": [entry_uuid], "$MetadataLevel": 2}
    leaf = run_query(app, GET_DOCUMENTS, by_lid)
    assert leaf.status == FAILURE and leaf.codes == ["XDSResultNotSinglePatient"]
    refs = run_query(app, GET_DOCUMENTS, by_lid, "ObjectRef").objects("ObjectRef")
    assert {r.get("id") for r in refs} == {entry_uuid, new}
    for who in (patient, other):                  # each record's history says what happened
        trail = app.records.history(who)
        assert [(e.action, e.outcome) for e in trail if e.transaction == "ITI-57"] == [
            ("U", "success")]
    # the next version follows version 2, in its new record
    reply = update(app, next_version(other, original, entry_uuid, "2", patient_id=other,
                                     source_patient_id=other, title="Encore"))
    assert reply.status == SUCCESS, reply.errors
    assert len(approved(app, other)) == 1 and approved(app, other) != [new]


@pytest.mark.parametrize("link", ["folder", "relationship"])
def test_a_linked_document_does_not_move(app, patient, other, link):
    """A document filed in a folder, or related to another document, of its patient: the move
    would separate linked objects of one record (XDSPatientIDReconciliationError, "Patient IDs
    did not match"); nothing changes. Once the link is deprecated, the move is accepted."""
    original, entry_uuid = registered(app, patient)
    if link == "folder":
        holder, _unique = registered_folder(app, patient)
        association = has_member(holder, entry_uuid, status=None)
    else:
        _other_document, holder = registered(app, patient)
        association = relationship(v.APND, holder, entry_uuid)
    assert update(app, submit_association(submission_set(patient),
                                          association)).status == SUCCESS
    reply = update(app, moved(other, original, entry_uuid))
    assert reply.status == FAILURE and reply.codes == ["XDSPatientIDReconciliationError"]
    assert holder in reply.errors[0]["context"]
    assert approved(app, other) == [] and entry_uuid in approved(app, patient)
    [linked] = [a for a in run_query(app, GET_ASSOCIATIONS, {"$uuid": [holder]}).objects(
        "Association") if a.get("targetObject") == entry_uuid]
    assert update(app, status_update(submission_set(patient), linked.get("id"), v.APPROVED,
                                     v.DEPRECATED)).status == SUCCESS
    assert update(app, moved(other, original, entry_uuid)).status == SUCCESS
    assert entry_uuid not in approved(app, patient) and len(approved(app, other)) == 1


def _folder_version(app, patient, group, lid):
    renamed = copy.deepcopy(group)
    renamed.entry_uuid, renamed.patient_id, renamed.logical_id = "Folder01", patient, lid
    package = submission_set(patient)
    membership = has_member(package.entry_uuid, "Folder01")
    membership.slots[v.PREVIOUS_VERSION] = ["1"]
    return Submission(package, [], [renamed], associations=[membership])


@pytest.mark.parametrize("holds_a_document", [False, True])
def test_a_folder_moves_when_it_holds_no_document(app, patient, other, holds_a_document):
    """NIST 21003: an empty folder moves; one holding a document of its patient does not."""
    package, group = submission_set(patient), folder(patient)
    assert register(app, Submission(package, [], [group], associations=[
        has_member(package.entry_uuid, group.entry_uuid)])).status == SUCCESS
    [first] = run_query(app, GET_FOLDERS, {"$XDSFolderUniqueId": [group.unique_id]}).objects(
        "RegistryPackage")
    if holds_a_document:
        _original, entry_uuid = registered(app, patient)
        assert update(app, submit_association(submission_set(patient), has_member(
            first.get("id"), entry_uuid, status=None))).status == SUCCESS
    reply = update(app, _folder_version(app, other, group, first.get("id")))
    versions = run_query(app, GET_FOLDERS, {"$XDSFolderEntryUUID": [first.get("id")],
                                            "$MetadataLevel": 2}).objects("RegistryPackage")
    if holds_a_document:
        assert reply.status == FAILURE and reply.codes == ["XDSPatientIDReconciliationError"]
        assert [f.get("status") for f in versions] == [v.APPROVED]
    else:
        assert reply.status == SUCCESS, reply.errors
        assert [f.get("status") for f in versions] == [v.DEPRECATED]
        by_lid = run_query(app, GET_FOLDERS, {"$XDSFolderLogicalID": [first.get("id")],
                                              "$MetadataLevel": 2}, "ObjectRef")
        assert len(by_lid.objects("ObjectRef")) == 2


def _decoded(submission):
    return decode_submission(submit_objects_request(submission)).submission


@pytest.mark.parametrize("scoped_to", ["the new patient", "the former patient"])
def test_a_vihf_caller_moves_nothing_and_learns_nothing(app, patient, other, scoped_to):
    """A VIHF names one patient (security/access.py). Scoped to the new one, the document of
    the former is not registered to them: the answer is the one a made-up logicalId gets, word
    for word. Scoped to the former, the request is about another patient (no identifier
    named). Nothing changes."""
    original, entry_uuid = registered(app, patient)
    scope = other if scoped_to == "the new patient" else patient
    caller = Principal(subject_id="810000000001", role="administrator",
                       purpose_of_use="normal", patient_id=scope)
    with pytest.raises(RegistryFailure) as refused:
        app.registry.update(_decoded(moved(other, original, entry_uuid)), caller)
    made_up = "urn:uuid:00000000-0000-4000-8000-0000000000ab"
    with pytest.raises(RegistryFailure) as unknown:
        app.registry.update(_decoded(moved(other, copy.deepcopy(original), made_up)), caller)
    said = [(e.code, e.context.replace(entry_uuid, "LID")) for e in refused.value.errors]
    assert said == [(e.code, e.context.replace(made_up, "LID"))
                    for e in unknown.value.errors]
    assert len(said) == 1 and patient_key(patient) not in str(said)
    assert entry_uuid in approved(app, patient) and approved(app, other) == []
    element = run_query(app, GET_DOCUMENTS, {"$XDSDocumentEntryEntryUUID": [entry_uuid]})
    assert element.objects("ExtrinsicObject")[0].find(f"{{{RIM}}}VersionInfo").get(
        "versionName") == "1"


def test_once_moved_the_document_is_the_new_records(app, patient, other):
    """After the move, a caller of the new record updates the document (its history in the
    former record stays out of their sight); a caller of the former record finds nothing to
    update."""
    original, entry_uuid = registered(app, patient)
    assert update(app, moved(other, original, entry_uuid)).status == SUCCESS
    third = next_version(other, copy.deepcopy(original), entry_uuid, "2", patient_id=other,
                         source_patient_id=other, title="Troisième")
    former = Principal(subject_id="ADM", role="administrator", purpose_of_use="normal",
                       patient_id=patient)
    back = next_version(patient, copy.deepcopy(original), entry_uuid, "2")
    with pytest.raises(RegistryFailure) as refused:
        app.registry.update(_decoded(back), former)
    assert [e.code.value for e in refused.value.errors] == ["XDSMetadataVersionError"]
    new = Principal(subject_id="ADM", role="administrator", purpose_of_use="normal",
                    patient_id=other)
    app.registry.update(_decoded(third), new)
    versions = run_query(app, GET_DOCUMENTS, {"$XDSDocumentEntryUniqueId": [original.unique_id],
                                              "$MetadataLevel": 2}, "ObjectRef")
    assert len(versions.objects("ObjectRef")) == 3 and len(approved(app, other)) == 1


def test_level_1_follows_a_version_into_another_record(app, patient, other):
    """The version a move left in the former record is Deprecated and its later version is
    the other patient's: level 1 leaves it out of the former record's GetAll (read with the
    record's other objects) and of GetDocuments by uniqueId (read with every version);
    level 2 shows it."""
    original, entry_uuid = registered(app, patient)
    assert update(app, moved(other, original, entry_uuid)).status == SUCCESS
    [new] = approved(app, other)
    get_all = {"$patientId": patient, "$XDSDocumentEntryStatus": [v.APPROVED, v.DEPRECATED],
               "$XDSSubmissionSetStatus": [v.APPROVED], "$XDSFolderStatus": [v.APPROVED]}
    by_unique_id = {"$XDSDocumentEntryUniqueId": [original.unique_id]}
    for level, former, versions in ((1, [], [new]), (2, [entry_uuid], [entry_uuid, new])):
        found = run_query(app, GET_ALL, dict(get_all, **{"$MetadataLevel": level}))
        assert [e.get("id") for e in found.objects("ExtrinsicObject")] == former, level
        refs = run_query(app, GET_DOCUMENTS, dict(by_unique_id, **{"$MetadataLevel": level}),
                         "ObjectRef").objects("ObjectRef")
        assert sorted(r.get("id") for r in refs) == sorted(versions), level
