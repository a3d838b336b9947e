"""A Folder is never a signature's holder (outside round 19f, 19f-1), over the registry's SOAP
endpoint in process.

A `signs` into a Folder made rule K count the folder as a signed set, and a Folder, unlike a
submission set, takes members after it is signed: a document filed into it later counted as
covered by that signature, and its own signature could then be archived or deleted alone. Such
a `signs` is now refused at registration (every profile), and one a record kept from before
(planted here in the store, as a record registered while nothing refused it) covers nothing.
"""

from __future__ import annotations

import copy
import uuid

import pytest

from xds_server.consumer.changes import UPDATE
from xds_server.consumer.metadata import has_member, new_version, relationship, submit_association
from xds_server.consumer.metadata import submit_objects_request as request_of
from xds_server.model import vocabulary as v
from xds_server.model.hl7 import patient_key
from xds_server.model.metadata import Association, Submission
from xds_server.security.access import DELETED
from xds_server.store import registry_store as store

from .cda_data import TEST_INS
from .registry_data import document, folder, register, soap_call, submission_set
from .test_registry_signed_sets import (  # noqa: F401 (app, signed: fixtures)
    _status,
    app,
    cda_of,
    refused,
    required,
    signed,
)

RULE = "a signs association targets a SubmissionSet or a DocumentEntry"


def _filed(shelf_id: str | None = None) -> Submission:
    """A set with a document filed in a folder, new (`Folder01`) or registered (`shelf_id`)."""
    package = submission_set(TEST_INS)
    entry = document(TEST_INS, repository_unique_id="1.2.3.4.5")
    associations = [has_member(package.entry_uuid, entry.entry_uuid)]
    folders = []
    if shelf_id is None:
        folders = [folder(TEST_INS)]
        shelf_id = folders[0].entry_uuid
        associations.append(has_member(package.entry_uuid, shelf_id, status=None))
    filing = has_member(shelf_id, entry.entry_uuid, status=None)
    associations += [filing, has_member(package.entry_uuid, filing.entry_uuid, status=None)]
    return Submission(package, [entry], folders=folders, associations=associations)


def _registered_folder(app, kept: list | None = None) -> tuple[str, str]:
    """(a registered folder's entryUUID, its document's), written to the store as a record
    kept from before (with signatures required, an unsigned ITI-42 is refused)."""
    submission = _filed()
    entries = (submission.submission_set, *submission.documents, *submission.folders,
               *submission.associations)
    renamed = {o.entry_uuid: f"urn:uuid:{uuid.uuid4()}" for o in entries}
    for o in entries:
        o.entry_uuid = renamed[o.entry_uuid]
    for versioned in (*submission.documents, *submission.folders):
        versioned.logical_id, versioned.version = versioned.entry_uuid, "1"
    for a in submission.associations:
        a.source, a.target = renamed.get(a.source, a.source), renamed.get(a.target, a.target)
    with app.database.transaction() as uow:
        store.register(uow, patient_key(TEST_INS), submission.submission_set,
                       submission.documents, submission.folders, submission.associations,
                       {o.entry_uuid: b"<x/>" for o in entries})
    if kept is not None:
        kept.append(submission)
    return submission.folders[0].entry_uuid, submission.documents[0].entry_uuid


def test_a_document_may_not_sign_its_own_folder(app):
    submission = _filed()
    submission.associations.append(Association("SignsFolder", v.SIGNS,
                                               submission.documents[0].entry_uuid, "Folder01"))
    reply = register(app, submission)
    assert reply.status.endswith(":Failure")
    if not required(app):   # with signatures required, the DSG checks may answer first
        refused(reply, "Association SignsFolder", RULE, "Folder01")


def test_a_document_may_not_sign_a_registered_folder(app):
    shelf, _ = _registered_folder(app)
    submission = _filed(shelf)
    submission.associations.append(Association("SignsFolder", v.SIGNS,
                                               submission.documents[0].entry_uuid, shelf))
    reply = register(app, submission)
    assert reply.status.endswith(":Failure")
    if not required(app):
        refused(reply, "Association SignsFolder", RULE, shelf)


def _plant_signs(app, source: str, target: str) -> None:
    """A `signs` the record kept from before the check (written to the store directly)."""
    package = submission_set(TEST_INS, "urn:uuid:6f1e6a52-9d55-4c0b-8a43-3f1a0c9e5d11")
    link = Association("urn:uuid:0b8e7c3a-5f2d-4e61-9a7b-2c4d6e8f1a35", v.SIGNS, source,
                       target)
    with app.database.transaction() as uow:
        store.register(uow, patient_key(TEST_INS), package, [], [], [link],
                       {package.entry_uuid: b"<x/>", link.entry_uuid: b"<x/>"})


@pytest.mark.parametrize("remove", ["archive", "delete"])
def test_a_legacy_signs_into_a_folder_covers_nothing_filed_into_it(app, signed, remove):
    """19f-1: signed set A; a legacy `signs` into folder F; A's CDA filed into F; A's
    signature archived (or deleted) alone: refused, the CDA would stay Approved unsigned."""
    if not required(app):
        return
    shelf, planted_by = _registered_folder(app)
    _plant_signs(app, planted_by, shelf)
    submission, signature = signed
    cda = cda_of(submission, signature)
    filing = submit_association(submission_set(TEST_INS),
                                has_member(shelf, cda.entry_uuid, status=None))
    reply = soap_call(app, "/xds/registry", UPDATE, request_of(filing))
    assert reply.status.endswith(":Success"), reply.errors
    new = v.CISIS_ARCHIVED if remove == "archive" else DELETED
    refused(_status(app, signature.entry_uuid, new=new), cda.entry_uuid)
    reply = _status(app, signature.entry_uuid, cda.entry_uuid, new=new)
    assert reply.status.endswith(":Success"), reply.errors


def test_a_relationship_to_a_folder_is_unchanged(app):
    """The check is about `signs`: other relationships to a folder keep their own answer."""
    shelf, _ = _registered_folder(app)
    submission = _filed(shelf)
    submission.associations.append(relationship(v.APND, submission.documents[0].entry_uuid,
                                                shelf))
    reply = register(app, submission)
    assert reply.status.endswith(":Failure")
    assert not [e for e in reply.errors if RULE in e["context"]], reply.errors


def test_an_update_s_new_version_may_not_sign_a_folder(app):
    """The same `signs` riding beside an ITI-57 new version (update_links.check_references)."""
    kept: list = []
    shelf, entry_uuid = _registered_folder(app, kept)
    version = copy.deepcopy(kept[0].documents[0])
    version.entry_uuid = "Document01"
    request = new_version(submission_set(TEST_INS), version, entry_uuid, "1")
    request.associations.append(Association("SignsFolder", v.SIGNS, "Document01", shelf))
    reply = soap_call(app, "/xds/registry", UPDATE, request_of(request))
    assert reply.status.endswith(":Failure")
    if not required(app):   # with signatures required, rule F answers: no `signs` in ITI-57
        refused(reply, "SignsFolder", RULE, shelf)
