"""Which repositories a registry registers entries for (registry/repositories.py; outside test
19, F01), in process: an ITI-42 naming this server's repository must name bytes it holds, for
that patient, in every profile; while signed sets are required, an ITI-42 comes from a listed
repository (bound to its client certificate when configured), one repository per set, and a set
of our own bytes is verified on them. The in-process ITI-41 registers without a lookup."""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import uuid

import pytest

from xds_server.consumer.metadata import has_member, new_oid, submit_objects_request
from xds_server.ebxml.decode import decode_submission
from xds_server.model.content import Attachment
from xds_server.model.errors import RegistryFailure
from xds_server.model.metadata import Submission
from xds_server.security.principal import SYSTEM
from xds_server.store import repository_store

from .cda_data import LEVEL1, TEST_INS
from .dsig_data import fresh, signed_submission, with_uuids
from .registry_data import (
    document,
    new_patient,
    open_patient,
    register,
    run_query,
    submission_set,
)

LISTED = "1.2.250.1.999.41"
BOUND = "1.2.250.1.999.42"
BOUND_SUBJECT = "CN=Repository B,O=Hopital B\\,Nord,C=FR"
UNKNOWN = "1.2.250.1.999.43"
FIND_DOCUMENTS = "urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d"


@pytest.fixture
def required(make_app, authority):
    """Signed sets required; LISTED verifies them, BOUND too, behind its client certificate."""
    app = make_app(profile="ihe", accept_test_ins=True, require_submission_signature=True,
                   signature_trusted_certs=str(authority.trusted),
                   signature_verifying_repositories=f"{LISTED}; {BOUND}={BOUND_SUBJECT}")
    open_patient(app, TEST_INS)
    return app


def own(app) -> str:
    return app.settings.repository_unique_id


def provided(app, patient: str, content: bytes) -> Submission:
    """One document stored and registered by this server's ITI-41 (the system): the
    submission, its entries completed by the repository."""
    entry = document(patient, f"urn:uuid:{uuid.uuid4()}", content=content,
                     mime_type="text/plain", repository_unique_id=None)
    package = submission_set(patient, f"urn:uuid:{uuid.uuid4()}")
    submission = Submission(package, [entry], associations=[has_member(
        package.entry_uuid, entry.entry_uuid, entry_uuid=f"urn:uuid:{uuid.uuid4()}")])
    app.repository.provide(submission, {entry.entry_uuid: Attachment.from_bytes(content)},
                           SYSTEM, [])
    return submission


def again(submission: Submission, **changes) -> Submission:
    """The same document entries in a new set (new ids, each a first version again: the
    registry wrote the first registration's lid and version into its entries), `changes`
    made to each entry."""
    copied = copy.deepcopy(submission)
    with_uuids(copied)
    copied.submission_set.unique_id = new_oid()
    for entry in copied.documents:
        entry.logical_id = entry.version = None
        for name, value in changes.items():
            setattr(entry, name, value)
    return copied


def for_iti42(submission, documents, repository: str):
    """What a repository that stored `documents` sends the registry: hash, size, its id."""
    for entry in submission.documents:
        content = documents[entry.entry_uuid].read_bytes()
        entry.hash, entry.size = hashlib.sha1(content).hexdigest(), str(len(content))
        entry.repository_unique_id = repository
    return submission


def registered(app, patient: str) -> set[str]:
    reply = run_query(app, FIND_DOCUMENTS, {"$XDSDocumentEntryPatientId": patient,
                                           "$XDSDocumentEntryStatus": ["Approved"]})
    return {e.get("value") for e in reply.payload.iter(
        "{urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0}ExternalIdentifier")
        if e.get("identificationScheme") == "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab"}


def contexts(reply) -> list[str]:
    return [e["context"] for e in reply.errors]


# --- rule A: our repository's entries name bytes it holds (every profile) -----------------


def test_a_fake_entry_naming_our_repository_is_refused_in_the_ihe_profile(app, patient):
    """F01: an ITI-42 straight to the registry, naming this server's repository for bytes
    never stored there (hash 000…): a registered document no retrieval could serve."""
    submission = again(Submission(submission_set(patient), [document(patient)],
                                  associations=[has_member("SubmissionSet01", "Document01")]),
                       hash="0" * 40, repository_unique_id=own(app))
    entry = submission.documents[0]
    reply = register(app, submission)
    assert reply.status.endswith(":Failure") and reply.codes == ["XDSRegistryMetadataError"]
    [context] = contexts(reply)
    assert entry.unique_id in context and f"names this server's repository ({own(app)})" \
        in context and "a registered document must be retrievable" in context
    assert reply.errors[0]["location"] == "DocumentEntry.repositoryUniqueId"
    assert registered(app, patient) == set()


def test_bytes_held_are_registered_again_only_as_held_and_for_their_patient(app, patient):
    """The entries of a held document, once their metadata is removed (ITI-62), register
    again by ITI-42 with its hash and size; another size, or another patient's record (told
    the same as bytes never held), is refused."""
    first = provided(app, patient, f"held {uuid.uuid4()}".encode())
    app.registry.remove([first.submission_set.entry_uuid, first.documents[0].entry_uuid,
                         *(a.entry_uuid for a in first.associations)], SYSTEM)
    entry = first.documents[0]
    assert entry.repository_unique_id == own(app)
    wrong_size = register(app, again(first, size=str(int(entry.size) + 1)))
    assert wrong_size.codes == ["XDSRegistryMetadataError"]
    assert f"size {int(entry.size) + 1}" in contexts(wrong_size)[0]
    other = new_patient()
    open_patient(app, other)
    elsewhere = again(first, patient_id=other, source_patient_id=other)
    elsewhere.submission_set.patient_id = other
    refused = register(app, elsewhere)
    assert refused.codes == ["XDSRegistryMetadataError"]
    assert "holds no document of this patient" in contexts(refused)[0]
    assert register(app, again(first)).status.endswith(":Success")
    assert registered(app, patient) == {entry.unique_id}


def test_the_in_process_iti41_registers_without_a_lookup(app, patient, monkeypatch):
    """Its rows are written in the registration's transaction: compared in memory."""
    def no_lookup(*args, **kwargs):
        raise AssertionError("the in-process ITI-41 looked its own rows up")
    monkeypatch.setattr(repository_store, "held_for_patient", no_lookup)
    submission = provided(app, patient, b"in process")
    assert registered(app, patient) == {submission.documents[0].unique_id}


# --- rules B to E: while signed sets are required ------------------------------------------


def test_an_unlisted_repository_is_refused_naming_entry_repository_and_setting(
        required, authority, tmp_path):
    """F01: any VIHF holder's ITI-42 with a fake signature entry (the right codes, `signs`,
    hash 000…) naming an unknown repository: registered 'signed', verified by nobody."""
    submission, documents, signature = signed_submission(authority, [fresh(LEVEL1, tmp_path)],
                                                         TEST_INS)
    for_iti42(submission, documents, UNKNOWN)
    signature.hash = "0" * 40
    reply = register(required, submission)
    assert reply.status.endswith(":Failure")
    named = [c for c in contexts(reply) if signature.unique_id in c]
    assert named and f"repositoryUniqueId '{UNKNOWN}'" in named[0] and \
        "XDS_SIGNATURE_VERIFYING_REPOSITORIES" in named[0]
    assert registered(required, TEST_INS) & {d.unique_id for d in submission.documents} == set()


def test_a_listed_repository_registers_a_signed_set(required, authority, tmp_path):
    submission, documents, _ = signed_submission(authority, [fresh(LEVEL1, tmp_path)],
                                                 TEST_INS)
    reply = register(required, for_iti42(submission, documents, LISTED))
    assert reply.status.endswith(":Success"), reply.errors


def _direct(app, submission, client_subject: str):
    """An ITI-42 as the endpoint hands it to the registry, from a caller whose verified TLS
    client certificate has this subject."""
    decoded = decode_submission(submit_objects_request(again(submission)))
    principal = dataclasses.replace(SYSTEM, transaction="ITI-42", client_subject=client_subject)
    return app.registry.register(decoded.submission, principal, decoded.errors)


def test_a_bound_repository_is_taken_only_from_its_certificate(required, authority, tmp_path):
    """A VIHF proves a professional, not the sender's being that repository: the certificate
    the repository presents under mutual TLS does."""
    for presented, says in (("", "the caller presented no verified client certificate"),
                            ("CN=Someone,O=Else", "the caller presented CN=Someone,O=Else")):
        submission, documents, _ = signed_submission(authority, [fresh(LEVEL1, tmp_path)],
                                                     TEST_INS)
        with pytest.raises(RegistryFailure) as refused:
            _direct(required, for_iti42(submission, documents, BOUND), presented)
        refusals = [e.context for e in refused.value.errors]
        assert len(refusals) == len(submission.documents) == 2      # each entry named
        assert all(f"bound to the TLS client certificate '{BOUND_SUBJECT}'" in context and
                   says in context for context in refusals)
        assert submission.documents[0].unique_id in refusals[0]
    submission, documents, _ = signed_submission(authority, [fresh(LEVEL1, tmp_path)],
                                                 TEST_INS)
    assert _direct(required, for_iti42(submission, documents, BOUND), BOUND_SUBJECT) == []


def test_a_set_split_over_repositories_is_refused(required, authority, tmp_path):
    """No one repository received every document the Manifest signs: none verified it."""
    submission, documents, signature = signed_submission(authority, [fresh(LEVEL1, tmp_path)],
                                                         TEST_INS)
    for_iti42(submission, documents, LISTED)
    signature.repository_unique_id = BOUND
    reply = register(required, submission)
    assert any(f"name 2 repositories ({LISTED}, {BOUND})" in c for c in contexts(reply))


def test_our_held_signature_reused_for_another_set_is_verified_and_refused(required, authority,
                                                                           tmp_path):
    """Bytes our repository verified and holds, re-registered by ITI-42 under a new set with a
    `signs` association to it: the registry verifies the set on the bytes held, and the
    Manifest names the first set."""
    submission, documents, _ = signed_submission(authority, [fresh(LEVEL1, tmp_path)],
                                                 TEST_INS)
    reused, by_symbol = copy.deepcopy(submission), dict(documents)
    with_uuids(submission, documents)
    required.repository.provide(submission, documents, SYSTEM, [])
    for_iti42(reused, by_symbol, own(required))
    first_set = reused.submission_set.unique_id
    reused.submission_set.unique_id = new_oid()
    reply = register(required, reused)
    assert reply.status.endswith(":Failure")
    assert any(f"the Manifest signs the submission set urn:oid:{first_set}" in c
               for c in contexts(reply)), reply.errors


# --- rule A on ITI-57: a new version naming other bytes ------------------------------------


def _new_version(app, patient, entry, **changes):
    """An ITI-57 new version of `entry` (registered as its first version) with `changes`."""
    from xds_server.consumer.metadata import new_version

    from .registry_data import soap_call

    version = copy.deepcopy(entry)
    logical_id = version.entry_uuid
    version.entry_uuid = "Document01"
    for name, value in changes.items():
        setattr(version, name, value)
    return soap_call(app, "/xds/registry", "urn:ihe:iti:2010:UpdateDocumentSet",
                     submit_objects_request(new_version(submission_set(patient), version,
                                                        logical_id, "1")))


def test_an_update_cannot_make_our_document_name_bytes_not_held(app, patient, monkeypatch):
    """ITI-57 filled a new version's hash from the request: a version of our document naming
    bytes never stored (hash 000…), or naming our repository for another's document."""
    entry = provided(app, patient, f"updated {uuid.uuid4()}".encode()).documents[0]
    refused = _new_version(app, patient, entry, hash="0" * 40)
    assert refused.codes == ["XDSRegistryMetadataError"]
    assert f"names this server's repository ({own(app)})" in contexts(refused)[0]
    theirs = again(Submission(submission_set(patient), [document(patient)],
                              associations=[has_member("SubmissionSet01", "Document01")]))
    assert register(app, theirs).status.endswith(":Success")    # in repository 1.2.3.4.5
    renamed = _new_version(app, patient, theirs.documents[0], repository_unique_id=own(app))
    assert renamed.codes == ["XDSRegistryMetadataError"]
    assert theirs.documents[0].unique_id in contexts(renamed)[0]
    monkeypatch.setattr(repository_store, "held_for_patient", lambda *a, **k: {})
    masked = _new_version(app, patient, entry, title="Masqué")   # the same bytes: no lookup
    assert masked.status.endswith(":Success"), masked.errors


def test_our_held_set_registered_again_as_signed_verifies(required, authority, tmp_path):
    """Rule E refuses only what does not verify: a set our repository holds, its metadata
    removed (ITI-62), registered again by ITI-42 as it was signed, is accepted."""
    submission, documents, _ = signed_submission(authority, [fresh(LEVEL1, tmp_path)],
                                                 TEST_INS)
    with_uuids(submission, documents)
    again_later = copy.deepcopy(submission)
    required.repository.provide(submission, documents, SYSTEM, [])
    required.registry.remove([o.entry_uuid for o in (submission.submission_set,
                                                     *submission.documents,
                                                     *submission.associations)], SYSTEM)
    with_uuids(again_later)
    for entry, stored in zip(again_later.documents, submission.documents, strict=True):
        entry.hash, entry.size = stored.hash, stored.size
        entry.repository_unique_id = own(required)
    reply = register(required, again_later)
    assert reply.status.endswith(":Success"), reply.errors


def test_an_update_may_not_add_a_signs_association_while_required(required, authority,
                                                                  tmp_path):
    """Rule F: a document's new version made to sign a registered set by metadata alone."""
    from xds_server.consumer.metadata import new_version
    from xds_server.model import vocabulary as v
    from xds_server.model.metadata import Association

    from .registry_data import soap_call

    submission, documents, _ = signed_submission(authority, [fresh(LEVEL1, tmp_path)],
                                                 TEST_INS)
    with_uuids(submission, documents)
    required.repository.provide(submission, documents, SYSTEM, [])
    cda = copy.deepcopy(submission.documents[0])
    logical_id, cda.entry_uuid = cda.entry_uuid, "Document01"
    request = new_version(submission_set(TEST_INS), cda, logical_id, "1")
    request.associations.append(Association("Signs01", v.SIGNS, "Document01",
                                            submission.submission_set.entry_uuid))
    reply = soap_call(required, "/xds/registry", "urn:ihe:iti:2010:UpdateDocumentSet",
                      submit_objects_request(request))
    assert reply.codes == ["XDSMetadataUpdateError"]
    assert "an update may not make Document01 sign" in contexts(reply)[0]
