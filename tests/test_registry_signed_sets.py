"""What ITI-57 and ITI-62 may change of a registered signed set while signed sets are required
(registry/signed_sets.py; outside test 19b, F1-F3), over HTTP (the registry's SOAP endpoint, in
process): a new version keeps its bytes and its being a signature; the signature goes only with
the set's documents."""

from __future__ import annotations

import copy
import uuid

import pytest

from xds_server.consumer.changes import REMOVE_METADATA, UPDATE, remove_objects_request
from xds_server.consumer.metadata import new_version, status_update, submit_objects_request
from xds_server.model import vocabulary as v
from xds_server.model.metadata import Association
from xds_server.model.signature_entry import SIGNATURE_CLASS, SIGNATURE_FORMAT, SIGNATURE_TYPE
from xds_server.security.access import DELETED
from xds_server.security.principal import SYSTEM

from .cda_data import LEVEL1, TEST_INS
from .dsig_data import fresh, signed_submission, with_uuids
from .registry_data import open_patient, register, soap_call, submission_set

LISTED = "1.2.250.1.999.41"
UNKNOWN = "1.2.3.4.5"


@pytest.fixture(params=[True, False], ids=["required", "not-required"])
def app(request, make_app, authority):
    app = make_app(profile="ihe", accept_test_ins=True,
                   require_submission_signature=request.param,
                   signature_trusted_certs=str(authority.trusted),
                   signature_verifying_repositories=LISTED)
    open_patient(app, TEST_INS)
    return app


@pytest.fixture
def signed(app, authority, tmp_path):
    """A signed set stored and registered by this server's ITI-41: (submission, signature)."""
    submission, documents, signature = signed_submission(authority, [fresh(LEVEL1, tmp_path)],
                                                         TEST_INS)
    with_uuids(submission, documents)
    app.repository.provide(submission, documents, SYSTEM, [])
    return submission, signature


def required(app) -> bool:
    return app.settings.require_submission_signature


def cda_of(submission, signature):
    return next(d for d in submission.documents if d is not signature)


def update(app, entry, **changes):
    """An ITI-57 new version of the registered `entry` (version 1) with `changes`."""
    version = copy.deepcopy(entry)
    logical_id, version.entry_uuid = version.entry_uuid, "Document01"
    for name, value in changes.items():
        setattr(version, name, value)
    return soap_call(app, "/xds/registry", UPDATE, submit_objects_request(
        new_version(submission_set(TEST_INS), version, logical_id, "1")))


def contexts(reply) -> list[str]:
    return [e["context"] for e in reply.errors]


def refused(reply, *said: str) -> str:
    assert reply.status.endswith(":Failure"), reply.errors
    found = [c for c in contexts(reply) if all(s in c for s in said)]
    assert found, contexts(reply)
    return found[0]


# --- rule G: a new version keeps its bytes (F1) ---------------------------------------------


@pytest.mark.parametrize("repository", [UNKNOWN, LISTED])
def test_a_new_version_may_not_name_other_bytes(app, signed, repository):
    """F1: the CDA of a verified signed set, then its signature, given hash 000… at an unknown
    or a listed repository by ITI-57: bytes no signature covers, no retrieval serves."""
    submission, signature = signed
    for entry in (cda_of(submission, signature), signature):
        reply = update(app, entry, hash="0" * 40, size="1", repository_unique_id=repository)
        if required(app):
            context = refused(reply, f"uniqueId {entry.unique_id}", "rule G",
                              "keeps the hash, size and repositoryUniqueId")
            assert reply.codes == ["XDSMetadataUpdateError"] and entry.hash in context
        else:       # rule A only: bytes at another repository are that repository's word
            assert reply.status.endswith(":Success"), reply.errors


def test_a_new_version_with_the_same_bytes_is_accepted(app, signed):
    """A title corrected, the signature's too: the bytes stay, so the signature still holds."""
    submission, signature = signed
    for entry in (cda_of(submission, signature), signature):
        reply = update(app, entry, title="Corrigé")
        assert reply.status.endswith(":Success"), reply.errors


# --- rule H: a new version keeps its being a signature (F3) ---------------------------------


def test_a_new_version_may_not_become_or_stop_being_a_signature(app, signed):
    """F3: the CDA given a signature's codes (a second 'signature' in the set); the signature
    given the CDA's (a set with no recognisable signature)."""
    submission, signature = signed
    cda = cda_of(submission, signature)
    relabelled = update(app, cda, class_code=SIGNATURE_CLASS, type_code=SIGNATURE_TYPE,
                        format_code=SIGNATURE_FORMAT, mime_type="text/xml", language_code="art")
    plain = update(app, signature, class_code=cda.class_code, type_code=cda.type_code,
                   format_code=cda.format_code, language_code="fr-FR")
    if not required(app):
        return
    refused(relabelled, "a new version of a non-signature document must not take", "rule H",
            cda.unique_id)
    refused(plain, "a new version of a signature document must keep", "rule H",
            signature.unique_id)


# --- rule I: the signature goes only with the set's documents (F2) --------------------------


def _signs(submission, signature):
    return next(a for a in submission.associations if a.type == v.SIGNS
                and a.source == signature.entry_uuid)


def test_the_signature_is_not_removed_alone(app, signed):
    """F2: ITI-62 of the signature entry with its HasMember and `signs`: the CDA stays
    Approved, signed by nothing. Removing the whole set with it is allowed."""
    submission, signature = signed
    alone = {signature.entry_uuid, *(a.entry_uuid for a in submission.associations
                                     if signature.entry_uuid in (a.source, a.target))}
    reply = soap_call(app, "/xds/registry", REMOVE_METADATA, remove_objects_request(alone))
    if not required(app):
        assert reply.status.endswith(":Success"), reply.errors
        return
    context = refused(reply, f"signature document {signature.entry_uuid} cannot be removed "
                             "alone", "rule I", cda_of(submission, signature).entry_uuid)
    assert reply.codes == ["XDSRegistryError"] and "XDS_REQUIRE_SUBMISSION_SIGNATURE" in context
    signs_only = soap_call(app, "/xds/registry", REMOVE_METADATA,
                           remove_objects_request({_signs(submission, signature).entry_uuid}))
    refused(signs_only, f"signs association {_signs(submission, signature).entry_uuid}")
    whole = {o.entry_uuid for o in (submission.submission_set, *submission.documents,
                                    *submission.associations)}
    reply = soap_call(app, "/xds/registry", REMOVE_METADATA, remove_objects_request(whole))
    assert reply.status.endswith(":Success"), reply.errors


def _status(app, *targets: str, new: str = DELETED):
    request = status_update(submission_set(TEST_INS), targets[0], v.APPROVED, new)
    for target in targets[1:]:
        request.associations += status_update(request.submission_set, target, v.APPROVED,
                                              new).associations
    return soap_call(app, "/xds/registry", UPDATE, submit_objects_request(request))


@pytest.mark.parametrize("new", [DELETED, v.DEPRECATED])
def test_the_signature_is_not_deleted_or_deprecated_alone(app, signed, new):
    """F2 by ITI-57: the signature entry (or its `signs`) set Deleted or Deprecated alone;
    with the set's CDA in the same update it is allowed."""
    submission, signature = signed
    cda = cda_of(submission, signature)
    if required(app):
        refused(_status(app, signature.entry_uuid, new=new),
                f"signature document {signature.entry_uuid} cannot be deprecated or deleted "
                "alone", cda.entry_uuid)
    reply = _status(app, signature.entry_uuid, cda.entry_uuid, new=new)
    assert reply.status.endswith(":Success"), reply.errors


# --- dsig/metadata.py rule 5: only the signature entry signs (F5) ---------------------------


def test_a_document_of_a_signed_set_may_not_sign_a_registered_document(app, signed, authority,
                                                                       tmp_path):
    """F5: a correctly signed set (ITI-42 from a verifying repository) whose CDA carries a
    `signs` to a document registered earlier, or to the earlier set's signature."""
    from .test_registry_repositories import for_iti42

    earlier, earlier_signature = signed
    for target in (cda_of(earlier, earlier_signature), earlier_signature):
        submission, documents, _ = signed_submission(authority, [fresh(LEVEL1, tmp_path)],
                                                     TEST_INS)
        for_iti42(submission, documents, LISTED)
        cda = next(d for d in submission.documents
                   if d.entry_uuid != _signature_of(submission))
        submission.associations.append(Association("CdaSigns", v.SIGNS, cda.entry_uuid,
                                                   target.entry_uuid))
        reply = register(app, submission)
        refused(reply, "Association CdaSigns", "but only the set's signature document")


def _signature_of(submission) -> str:
    return next(a.source for a in submission.associations if a.type == v.SIGNS
                and a.target == submission.submission_set.entry_uuid)


def test_a_folder_alone_is_signed_with_the_codes_given(app, authority):
    """19d F-R5: a set holding a folder and no document needs a signature too; the signature
    entry took its facility and practice codes from the first document, so it went out
    without them and was refused. Without codes sign_submission now says what to give."""
    from xds_server.consumer.metadata import has_member
    from xds_server.dsig.produce import sign_submission
    from xds_server.model.content import Attachment
    from xds_server.model.metadata import Code, Submission

    from .registry_data import folder

    def folder_alone() -> Submission:
        package = submission_set(TEST_INS, f"urn:uuid:{uuid.uuid4()}")
        held = folder(TEST_INS, f"urn:uuid:{uuid.uuid4()}")
        membership = has_member(package.entry_uuid, held.entry_uuid)
        membership.entry_uuid = f"urn:uuid:{uuid.uuid4()}"
        return Submission(submission_set=package, folders=[held], associations=[membership])

    with pytest.raises(ValueError, match="facility and practice setting codes"):
        sign_submission(folder_alone(), {}, authority.seal("seal"))
    submission = folder_alone()
    entry, content = sign_submission(
        submission, {}, authority.seal("seal"), facility=Code("SA01", "1.2.250.1.71.4.2.4"),
        practice=Code("ETABLISSEMENT", "1.2.250.1.213.1.1.4.9"))
    reply = app.repository.provide(
        submission, {entry.entry_uuid: Attachment.from_bytes(content, "text/xml")}, SYSTEM, [])
    assert not [e for e in reply if e.is_error], reply
