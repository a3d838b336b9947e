"""Stored queries and versions (the Metadata Update option, ITI TF-2a 3.18.4.1.2.3.5.1.1), in
process over SOAP on every database: $MetadataLevel 1 (the default) shows the latest version
of each DocumentEntry and Folder and no Deprecated folder or association; level 2 shows every
version the query selects (NIST 20000d/e: GetFolderAndContents by uniqueId returns each Folder
version with its members); $XDSAssociationStatus narrows the associations. A new Folder
version holds the documents of the previous one unless AssociationPropagation is "no"."""

from __future__ import annotations

import copy

import pytest

from xds_server.consumer.metadata import folder_and_document_links, has_member, status_update
from xds_server.model import vocabulary as v
from xds_server.model.metadata import Submission

from .registry_data import (
    FAILURE,
    SUCCESS,
    document,
    folder,
    register,
    run_query,
    submission_set,
)
from .test_metadata_update import (
    GET_DOCUMENTS,
    GET_FOLDERS,
    next_version,
    registered,
    update,
)

GET_FOLDER_AND_CONTENTS = "urn:uuid:b909a503-523d-4517-8acf-8e5834dfc4c7"
GET_ASSOCIATIONS = "urn:uuid:a7ae438b-4bc2-4642-93e9-be891f7bb155"
FIND_FOLDERS = "urn:uuid:958f3006-baad-4929-a4de-ff1114824431"
BOTH = [v.APPROVED, v.DEPRECATED]


def test_get_documents_by_unique_id_shows_the_latest_version_at_level_1(app, patient):
    original, entry_uuid = registered(app, patient)
    assert update(app, next_version(patient, original, entry_uuid)).status == SUCCESS
    by_unique_id = {"$XDSDocumentEntryUniqueId": [original.unique_id]}
    for level, statuses in ((None, [v.APPROVED]), (1, [v.APPROVED]), (2, BOTH)):
        params = dict(by_unique_id, **({"$MetadataLevel": level} if level else {}))
        found = run_query(app, GET_DOCUMENTS, params).objects("ExtrinsicObject")
        assert sorted(e.get("status") for e in found) == statuses, level
    # the old version asked by its entryUUID is not the latest: level 1 does not show it
    by_uuid = {"$XDSDocumentEntryEntryUUID": [entry_uuid]}
    assert run_query(app, GET_DOCUMENTS, by_uuid).objects() == []
    assert len(run_query(app, GET_DOCUMENTS, dict(by_uuid, **{"$MetadataLevel": 2})
                         ).objects()) == 1


def _folder_of_two(app, patient):
    package, group = submission_set(patient), folder(patient)
    entries = [document(patient, "Document01"), document(patient, "Document02")]
    associations = [has_member(package.entry_uuid, e.entry_uuid) for e in entries]
    associations += [has_member(package.entry_uuid, group.entry_uuid)]
    associations += folder_and_document_links(group, entries, package.entry_uuid)
    assert register(app, Submission(package, entries, [group],
                                    associations=associations)).status == SUCCESS
    [first] = run_query(app, GET_FOLDERS, {"$XDSFolderUniqueId": [group.unique_id]}).objects(
        "RegistryPackage")
    return group, first.get("id")


def _new_folder_version(app, patient, group, lid, propagation):
    renamed = copy.deepcopy(group)
    renamed.entry_uuid, renamed.logical_id, renamed.title = "Folder01", lid, "Renommé"
    package = submission_set(patient)
    membership = has_member(package.entry_uuid, "Folder01")
    membership.slots[v.PREVIOUS_VERSION] = ["1"]
    if propagation:
        membership.slots["AssociationPropagation"] = [propagation]
    reply = update(app, Submission(package, [], [renamed], associations=[membership]))
    assert reply.status == SUCCESS, reply.errors


@pytest.mark.parametrize("propagation, level_2, level_1", [
    # (folders, documents, associations) at level 2 and at level 1
    (None, (2, 2, 4), (1, 2, 2)),            # NIST 20000d: the new version holds them too
    ("no", (2, 2, 2), (1, 0, 0)),            # NIST 20000e: only the old one holds them
])
def test_folder_versions_and_their_contents(app, patient, propagation, level_2, level_1):
    group, lid = _folder_of_two(app, patient)
    _new_folder_version(app, patient, group, lid, propagation)
    for level, wanted in ((2, level_2), (1, level_1)):
        reply = run_query(app, GET_FOLDER_AND_CONTENTS, {
            "$XDSFolderUniqueId": group.unique_id, "$MetadataLevel": level,
            "$XDSAssociationStatus": BOTH})
        got = tuple(len(reply.objects(kind)) for kind in ("RegistryPackage", "ExtrinsicObject",
                                                          "Association"))
        assert got == wanted, (level, reply.errors)
        if level == 1:
            assert [f.get("lid") != f.get("id") for f in reply.objects("RegistryPackage")] == [
                True]                         # the latest version, not the one deprecated
    versions = run_query(app, GET_FOLDERS, {"$XDSFolderUniqueId": [group.unique_id],
                                            "$MetadataLevel": 2}).objects("RegistryPackage")
    assert sorted(f.get("status") for f in versions) == BOTH


def test_a_deprecated_folder_and_association_show_at_level_2_only(app, patient):
    group, lid = _folder_of_two(app, patient)
    _new_folder_version(app, patient, group, lid, "no")
    find = {"$XDSFolderPatientId": patient, "$XDSFolderStatus": BOTH}
    assert len(run_query(app, FIND_FOLDERS, find).objects()) == 1
    assert len(run_query(app, FIND_FOLDERS, dict(find, **{"$MetadataLevel": 2})).objects()) == 2
    # the old version's memberships stay Approved (NIST 20000e): level 1 shows them
    assert len(run_query(app, GET_ASSOCIATIONS, {"$uuid": [lid]}).objects()) == 3
    links = run_query(app, GET_ASSOCIATIONS, {"$uuid": [lid], "$MetadataLevel": 2,
                                              "$XDSAssociationStatus": [v.DEPRECATED]})
    assert links.objects() == []             # its memberships are Approved, not Deprecated
    links = run_query(app, GET_ASSOCIATIONS, {"$uuid": [lid], "$MetadataLevel": 2,
                                              "$XDSAssociationStatus": [v.APPROVED]})
    assert len(links.objects("Association")) == 3    # two memberships, the set's HasMember


@pytest.mark.parametrize("level", ["0", "3"])
def test_a_metadata_level_other_than_1_or_2_is_refused(app, patient, level):
    registered(app, patient)
    reply = run_query(app, GET_DOCUMENTS, {"$XDSDocumentEntryPatientId": patient,
                                           "$XDSDocumentEntryEntryUUID": ["urn:uuid:x"],
                                           "$MetadataLevel": int(level)})
    assert reply.status == FAILURE and reply.codes == ["XDSRegistryError"]
    assert "$MetadataLevel" in reply.errors[0]["location"]


GET_ALL = "urn:uuid:10b545ea-725c-446d-9b95-8aeb444eddf3"


def test_get_all_shows_the_latest_version_at_level_1(app, patient):
    """GetAll asks which of the record's Deprecated documents have a later version in the round
    trip of its other reads (store/query_reads.py): at level 1 the older version is left out,
    a document Deprecated by a status change (no later version) stays, and level 2 shows
    both versions."""
    original, entry_uuid = registered(app, patient)
    assert update(app, next_version(patient, original, entry_uuid)).status == SUCCESS
    plain, plain_uuid = registered(app, patient)
    assert update(app, status_update(submission_set(patient), plain_uuid, v.APPROVED,
                                     v.DEPRECATED)).status == SUCCESS
    params = {"$patientId": patient, "$XDSDocumentEntryStatus": BOTH,
              "$XDSSubmissionSetStatus": [v.APPROVED], "$XDSFolderStatus": [v.APPROVED]}
    for level, expected in ((None, {(original.unique_id, v.APPROVED),
                                    (plain.unique_id, v.DEPRECATED)}),
                            (2, {(original.unique_id, v.APPROVED),
                                 (original.unique_id, v.DEPRECATED),
                                 (plain.unique_id, v.DEPRECATED)})):
        reply = run_query(app, GET_ALL, dict(params, **({"$MetadataLevel": level}
                                                        if level else {})))
        found = {(_unique_id(e), e.get("status")) for e in reply.objects("ExtrinsicObject")}
        assert found == expected, level
        shown = {e.get("id") for e in reply.objects("ExtrinsicObject")}
        assert (entry_uuid in shown) == (level == 2)
        # no association names a document the answer left out
        ends = {end for a in reply.objects("Association")
                for end in (a.get("sourceObject"), a.get("targetObject"))}
        assert entry_uuid not in ends or level == 2


def _unique_id(extrinsic) -> str:
    for identifier in extrinsic.iter("{*}ExternalIdentifier"):
        if identifier.get("identificationScheme") == v.DE_UNIQUE_ID:
            return identifier.get("value")
    raise AssertionError("no uniqueId")
