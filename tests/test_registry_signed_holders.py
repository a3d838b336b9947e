"""Who signs what for rule K (outside rounds 19f, 19f-1, and 19g, 19g-1), over the registry's
SOAP endpoint in process.

A `signs` counts only from a signature document (by its codes) into a submission set that holds
it. A `signs` into a Folder (which takes members after signing), into an Association or an id
no object has, from a CDA, or from another set's signature made rule K count documents as
covered by a signature that never digested their bytes, and their own signature could then be
archived alone. Such links are refused at registration and beside an ITI-57 (every profile);
those a record kept from before (planted here in the store, as a record registered while
nothing refused them) cover nothing.
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
from xds_server.security.principal import SYSTEM
from xds_server.store import registry_store as store

from .cda_data import LEVEL1, TEST_INS
from .dsig_data import fresh, signed_submission, with_uuids
from .registry_data import document, folder, register, soap_call, submission_set
from .test_registry_signed_sets import (  # noqa: F401 (app, signed: fixtures)
    _status,
    app,
    cda_of,
    refused,
    required,
    signed,
    update,
)

RULE = "a signs association targets"


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
    _plant_links(app, (v.SIGNS, source, target))


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
        refused(reply, "SignsFolder", "a signs association is submitted with its signature")


@pytest.mark.parametrize("remove", ["archive", "delete"])
def test_a_legacy_signs_from_outside_a_set_covers_nothing_in_it(app, signed, remove):
    """A `signs` into signed set A from a document A does not hold (a CDA of another set,
    planted while nothing refused it): A's signature archived (or deleted) alone is refused,
    the CDA of another set is not A's signer."""
    if not required(app):
        return
    _, outsider = _registered_folder(app)
    submission, signature = signed
    _plant_signs(app, outsider, submission.submission_set.entry_uuid)
    new = v.CISIS_ARCHIVED if remove == "archive" else DELETED
    refused(_status(app, signature.entry_uuid, new=new), cda_of(submission, signature).entry_uuid)


def test_a_document_may_not_sign_a_registered_submission_set(app, signed):
    """A set's signature is submitted with the set it signs: a `signs` into a registered
    SubmissionSet (here signed set A's) is refused, whoever sends it."""
    submission, _ = signed
    later = _filed()
    later.associations.append(Association("SignsSet", v.SIGNS, later.documents[0].entry_uuid,
                                          submission.submission_set.entry_uuid))
    reply = register(app, later)
    assert reply.status.endswith(":Failure")
    if not required(app):
        refused(reply, "Association SignsSet", "SubmissionSet of its own submission",
                submission.submission_set.entry_uuid)


def test_a_legacy_signs_from_a_cda_makes_it_no_signature(app, signed):
    """19g-1 (g7): A's CDA with a `signs` into A's own set (planted as a record kept from
    before): it is no signature (its codes say what it is), so A's signature archived alone
    still leaves it unsigned: refused."""
    if not required(app):
        return
    submission, signature = signed
    cda = cda_of(submission, signature)
    _plant_signs(app, cda.entry_uuid, submission.submission_set.entry_uuid)
    refused(_status(app, signature.entry_uuid, new=v.CISIS_ARCHIVED), cda.entry_uuid)


def _required_now(make_app, authority):
    """The same database served with signatures required: a record from before the switch."""
    from .test_registry_signed_sets import LISTED

    return make_app(profile="ihe", accept_test_ins=True, require_submission_signature=True,
                    signature_trusted_certs=str(authority.trusted),
                    signature_verifying_repositories=LISTED)


def _plant_links(app, *links: tuple[str, str, str]) -> None:
    """Links (type, source, target) a record kept from before, written to the store."""
    package = submission_set(TEST_INS, f"urn:uuid:{uuid.uuid4()}")
    rows = [Association(f"urn:uuid:{uuid.uuid4()}", *link) for link in links]
    with app.database.transaction() as uow:
        store.register(uow, patient_key(TEST_INS), package, [], [], rows,
                       {o.entry_uuid: b"<x/>" for o in (package, *rows)})


def test_a_legacy_signs_into_an_id_a_later_set_takes_covers_nothing(app, signed):
    """19g-1 (h1): a `signs` into an id no object had; an ITI-57 of A's CDA whose set takes
    that id (it then holds A's CDA's new version); A's signature archived alone: refused."""
    if not required(app):
        return
    _, planted_by = _registered_folder(app)
    taken = f"urn:uuid:{uuid.uuid4()}"
    _plant_links(app, (v.SIGNS, planted_by, taken))
    submission, signature = signed
    version = copy.deepcopy(cda_of(submission, signature))
    logical_id, version.entry_uuid, version.title = version.entry_uuid, "Document01", "Corrigé"
    request = new_version(submission_set(TEST_INS, taken), version, logical_id, "1")
    soap_call(app, "/xds/registry", UPDATE, request_of(request))
    refused(_status(app, signature.entry_uuid, new=v.CISIS_ARCHIVED), "rule K1")


@pytest.mark.parametrize("signer", ["an association's", "another set's signature"])
def test_a_legacy_signs_from_no_signature_of_the_set_covers_nothing(app, signed, signer,
                                                                   authority, tmp_path):
    """19g-1 (h2, h6): a `signs` into an Association holding A's CDA; set B's real signature
    also signing A. Neither signed A's bytes: A's signature archived alone is refused."""
    if not required(app):
        return
    submission, signature = signed
    cda = cda_of(submission, signature)
    if signer == "an association's":
        _, planted_by = _registered_folder(app)
        holder = f"urn:uuid:{uuid.uuid4()}"
        _plant_links(app, (v.SIGNS, planted_by, holder), (v.HAS_MEMBER, holder, cda.entry_uuid))
    else:
        other, documents, other_signature = signed_submission(
            authority, [fresh(LEVEL1, tmp_path)], TEST_INS)
        with_uuids(other, documents)
        app.repository.provide(other, documents, SYSTEM, [])
        _plant_links(app, (v.SIGNS, other_signature.entry_uuid,
                           submission.submission_set.entry_uuid))
    refused(_status(app, signature.entry_uuid, new=v.CISIS_ARCHIVED), cda.entry_uuid)


@pytest.mark.parametrize("code", ["format_code", "class_code"])
def test_a_cda_that_took_a_signature_s_code_later_is_still_checked(app, make_app, authority,
                                                                    signed, code):
    """19g (after 19g-1): with the requirement off (rule H asleep), an ITI-57 version of A's
    CDA takes a signature's formatCode (or classCode); once signatures are required, A's
    signature archived alone is refused: a lineage is a signature by its first version."""
    from xds_server.model.signature_entry import DSG_DETACHED_FORMAT, SIGNATURE_CLASS

    if required(app):
        return
    submission, signature = signed
    cda = cda_of(submission, signature)
    taken = DSG_DETACHED_FORMAT if code == "format_code" else SIGNATURE_CLASS
    reply = update(app, cda, **{code: taken})
    assert reply.status.endswith(":Success"), reply.errors
    strict = _required_now(make_app, authority)
    refused(_status(strict, signature.entry_uuid, new=v.CISIS_ARCHIVED), "rule K1")


@pytest.mark.parametrize("code", ["format_code", "class_code"])
def test_a_cda_coded_like_a_signature_under_another_scheme_is_checked(app, authority,
                                                                      tmp_path, code):
    """19h-1: a signed set's CDA with DSG's formatCode (or the DMP's signature classCode)
    under another codingScheme is registered as a CDA (codes are read with their scheme);
    rule K read the code alone, took it for a signature and left it out of K1: its set's
    signature archived alone passed."""
    from xds_server.model.metadata import Code
    from xds_server.model.signature_entry import DSG_DETACHED_FORMAT, SIGNATURE_CLASS

    if not required(app):
        return
    submission, documents, signature = signed_submission(
        authority, [fresh(LEVEL1, tmp_path)], TEST_INS)
    cda = cda_of(submission, signature)
    taken = DSG_DETACHED_FORMAT if code == "format_code" else SIGNATURE_CLASS
    setattr(cda, code, Code(taken.code, "1.2.250.1.999.77", "look-alike"))
    with_uuids(submission, documents)
    app.repository.provide(submission, documents, SYSTEM, [])
    refused(_status(app, signature.entry_uuid, new=v.CISIS_ARCHIVED), "rule K1")


def test_a_set_holding_a_cda_by_reference_does_not_cover_it(app, make_app, authority, signed,
                                                           tmp_path):
    """19h-2: with the requirement off (rule M asleep), signed set X also holds A's CDA by
    reference; once signatures are required, A's signature archived alone is refused: X's
    Manifest never digested A's CDA."""
    if required(app):
        return
    submission, signature = signed
    cda = cda_of(submission, signature)
    other, documents, _ = signed_submission(authority, [fresh(LEVEL1, tmp_path)], TEST_INS)
    other.associations.append(has_member(other.submission_set.entry_uuid, cda.entry_uuid,
                                         status="Reference"))
    with_uuids(other, documents)
    app.repository.provide(other, documents, SYSTEM, [])
    strict = _required_now(make_app, authority)
    refused(_status(strict, signature.entry_uuid, new=v.CISIS_ARCHIVED), "rule K1")


def test_a_later_set_holding_a_signature_s_version_is_not_signed_by_it(app, authority, signed,
                                                                       tmp_path):
    """19h-3: an old `signs` from set B's signature into an id no object had; an ITI-57 whose
    set takes that id holds new versions of A's CDA and of B's signature; A's signature
    archived alone next: refused (a signature signs the set of its first version only)."""
    if not required(app):
        return
    other, documents, other_signature = signed_submission(
        authority, [fresh(LEVEL1, tmp_path)], TEST_INS)
    with_uuids(other, documents)
    app.repository.provide(other, documents, SYSTEM, [])
    taken = f"urn:uuid:{uuid.uuid4()}"
    _plant_links(app, (v.SIGNS, other_signature.entry_uuid, taken))
    submission, signature = signed
    request = None
    for symbol, entry in (("Document01", cda_of(submission, signature)),
                          ("Document02", other_signature)):
        version = copy.deepcopy(entry)
        logical_id, version.entry_uuid, version.title = entry.entry_uuid, symbol, "Corrigé"
        step = new_version(submission_set(TEST_INS, taken), version, logical_id, "1")
        if request is None:
            request = step
        else:
            request.documents += step.documents
            request.associations += step.associations
    reply = soap_call(app, "/xds/registry", UPDATE, request_of(request))
    assert reply.status.endswith(":Success"), reply.errors
    refused(_status(app, signature.entry_uuid, new=v.CISIS_ARCHIVED), "rule K1")


def test_a_version_written_by_a_host_behind_is_not_the_first(app, signed, monkeypatch):
    """19i-1: two registry hosts on one database, the second's clock 5 s behind: the
    signature's title v2 it writes sorts before v1 in registration order; the first version
    is still v1 (its entryUUID is its logicalId), and A's signature archived alone is
    refused."""
    import time

    from xds_server.store import registry_store

    from .test_registry_signed_state import _latest

    if not required(app):
        return
    _, signature = signed
    behind = time.time_ns
    monkeypatch.setattr(registry_store.time, "time_ns", lambda: behind() - 5_000_000_000)
    reply = update(app, signature, title="Signature")
    monkeypatch.setattr(registry_store.time, "time_ns", behind)
    assert reply.status.endswith(":Success"), reply.errors
    second = _latest(app, signature.entry_uuid).entry_uuid
    refused(_status(app, second, new=v.CISIS_ARCHIVED), "rule K1")


def test_a_new_version_names_the_logical_id_not_a_later_version(app, signed):
    """19j-1: an ITI-57 whose lid named version 2's entryUUID was stored as sent: the
    lineage split, the new version held by no signed set left rule K, and A's only
    signature was archived alone. Refused in every profile, signatures required or not."""
    from .test_registry_signed_state import _latest

    submission, signature = signed
    cda = cda_of(submission, signature)
    assert update(app, cda, title="v2").status.endswith(":Success")
    second = _latest(app, cda.entry_uuid)
    version = copy.deepcopy(cda)
    version.entry_uuid, version.title = "Document01", "v3"
    request = new_version(submission_set(TEST_INS), version, second.entry_uuid, "2")
    reply = soap_call(app, "/xds/registry", UPDATE, request_of(request))
    refused(reply, f"lid {second.entry_uuid} is a later version of logicalId "
                   f"{cda.entry_uuid}")
    if required(app):
        refused(_status(app, signature.entry_uuid, new=v.CISIS_ARCHIVED), "rule K1")
