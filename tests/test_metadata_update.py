"""ITI-57 Restricted Update Document Set, in process over SOAP on every database: new versions
(same logicalId and uniqueId, PreviousVersion checked, the old version Deprecated), availability
status changes including the CI-SIS Archived and Deleted, and the refusals, which change
nothing. The NIST ITI-57 cases run over HTTP in test_conformance."""

from __future__ import annotations

import copy

import pytest
from lxml import etree

from xds_server.consumer.metadata import (
    has_member,
    new_version,
    status_update,
    submit_objects_request,
)
from xds_server.model import vocabulary as v
from xds_server.model.metadata import Code, Submission
from xds_server.registry.update import ARCHIVED, DELETED

from .conftest import REFERENCE
from .registry_data import (
    FAILURE,
    SUCCESS,
    document,
    open_patient,
    register,
    run_query,
    single_document_submission,
    soap_call,
    submission_set,
)

UPDATE = "urn:ihe:iti:2010:UpdateDocumentSet"
GET_DOCUMENTS = "urn:uuid:5c4f972b-d56b-40ac-a5fc-c8ca9b40b9d4"
GET_FOLDERS = "urn:uuid:5737b14c-8a1a-4539-b659-e03a34a5e1e4"
FIND_DOCUMENTS = "urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d"
MU_EXAMPLE = REFERENCE / "xds-messages" / "ihe-iti-examples" / "MU" / "example01"
RIM = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"


def update(app, submission: Submission):
    return soap_call(app, "/xds/registry", UPDATE, submit_objects_request(submission))


def registered(app, patient):
    """A registered document: (its model, its entryUUID)."""
    submission = single_document_submission(patient)
    assert register(app, submission).status == SUCCESS
    original = submission.documents[0]
    versions = versions_of(app, original.unique_id)
    return original, versions[0].get("id")


def versions_of(app, unique_id: str) -> list[etree._Element]:
    reply = run_query(app, GET_DOCUMENTS, {"$XDSDocumentEntryUniqueId": [unique_id],
                                           "$MetadataLevel": 2})
    return sorted(reply.objects("ExtrinsicObject"),
                  key=lambda e: int(e.find(f"{{{RIM}}}VersionInfo").get("versionName")))


def next_version(patient, original, logical_id: str, previous: str = "1", **changes):
    entry = copy.deepcopy(original)
    entry.entry_uuid = "Document01"
    for name, value in changes.items():
        setattr(entry, name, value)
    return new_version(submission_set(patient), entry, logical_id, previous)


def test_a_new_version_deprecates_the_previous_one(app, patient):
    original, entry_uuid = registered(app, patient)
    reply = update(app, next_version(patient, original, entry_uuid, title="Titre corrigé"))
    assert reply.status == SUCCESS, reply.errors
    first, second = versions_of(app, original.unique_id)
    assert first.get("id") == entry_uuid and first.get("status") == v.DEPRECATED
    assert second.get("lid") == entry_uuid and second.get("status") == v.APPROVED
    assert second.find(f"{{{RIM}}}VersionInfo").get("versionName") == "2"
    assert second.find(f"{{{RIM}}}Name/{{{RIM}}}LocalizedString").get("value") == "Titre corrigé"
    by_lid = run_query(app, GET_DOCUMENTS, {"$XDSDocumentEntryLogicalID": [entry_uuid],
                                            "$MetadataLevel": 2})
    assert len(by_lid.objects("ExtrinsicObject")) == 2
    approved = run_query(app, FIND_DOCUMENTS, {"$XDSDocumentEntryPatientId": patient,
                                               "$XDSDocumentEntryStatus": [v.APPROVED]})
    assert [e.get("id") for e in approved.objects("ExtrinsicObject")] == [second.get("id")]
    third = update(app, next_version(patient, original, entry_uuid, previous="2",
                                     title="Encore"))
    assert third.status == SUCCESS
    assert [e.get("status") for e in versions_of(app, original.unique_id)] == [
        v.DEPRECATED, v.DEPRECATED, v.APPROVED]


@pytest.mark.parametrize("changes, code, says", [
    ({"previous": "5"}, "XDSMetadataVersionError", "PreviousVersion 5 but the latest version"),
    ({"unique_id": "1.2.3.999"}, "XDSMetadataUpdateError", "uniqueId cannot change"),
    # no version to follow: XDSMetadataVersionError (MU Table 4.2.4.1-2; NIST 15800b)
    ({"logical_id": "urn:uuid:00000000-0000-4000-8000-000000000000"},
     "XDSMetadataVersionError", "is not registered"),
])
def test_refused_updates_change_nothing(app, patient, changes, code, says):
    original, entry_uuid = registered(app, patient)
    changes = dict(changes)          # the parameters are shared by every database's run
    previous = changes.pop("previous", "1")
    logical_id = changes.pop("logical_id", entry_uuid)
    reply = update(app, next_version(patient, original, logical_id, previous, **changes))
    assert reply.status == FAILURE and code in reply.codes
    assert says in " ".join(e["context"] for e in reply.errors)
    assert [e.get("status") for e in versions_of(app, original.unique_id)] == [v.APPROVED]


def test_a_stale_update_loses_to_the_one_before_it(app, patient):
    original, entry_uuid = registered(app, patient)
    assert update(app, next_version(patient, original, entry_uuid)).status == SUCCESS
    late = update(app, next_version(patient, original, entry_uuid, title="Trop tard"))
    assert late.status == FAILURE and late.codes == ["XDSMetadataVersionError"]


def test_new_documents_do_not_go_through_iti57(app, patient):
    entry = document(patient)
    package = submission_set(patient)
    reply = update(app, Submission(package, [entry],
                                   associations=[has_member(package.entry_uuid, "Document01")]))
    assert reply.status == FAILURE and "XDSMetadataUpdateError" in reply.codes


@pytest.mark.parametrize("path", [
    [v.DEPRECATED, v.APPROVED],          # deprecate, then undeprecate
    [ARCHIVED], [DELETED],               # the CI-SIS statuses (DMP archive and delete)
])
def test_availability_status_changes(app, patient, path):
    original, entry_uuid = registered(app, patient)
    current = v.APPROVED
    for new in path:
        reply = update(app, status_update(submission_set(patient), entry_uuid, current, new))
        assert reply.status == SUCCESS, reply.errors
        current = new
        assert versions_of(app, original.unique_id)[0].get("status") == new


def test_a_status_change_from_the_wrong_status_is_refused(app, patient):
    _original, entry_uuid = registered(app, patient)
    reply = update(app, status_update(submission_set(patient), entry_uuid, v.DEPRECATED,
                                      v.APPROVED))
    assert reply.status == FAILURE and reply.codes == ["XDSMetadataUpdateError"]
    assert "OriginalStatus is Deprecated but the object is Approved" in reply.errors[0]["context"]


def test_the_ihe_metadata_update_example(app):
    """ihe-iti-examples/MU/example01: the original (from query_result.xml) registered by
    ITI-42, then update.xml (a new classCode) as ITI-57."""
    result = etree.parse(str(MU_EXAMPLE / "query_result.xml")).getroot()
    original = next(result.iter(f"{{{RIM}}}ExtrinsicObject"))
    patient = next(e.get("value") for e in original.iter(f"{{{RIM}}}ExternalIdentifier")
                   if e.get("identificationScheme") == v.DE_PATIENT_ID)
    open_patient(app, patient)
    request = submit_objects_request(Submission(submission_set(patient), [], associations=[
        has_member("SubmissionSet01", original.get("id"))]))
    request.find(f"{{{RIM}}}RegistryObjectList").insert(0, original)
    assert register(app, request).status == SUCCESS
    reply = soap_call(app, "/xds/registry", UPDATE,
                      etree.parse(str(MU_EXAMPLE / "update.xml")).getroot())
    assert reply.status == SUCCESS, reply.errors
    by_lid = run_query(app, GET_DOCUMENTS, {"$XDSDocumentEntryLogicalID": [original.get("id")],
                                            "$MetadataLevel": 2})
    statuses = sorted(e.get("status").rsplit(":", 1)[-1]
                      for e in by_lid.objects("ExtrinsicObject"))
    assert statuses == ["Approved", "Deprecated"]


def test_a_folder_gets_a_new_version(app, patient):
    from .registry_data import folder

    package, group = submission_set(patient), folder(patient)
    assert register(app, Submission(package, [], [group], associations=[
        has_member(package.entry_uuid, group.entry_uuid)])).status == SUCCESS
    first = run_query(app, GET_FOLDERS, {"$XDSFolderUniqueId": [group.unique_id]}
                      ).objects("RegistryPackage")[0].get("id")
    renamed = copy.deepcopy(group)
    renamed.entry_uuid, renamed.title = "Folder01", "Suivi diabète (2026)"
    renamed.logical_id, renamed.version = first, None
    package = submission_set(patient)
    membership = has_member(package.entry_uuid, "Folder01")
    membership.slots[v.PREVIOUS_VERSION] = ["1"]
    reply = update(app, Submission(package, [], [renamed], associations=[membership]))
    assert reply.status == SUCCESS, reply.errors
    versions = run_query(app, GET_FOLDERS, {"$XDSFolderLogicalID": [first],
                                            "$MetadataLevel": 2}).objects("RegistryPackage")
    assert sorted(f.get("status").rsplit(":", 1)[-1] for f in versions) == ["Approved",
                                                                              "Deprecated"]
    stale = update(app, Submission(submission_set(patient), [], [copy.deepcopy(renamed)],
                                   associations=[membership]))
    assert stale.codes == ["XDSMetadataVersionError"]


# --- what the NIST toolkit's tests exposed (issue #14) -----------------------------------------

def test_a_status_change_of_an_older_version_is_refused(app, patient):
    """Deprecated version 1 of a document whose version 2 is Approved: moving version 1 back to
    Approved would leave two current versions. The change must target the latest version
    (ITI TF-2b 3.57.4.1.3.3.2.3); nothing changes."""
    original, entry_uuid = registered(app, patient)
    assert update(app, next_version(patient, original, entry_uuid)).status == SUCCESS
    reply = update(app, status_update(submission_set(patient), entry_uuid, v.DEPRECATED,
                                      v.APPROVED))
    assert reply.status == FAILURE and reply.codes == ["XDSMetadataUpdateError"]
    assert "not its latest version" in reply.errors[0]["context"]
    assert [e.get("status") for e in versions_of(app, original.unique_id)] == [
        v.DEPRECATED, v.APPROVED]


def test_a_status_change_may_target_the_version_the_same_request_submits(app, patient):
    """New version 2 and, in the same ITI-57, its move from Approved to Deprecated: the change
    sees the version submitted beside it."""
    original, entry_uuid = registered(app, patient)
    submission = next_version(patient, original, entry_uuid)
    change = status_update(submission.submission_set, "Document01", v.APPROVED, v.DEPRECATED)
    submission.associations += change.associations
    reply = update(app, submission)
    assert reply.status == SUCCESS, reply.errors
    assert [e.get("status") for e in versions_of(app, original.unique_id)] == [
        v.DEPRECATED, v.DEPRECATED]


@pytest.mark.parametrize("slots, says", [
    ({v.NEW_STATUS: [v.DEPRECATED]}, "OriginalStatus slot is missing"),
    ({v.ORIGINAL_STATUS: [v.APPROVED]}, "NewStatus slot is missing"),
    ({v.ORIGINAL_STATUS: [v.APPROVED], v.NEW_STATUS: ["urn:oasis:names:tc:ebxml-regrep:"
                                                      "StatusType:Withdrawn"]},
     "is not an availability status"),
    ({v.ORIGINAL_STATUS: [v.APPROVED], v.NEW_STATUS: [v.APPROVED]}, "same as OriginalStatus"),
    ({v.ORIGINAL_STATUS: [v.APPROVED], v.NEW_STATUS: [v.DEPRECATED], "PreviousVersion": ["1"]},
     "do not belong on it"),
])
def test_an_undecodable_status_change_is_an_operation_error(app, patient, slots, says):
    """XDSMetadataUpdateOperationError, "cannot decode the requested metadata update" (MU
    Table 4.2.4.1-2; NIST 20002), not the generic XDSMetadataUpdateError."""
    original, entry_uuid = registered(app, patient)
    submission = status_update(submission_set(patient), entry_uuid, v.APPROVED, v.DEPRECATED)
    submission.associations[0].slots = dict(slots)
    reply = update(app, submission)
    assert reply.status == FAILURE and set(reply.codes) == {"XDSMetadataUpdateOperationError"}
    assert says in " ".join(e["context"] for e in reply.errors)
    assert [e.get("status") for e in versions_of(app, original.unique_id)] == [v.APPROVED]


def test_an_update_may_carry_a_document_relationship_of_the_xds_list(app, patient):
    """A type of ITI TF-3 Table 4.2.2-1 (APND) beside a new version is accepted by ITI-57."""
    from xds_server.consumer.metadata import relationship

    original, entry_uuid = registered(app, patient)
    _other, other_uuid = registered(app, patient)
    submission = next_version(patient, original, entry_uuid)
    submission.associations.append(relationship(v.APND, "Document01", other_uuid))
    reply = update(app, submission)
    assert reply.status == SUCCESS, reply.errors


@pytest.mark.parametrize("association_type, says", [
    ("urn:example:AssociationType:Custom", "nor a Metadata Update operation"),
])
def test_an_update_with_a_type_outside_the_lists_is_an_operation_error(
        app, patient, association_type, says):
    """Outside Table 4.2.2-1 and the MU operations (UpdateAvailabilityStatus,
    SubmitAssociation: tests/test_metadata_update_links.py): the update cannot be decoded
    (XDSMetadataUpdateOperationError), and nothing changes."""
    from xds_server.consumer.metadata import relationship

    original, entry_uuid = registered(app, patient)
    _other, other_uuid = registered(app, patient)
    submission = next_version(patient, original, entry_uuid)
    submission.associations.append(relationship(association_type, "Document01", other_uuid))
    reply = update(app, submission)
    assert reply.status == FAILURE and "XDSMetadataUpdateOperationError" in reply.codes
    assert says in " ".join(e["context"] for e in reply.errors)
    assert [e.get("status") for e in versions_of(app, original.unique_id)] == [v.APPROVED]


def test_a_registration_with_a_type_outside_the_xds_list_is_a_metadata_error(app, patient):
    from xds_server.consumer.metadata import relationship

    _original, entry_uuid = registered(app, patient)
    submission = single_document_submission(patient)
    submission.associations.append(relationship("urn:example:AssociationType:Custom",
                                                "Document01", entry_uuid))
    reply = register(app, submission)
    assert reply.status == FAILURE and reply.codes == ["XDSRegistryMetadataError"]
    assert "Table 4.2.2-1" in reply.errors[0]["context"]


@pytest.mark.parametrize("value, accepted", [("no", True), ("yes", True), ("maybe", False)])
def test_association_propagation_is_yes_or_no(app, patient, value, accepted):
    """ITI TF-2b 3.57.4.1.3.1.3.4 (NIST 20002b): another value cannot be decoded."""
    original, entry_uuid = registered(app, patient)
    submission = next_version(patient, original, entry_uuid)
    submission.associations[0].slots["AssociationPropagation"] = [value]
    reply = update(app, submission)
    if accepted:
        assert reply.status == SUCCESS, reply.errors
    else:
        assert reply.status == FAILURE and reply.codes == ["XDSMetadataUpdateOperationError"]
        assert [e.get("status") for e in versions_of(app, original.unique_id)] == [v.APPROVED]


def test_a_new_version_repeating_a_confidentiality_code_is_refused(app, patient):
    """Issue 16 re-test m2, over ITI-57: a masking sent again must not carry its code twice."""
    original, entry_uuid = registered(app, patient)
    reply = update(app, next_version(patient, original, entry_uuid, confidentiality_codes=[
        *original.confidentiality_codes, Code("MASQUE_PS", v.VISIBILITY_SYSTEM),
        Code("MASQUE_PS", v.VISIBILITY_SYSTEM)]))
    assert reply.status == FAILURE and reply.codes == ["XDSMetadataUpdateError"]
    assert "given twice" in reply.errors[0]["context"]
    assert len(versions_of(app, original.unique_id)) == 1


def test_a_version_stored_as_sent_before_is_still_updated(app, patient):
    """Registrations before outside round 19d stored a submitted VersionInfo (ebRIM's default
    "1.1"); an ITI-57 of such a document answered 500 (int("1.1")). It now follows it as
    version 1: PreviousVersion names what was stored, the new version is 2."""
    from sqlalchemy import update as sql_update

    from xds_server.model.registered import version_number
    from xds_server.store.tables import document_entries as documents

    original, entry_uuid = registered(app, patient)
    with app.database.transaction() as uow:
        uow.connection.execute(sql_update(documents).where(documents.c.entry_uuid == entry_uuid)
                               .values(version="1.1"))
    reply = update(app, next_version(patient, original, entry_uuid, previous="1.1",
                                     title="Titre corrigé"))
    assert reply.status == SUCCESS, reply.errors
    assert versions_of(app, original.unique_id)[-1].find(
        f"{{{RIM}}}VersionInfo").get("versionName") == "2"
    assert [version_number(x) for x in (None, "", "3", "1.1", "x", "٣")] == [1, 1, 3, 1, 1, 1]
