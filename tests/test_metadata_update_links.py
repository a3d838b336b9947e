"""ITI-57 operations on associations, in process over SOAP on every database: SubmitAssociation
(a relationship or a folder membership added between registered objects, NIST 20001, 21004,
20100a/b), a status change of an association (deprecate, undeprecate; in the same request as
the SubmitAssociation, NIST 20005), the multi-operation rule with a new version (NIST 20006),
and the references of any association an update carries. Each refusal changes nothing."""

from __future__ import annotations

import copy

import pytest

from xds_server.consumer.metadata import (
    has_member,
    relationship,
    status_update,
    submit_association,
)
from xds_server.model import vocabulary as v
from xds_server.model.metadata import Submission

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
from .test_metadata_update import GET_DOCUMENTS, next_version, registered, update

GET_RELATED = "urn:uuid:d90e5407-b356-4d91-a89f-873917b4b0e6"
GET_FOLDER_AND_CONTENTS = "urn:uuid:b909a503-523d-4517-8acf-8e5834dfc4c7"
GET_ASSOCIATIONS = "urn:uuid:a7ae438b-4bc2-4642-93e9-be891f7bb155"
GET_FOLDERS = "urn:uuid:5737b14c-8a1a-4539-b659-e03a34a5e1e4"


def related(app, entry_uuid: str, level: int = 1):
    return run_query(app, GET_RELATED, {"$XDSDocumentEntryEntryUUID": entry_uuid,
                                        "$AssociationTypes": [v.APND], "$MetadataLevel": level})


def registered_folder(app, patient) -> tuple[str, str]:
    """A registered empty folder: (its entryUUID, its uniqueId)."""
    package, group = submission_set(patient), folder(patient)
    reply = register(app, Submission(package, [], [group], associations=[
        has_member(package.entry_uuid, group.entry_uuid)]))
    assert reply.status == SUCCESS, reply.errors
    found = run_query(app, GET_FOLDERS, {"$XDSFolderUniqueId": [group.unique_id]})
    return found.objects("RegistryPackage")[0].get("id"), group.unique_id


def test_submit_association_links_two_registered_documents(app, patient):
    """NIST 20001: an APND between two documents registered earlier."""
    _first, first = registered(app, patient)
    _second, second = registered(app, patient)
    reply = update(app, submit_association(submission_set(patient),
                                           relationship(v.APND, first, second)))
    assert reply.status == SUCCESS, reply.errors
    found = related(app, first)
    assert {e.get("id") for e in found.objects("ExtrinsicObject")} == {first, second}
    [link] = found.objects("Association")
    assert (link.get("sourceObject"), link.get("targetObject"), link.get("status")) == (
        first, second, v.APPROVED)


def test_submit_association_files_a_document_in_a_folder(app, patient):
    folder_uuid, unique_id = registered_folder(app, patient)
    before = run_query(app, GET_FOLDERS, {"$XDSFolderUniqueId": [unique_id]})
    _original, entry_uuid = registered(app, patient)
    reply = update(app, submit_association(submission_set(patient),
                                           has_member(folder_uuid, entry_uuid, status=None)))
    assert reply.status == SUCCESS, reply.errors
    contents = run_query(app, GET_FOLDER_AND_CONTENTS, {"$XDSFolderEntryUUID": folder_uuid})
    assert [e.get("id") for e in contents.objects("ExtrinsicObject")] == [entry_uuid]
    # adding a document to a folder updates its lastUpdateTime (ITI TF-3 4.2.3.4.7)
    times = [[s.findtext("{*}ValueList/{*}Value") for s in f.findall("{*}Slot")
              if s.get("name") == "lastUpdateTime"]
             for f in (before.objects("RegistryPackage")[0],
                       contents.objects("RegistryPackage")[0])]
    assert times[0] <= times[1] and times[1]


def _deprecated(app, patient, entry_uuid):
    reply = update(app, status_update(submission_set(patient), entry_uuid, v.APPROVED,
                                      v.DEPRECATED))
    assert reply.status == SUCCESS, reply.errors


@pytest.mark.parametrize("case, code, says", [
    ("deprecated end", "XDSMetadataUpdateError", "is Deprecated, not Approved"),
    ("unknown type", "XDSRegistryMetadataError", "not an XDS association type"),
    ("submission set end", "XDSMetadataUpdateError", "it is a submission_set"),
    ("unregistered end", "XDSMetadataUpdateError", "is not a registered DocumentEntry"),
    ("replacement", "XDSMetadataUpdateError", "a replacement is submitted with its new"),
    ("wrong kinds", "XDSMetadataUpdateError", "must link a folder to a document"),
    ("already linked", "XDSMetadataUpdateError", "already links these objects"),
    ("not in the request", "XDSMetadataUpdateError", "is not an association of this request"),
])
def test_a_submitted_association_that_does_not_fit_is_refused(app, patient, case, code, says):
    """NIST 21004 (a Deprecated end), 20001 (an unknown type: XDSRegistryMetadataError); the
    other rules of the supplement's Submit Associations. Nothing is added."""
    _first, first = registered(app, patient)
    _second, second = registered(app, patient)
    link = relationship(v.APND, first, second)
    submission = submit_association(submission_set(patient), link)
    if case == "deprecated end":
        _deprecated(app, patient, second)
    elif case == "unknown type":
        link.type = "urn:ihe:iti:2007:AssociationType:APND_TXFM"
    elif case == "submission set end":
        link.target = run_query(app, GET_ASSOCIATIONS, {"$uuid": [first]}).objects(
            "Association")[0].get("sourceObject")
    elif case == "unregistered end":
        link.target = "urn:uuid:00000000-0000-4000-8000-00000000beef"
    elif case == "replacement":
        link.type = v.RPLC
    elif case == "wrong kinds":
        link.type = v.HAS_MEMBER
    elif case == "already linked":
        assert update(app, copy.deepcopy(submission)).status == SUCCESS
        submission = submit_association(submission_set(patient),
                                        relationship(v.APND, first, second))
    elif case == "not in the request":          # a registered document, not an association
        submission.associations = submission.associations[:1]
        submission.associations[0].target = second
    links_before = run_query(app, GET_ASSOCIATIONS, {"$uuid": [first, second]},
                             "ObjectRef").objects()
    reply = update(app, submission)
    assert reply.status == FAILURE and code in reply.codes, reply.errors
    assert says in " ".join(e["context"] for e in reply.errors)
    assert len(run_query(app, GET_ASSOCIATIONS, {"$uuid": [first, second]},
                         "ObjectRef").objects()) == len(links_before)


def test_an_association_between_two_patients_is_a_reconciliation_error(app, patient):
    """NIST 20100a: the patients do not match: XDSPatientIDReconciliationError (MU Table
    4.2.4.1-2). The system caller sees both records; a VIHF caller is refused as for an object
    that does not exist (tests/test_access_matrix.py)."""
    _first, first = registered(app, patient)
    other = new_patient()
    open_patient(app, other)
    _second, second = registered(app, other)
    reply = update(app, submit_association(submission_set(patient),
                                           relationship(v.APND, first, second)))
    assert reply.status == FAILURE and reply.codes == ["XDSPatientIDReconciliationError"]
    assert related(app, first).objects("Association") == []


def test_an_association_is_deprecated_then_approved_again(app, patient):
    """NIST 20001: UpdateAvailabilityStatus of an association. $MetadataLevel 1 (the default)
    does not show a Deprecated association, nor what is related only through it; level 2
    shows it, Deprecated."""
    _first, first = registered(app, patient)
    _second, second = registered(app, patient)
    assert update(app, submit_association(submission_set(patient), relationship(
        v.APND, first, second))).status == SUCCESS
    [link] = related(app, first).objects("Association")
    for old, new in ((v.APPROVED, v.DEPRECATED), (v.DEPRECATED, v.APPROVED)):
        reply = update(app, status_update(submission_set(patient), link.get("id"), old, new))
        assert reply.status == SUCCESS, reply.errors
        level_1, level_2 = related(app, first, 1), related(app, first, 2)
        assert [a.get("status") for a in level_2.objects("Association")] == [new]
        assert len(level_2.objects("ExtrinsicObject")) == 2
        assert len(level_1.objects("ExtrinsicObject")) == (0 if new == v.DEPRECATED else 2)


def test_a_submission_sets_membership_keeps_its_status(app, patient):
    """A submission set's HasMember records a submission: its status does not change."""
    _original, entry_uuid = registered(app, patient)
    [membership] = run_query(app, GET_ASSOCIATIONS, {"$uuid": [entry_uuid]}).objects(
        "Association")
    reply = update(app, status_update(submission_set(patient), membership.get("id"),
                                      v.APPROVED, v.DEPRECATED))
    assert reply.status == FAILURE and reply.codes == ["XDSMetadataUpdateError"]
    assert "records a submission" in reply.errors[0]["context"]


def test_an_association_added_and_deprecated_in_one_request(app, patient):
    """NIST 20005 (CP-ITI-1029): the status change sees the association submitted beside it."""
    _first, first = registered(app, patient)
    _second, second = registered(app, patient)
    submission = submit_association(submission_set(patient), relationship(v.APND, first,
                                                                           second))
    change = status_update(submission.submission_set, submission.associations[1].entry_uuid,
                           v.APPROVED, v.DEPRECATED)
    submission.associations += change.associations
    reply = update(app, submission)
    assert reply.status == SUCCESS, reply.errors
    assert [a.get("status") for a in related(app, first, 2).objects("Association")] == [
        v.DEPRECATED]


@pytest.mark.parametrize("propagation, accepted", [(None, False), ("yes", False),
                                                   ("no", True)])
def test_a_new_version_linked_by_hand_must_not_propagate(app, patient, propagation, accepted):
    """NIST 20006 (CP-ITI-1029): a request that updates a document and links its new version
    by a SubmitAssociation does the linking itself: with association propagation it is
    XDSMetadataUpdateOperationError."""
    original, entry_uuid = registered(app, patient)
    _other, other_uuid = registered(app, patient)
    submission = next_version(patient, original, entry_uuid)
    if propagation:
        submission.associations[0].slots["AssociationPropagation"] = [propagation]
    linking = submit_association(submission.submission_set,
                                 relationship(v.APND, "Document01", other_uuid))
    submission.associations += linking.associations
    reply = update(app, submission)
    if accepted:
        assert reply.status == SUCCESS, reply.errors
    else:
        assert reply.status == FAILURE and reply.codes == ["XDSMetadataUpdateOperationError"]


@pytest.mark.parametrize("where, code", [
    ("another patient's document", "XDSPatientIdDoesNotMatch"),
    ("nowhere", "XDSRegistryMetadataError"),
])
def test_an_update_cannot_link_outside_the_record(app, patient, where, code):
    """A relationship an update carries beside a new version points at a registered document
    of the same patient, as in ITI-42; before, an ITI-57 stored a link to another patient's
    document, or to nothing."""
    original, entry_uuid = registered(app, patient)
    target = "urn:uuid:00000000-0000-4000-8000-0000000000aa"
    if where == "another patient's document":
        other = new_patient()
        open_patient(app, other)
        target = registered(app, other)[1]
    submission = next_version(patient, original, entry_uuid)
    submission.associations.append(relationship(v.APND, "Document01", target))
    reply = update(app, submission)
    assert reply.status == FAILURE and reply.codes == [code]
    links = run_query(app, GET_ASSOCIATIONS, {"$uuid": [target]}).objects("Association")
    assert [a for a in links if a.get("associationType") == v.APND] == []


def _links(app, entry_uuid: str, level: int = 1) -> set[tuple[str, str, str, str]]:
    """(type, source, target, status) of the associations touching a document."""
    found = run_query(app, GET_ASSOCIATIONS, {"$uuid": [entry_uuid], "$MetadataLevel": level})
    return {(a.get("associationType"), a.get("sourceObject"), a.get("targetObject"),
             a.get("status")) for a in found.objects("Association")}


@pytest.mark.parametrize("propagation", [None, "yes", "no"])
def test_a_new_document_version_keeps_its_folders_and_relationships(app, patient, propagation):
    """ITI TF-2b 3.57.4.1.3.3.1.5 (issue 16 re-test, M3): with association propagation (the
    default) the new version joins the Approved folders of the previous one and takes its
    relationships, whichever end it is, through new Approved associations; the previous
    version keeps its own. "no": the new version is linked by hand, or not at all."""
    folder_uuid, _ = registered_folder(app, patient)
    original, entry_uuid = registered(app, patient)
    _source, transformed = registered(app, patient)
    _addendum, addendum = registered(app, patient)
    for link in (has_member(folder_uuid, entry_uuid, status=None),
                 relationship(v.XFRM, entry_uuid, transformed),
                 relationship(v.APND, addendum, entry_uuid)):
        assert update(app, submit_association(submission_set(patient), link)).status == SUCCESS
    before = _links(app, entry_uuid)
    submission = next_version(patient, original, entry_uuid)
    if propagation:
        submission.associations[0].slots["AssociationPropagation"] = [propagation]
    reply = update(app, submission)
    assert reply.status == SUCCESS, reply.errors
    [new] = [e.get("id") for e in run_query(app, "urn:uuid:5c4f972b-d56b-40ac-a5fc-c8ca9b40b9d4",
                                                {"$XDSDocumentEntryUniqueId":
                                                 [original.unique_id]}).objects(
        "ExtrinsicObject")]
    expected = {(v.HAS_MEMBER, folder_uuid, new, v.APPROVED),
                (v.XFRM, new, transformed, v.APPROVED),
                (v.APND, addendum, new, v.APPROVED)}
    theirs = {link for link in _links(app, new) if link[0] != v.HAS_MEMBER or
              link[1] == folder_uuid}
    assert theirs == (expected if propagation != "no" else set())
    assert _links(app, entry_uuid, level=2) >= before        # the previous version's stay
    contents = run_query(app, GET_FOLDER_AND_CONTENTS, {"$XDSFolderEntryUUID": folder_uuid})
    assert [e.get("id") for e in contents.objects("ExtrinsicObject")] == \
        ([new] if propagation != "no" else [])
    again = update(app, next_version(patient, original, entry_uuid, previous="2"))
    assert again.status == SUCCESS, again.errors       # a second version: one copy of each
    contents = run_query(app, GET_FOLDER_AND_CONTENTS, {"$XDSFolderEntryUUID": folder_uuid})
    assert len(contents.objects("ExtrinsicObject")) == (1 if propagation != "no" else 0)


@pytest.mark.parametrize("kind", [v.RPLC, v.XFRM_RPLC])
def test_a_replacement_does_not_ride_on_a_new_version(app, patient, kind):
    """Outside round 19e, E3: a new version of B carrying an RPLC from itself to A was
    written and deprecated nothing: A and B both current. A replacement comes with its new
    DocumentEntry by ITI-41/42, as SubmitAssociation already says."""
    original, first = registered(app, patient)
    _other, second = registered(app, patient)
    request = next_version(patient, original, first, title="Titre corrigé")
    request.associations.append(relationship(kind, "Document01", second))
    reply = update(app, request)
    assert reply.status == FAILURE
    assert any(e["location"] == "Association.associationType" and "replacement" in e["context"]
               for e in reply.errors), reply.errors
    assert {e.get("status") for e in run_query(app, GET_DOCUMENTS, {
        "$XDSDocumentEntryEntryUUID": [first, second]}).objects("ExtrinsicObject")} == {
        v.APPROVED}
