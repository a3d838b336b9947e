"""Registration-time routes past rules J and K (outside round 19d, D1, D2, D5), over the
registry's SOAP endpoint and the in-process ITI-41:

- D1: a registration whose entry carries a `lid` naming another object (an existing document
  of this record or another, or another entry of the submission) made a second "version 1" of
  that logicalId (register.py, `first_versions`: refused in every profile);
- D2: a signed set holding a registered document by reference (HasMember with
  SubmissionSetStatus=Reference), or a HasMember added from a registered submission set, made
  rule K count the document as covered by a signature that never signed its bytes
  (signed_sets.py rule M; register.py and update_links.py for the registered set);
- D5: an APND or XFRM joining a signature document and a non-signature (signed_sets.py rule L).
"""

from __future__ import annotations

import uuid

import pytest

from xds_server.consumer.changes import UPDATE
from xds_server.consumer.metadata import has_member, submit_objects_request
from xds_server.dsig.produce import sign_submission
from xds_server.model import vocabulary as v
from xds_server.model.content import Attachment
from xds_server.model.errors import RegistryFailure
from xds_server.model.metadata import Association, Submission
from xds_server.security.principal import SYSTEM

from .cda_data import LEVEL1, TEST_INS
from .dsig_data import cda_submission, fresh, signed_submission, with_uuids
from .registry_data import folder, open_patient, register, soap_call, submission_set
from .test_registry_repositories import for_iti42
from .test_registry_signed_sets import (  # noqa: F401 (app, signed: fixtures)
    LISTED,
    _status,
    app,
    cda_of,
    refused,
    required,
    signed,
)
from .test_registry_signed_state import _latest

OTHER = "279035121518990^^^&1.2.250.1.213.1.4.10&ISO^NH"


def _signature_of(submission):
    signer = next(a.source for a in submission.associations if a.type == v.SIGNS
                  and a.target == submission.submission_set.entry_uuid)
    return next(d for d in submission.documents if d.entry_uuid == signer)


def _set_b(authority, tmp_path, patient: str = TEST_INS, before_signing=None):
    """A second signed set (ITI-42 from a verifying repository): (submission, signature).
    `before_signing(submission)` changes the set before its signature is made."""
    path = fresh(LEVEL1, tmp_path)
    if patient != TEST_INS:
        path.write_bytes(path.read_bytes().replace(TEST_INS.split("^")[0].encode(),
                                                   patient.split("^")[0].encode()))
    submission, documents = cda_submission([path], patient)
    if before_signing is not None:
        before_signing(submission)
    entry, content = sign_submission(submission, documents, authority.seal())
    documents[entry.entry_uuid] = Attachment.from_bytes(content, "text/xml")
    with_uuids(submission, documents)
    for_iti42(submission, documents, LISTED)
    return submission, _signature_of(submission)


def _versions(app, logical_id: str, patient: str = TEST_INS) -> list:
    from xds_server.model.hl7 import patient_key
    from xds_server.store import registry_store as store
    with app.database.reading() as uow:
        return store.objects(uow, "document", patient_key(patient), [logical_id],
                             by="logical_id")


def _errors(reply, location: str) -> list[dict]:
    assert reply.status.endswith(":Failure"), reply.errors
    found = [e for e in reply.errors if e["location"] == location]
    assert found, reply.errors
    return found


# --- D1: a registered entry's lid is its own id ----------------------------------------------


@pytest.mark.parametrize("named", ["cda", "signature"])
@pytest.mark.parametrize("carrier", ["cda", "signature"])
def test_a_registration_may_not_take_an_existing_logical_id(app, signed, authority, tmp_path,
                                                            named, carrier):
    """D1 (a, b, c): set B's CDA or signature carries lid = A's CDA's or A's signature's
    logicalId: two Approved 'version 1' of one logicalId, written without ITI-57's author
    check, and rule K counting B's document as a version of A's. Refused in every profile."""
    earlier, earlier_signature = signed
    target = cda_of(earlier, earlier_signature) if named == "cda" else earlier_signature
    later, signature = _set_b(authority, tmp_path)
    entry = signature if carrier == "signature" else cda_of(later, signature)
    entry.logical_id = target.entry_uuid
    reply = register(app, later)
    (found,) = _errors(reply, "DocumentEntry.lid")
    assert found["code"] == "XDSRegistryMetadataError"
    assert entry.entry_uuid in found["context"] and "not this entry's own id" in found["context"]
    assert [d.entry_uuid for d in _versions(app, target.entry_uuid)] == [target.entry_uuid]


def test_the_in_process_iti41_may_not_take_an_existing_logical_id(app, signed, authority,
                                                                  tmp_path):
    """D1 by ITI-41 (the repository's in-process registration, which every front's provide
    goes through: HL7 v2, MHD)."""
    earlier, earlier_signature = signed
    submission, documents, signature = signed_submission(authority, [fresh(LEVEL1, tmp_path)],
                                                         TEST_INS)
    cda = cda_of(submission, signature)
    cda.logical_id = cda_of(earlier, earlier_signature).entry_uuid
    with_uuids(submission, documents)
    with pytest.raises(RegistryFailure) as failure:
        app.repository.provide(submission, documents, SYSTEM, [])
    assert [e.location for e in failure.value.errors] == ["DocumentEntry.lid"]


def test_another_records_logical_id_is_refused_as_any_other(app, signed, authority, tmp_path):
    """D1 across records: P2's set with lid = P1's CDA's logicalId. The refusal is the one a
    never-registered lid gets: it says the lid is not the entry's id, nothing of P1."""
    open_patient(app, OTHER)
    earlier, earlier_signature = signed
    taken = cda_of(earlier, earlier_signature).entry_uuid
    texts = []
    for lid in (taken, f"urn:uuid:{uuid.uuid4()}"):
        later, signature = _set_b(authority, tmp_path, OTHER)
        cda = cda_of(later, signature)
        cda.logical_id = lid
        (found,) = _errors(register(app, later), "DocumentEntry.lid")
        texts.append(found["context"].replace(lid, "LID").replace(cda.entry_uuid, "ENTRY"))
        assert TEST_INS.split("^")[0] not in found["context"]
    assert texts[0] == texts[1]
    assert _versions(app, taken, OTHER) == []


def test_a_symbolic_lid_is_resolved_before_it_is_compared(app, authority, tmp_path):
    """ebRIM: lid="Document01" on id="Document01" is the entry's own id (accepted, the
    registered logicalId is the UUID assigned); lid naming another entry of the submission,
    or a folder's lid naming anything but itself, is refused."""
    submission, documents = cda_submission([fresh(LEVEL1, tmp_path)], TEST_INS)
    for_iti42(submission, documents, LISTED)
    if required(app):
        entry, content = sign_submission(submission, documents, authority.seal())
        documents[entry.entry_uuid] = Attachment.from_bytes(content, "text/xml")
        for_iti42(submission, documents, LISTED)
    for document in submission.documents:
        document.logical_id = document.entry_uuid          # symbolic, as the DMP sends it
    reply = register(app, submission)
    assert reply.status.endswith(":Success"), reply.errors

    later, _ = _set_b(authority, tmp_path)
    box = folder(TEST_INS, logical_id="Folder02")
    later.folders.append(box)
    later.associations.append(has_member(later.submission_set.entry_uuid, box.entry_uuid))
    (found,) = _errors(register(app, later), "Folder.lid")
    assert "Folder01" in found["context"] and "Folder02" in found["context"]


def test_a_lid_naming_another_entry_of_the_submission_is_refused(app, authority, tmp_path):
    """Two entries of one registration in one lineage (the second's lid the first's id)."""
    submission, documents = cda_submission([fresh(LEVEL1, tmp_path), fresh(LEVEL1, tmp_path)],
                                           TEST_INS)
    first, second = submission.documents
    second.logical_id = first.entry_uuid
    for_iti42(submission, documents, LISTED)
    (found,) = _errors(register(app, submission), "DocumentEntry.lid")
    assert second.entry_uuid in found["context"]


def test_a_registration_is_version_1_whatever_version_it_names(app):
    """The same class: a submitted VersionInfo (ebRIM's default versionName is "1.1") was
    stored as the first version's number; an ITI-57 of it then failed with a 500. The
    registry numbers versions: a registration is version 1, and ITI-57 follows it."""
    import copy

    from xds_server.consumer.metadata import new_version

    from .registry_data import new_patient, single_document_submission

    patient = new_patient()
    open_patient(app, patient)
    submission = single_document_submission(patient, version="1.1", repository_unique_id=LISTED)
    if required(app):
        return   # an unsigned set: the version rule is the same in both profiles
    assert register(app, submission).status.endswith(":Success")
    first = _versions(app, _registered_uuid(app, submission.documents[0].unique_id), patient)
    assert [d.version for d in first] == ["1"]
    version = copy.deepcopy(submission.documents[0])
    version.entry_uuid, version.title, version.version = "Document01", "Corrigé", None
    reply = soap_call(app, "/xds/registry", UPDATE, submit_objects_request(
        new_version(submission_set(patient), version, first[0].entry_uuid, "1")))
    assert reply.status.endswith(":Success"), reply.errors


def _registered_uuid(app, unique_id: str) -> str:
    from xds_server.store import registry_store as store
    with app.database.reading() as uow:
        return store.find_by_unique_ids(uow, [unique_id], "document")[0].entry_uuid


# --- D5: APND and XFRM do not join a signature and a non-signature ---------------------------


@pytest.mark.parametrize("kind", [v.APND, v.XFRM, v.IS_SNAPSHOT_OF])
@pytest.mark.parametrize("source,target", [("signature", "earlier cda"),
                                           ("cda", "earlier signature")])
def test_a_relationship_does_not_join_a_signature_and_a_document(app, signed, authority,
                                                                 tmp_path, kind, source,
                                                                 target):
    """D5: set B's signature APNDs (XFRMs) A's CDA, or B's CDA A's signature:
    GetRelatedDocuments then gives a signature as an addendum of a lab report. (Both ends
    registered: test_an_update_does_not_join_a_signature_and_a_document; an APND's target
    is a registered document, never one of the same submission.)"""
    earlier, earlier_signature = signed
    later, signature = _set_b(authority, tmp_path)
    ends = {"signature": signature.entry_uuid, "cda": cda_of(later, signature).entry_uuid,
            "earlier cda": cda_of(earlier, earlier_signature).entry_uuid,
            "earlier signature": earlier_signature.entry_uuid}
    later.associations.append(Association(f"urn:uuid:{uuid.uuid4()}", kind, ends[source],
                                          ends[target]))
    reply = register(app, later)
    if not required(app):
        assert reply.status.endswith(":Success"), reply.errors
        return
    context = refused(reply, "rule L", ends[source], ends[target])
    assert reply.codes == ["XDSRegistryMetadataError"] and "signature document" in context


def test_an_update_does_not_join_a_signature_and_a_document(app, signed, authority, tmp_path):
    """D5 by ITI-57 SubmitAssociation: an APND between two registered documents, set B's CDA
    and set A's signature."""
    _, earlier_signature = signed
    later, signature = _set_b(authority, tmp_path)
    assert register(app, later).status.endswith(":Success")
    package = submission_set(TEST_INS)
    added = Association("Appendix", v.APND, cda_of(later, signature).entry_uuid,
                        earlier_signature.entry_uuid)
    operation = Association("Operation", v.SUBMIT_ASSOCIATION, package.entry_uuid, "Appendix")
    reply = soap_call(app, "/xds/registry", UPDATE, submit_objects_request(
        Submission(package, [], [], [added, operation])))
    if not required(app):
        assert reply.status.endswith(":Success"), reply.errors
        return
    refused(reply, "rule L", earlier_signature.entry_uuid)
    assert reply.codes == ["XDSMetadataUpdateError"]


# --- D2: a signed set holds the documents its signature signs, and no others -----------------


@pytest.mark.parametrize("when", ["after signing", "before signing"])
def test_a_signed_set_does_not_hold_a_registered_document_by_reference(app, signed, authority,
                                                                       tmp_path, when):
    """D2: set B, signed over its own CDA, also HasMember A's CDA by reference: rule K then
    counted A's CDA as covered by B's signature, and A's signature could go alone."""
    earlier, earlier_signature = signed
    cda = cda_of(earlier, earlier_signature)

    def by_reference(submission):
        submission.associations.append(has_member(submission.submission_set.entry_uuid,
                                                  cda.entry_uuid, status="Reference",
                                                  entry_uuid="ByReference"))

    later, _ = _set_b(authority, tmp_path,
                      before_signing=by_reference if when == "before signing" else None)
    if when == "after signing":
        by_reference(later)
    reply = register(app, later)
    if not required(app):
        assert reply.status.endswith(":Success"), reply.errors
        return
    reference = next(a for a in later.associations if a.target == cda.entry_uuid)
    context = refused(reply, f"Association {reference.entry_uuid}", cda.entry_uuid, "rule M")
    assert reply.codes == ["XDSRegistryMetadataError"] and "SubmissionSetStatus" in context
    assert [e["location"] for e in reply.errors] == ["Association.targetObject"]
    # t37b: A's signature Archived alone is still refused (nothing else covers A's CDA)
    refused(_status(app, earlier_signature.entry_uuid, new=v.CISIS_ARCHIVED), "rule K1")


def test_a_registration_adds_no_member_to_a_registered_submission_set(app, signed, authority,
                                                                      tmp_path):
    """D2's other door: set B carries a HasMember from A's registered (signed) submission set
    to B's CDA or to a registered document; A's signature would then 'cover' it. A submission
    set holds what its own submission gave it: refused in every profile."""
    earlier, earlier_signature = signed
    for target in ("new", "registered"):
        later, signature = _set_b(authority, tmp_path)
        member = cda_of(later, signature).entry_uuid if target == "new" else \
            cda_of(earlier, earlier_signature).entry_uuid
        later.associations.append(Association(f"urn:uuid:{uuid.uuid4()}", v.HAS_MEMBER,
                                              earlier.submission_set.entry_uuid, member))
        reply = register(app, later)
        (found,) = _errors(reply, "Association.sourceObject")
        assert found["code"] == "XDSRegistryMetadataError"
        assert earlier.submission_set.entry_uuid in found["context"]


def test_an_update_adds_no_member_to_a_registered_submission_set(app, signed, authority,
                                                                 tmp_path):
    """D2 by ITI-57: an association beside the operations, HasMember from A's registered
    submission set to set B's registered CDA. Refused in every profile."""
    earlier, _ = signed
    later, signature = _set_b(authority, tmp_path)
    assert register(app, later).status.endswith(":Success")
    package = submission_set(TEST_INS)
    added = Association(f"urn:uuid:{uuid.uuid4()}", v.HAS_MEMBER,
                        earlier.submission_set.entry_uuid, cda_of(later, signature).entry_uuid)
    reply = soap_call(app, "/xds/registry", UPDATE, submit_objects_request(
        Submission(package, [], [], [added])))
    (found,) = _errors(reply, "Association.sourceObject")
    assert earlier.submission_set.entry_uuid in found["context"]
    assert _latest(app, cda_of(later, signature).entry_uuid).status == v.APPROVED


@pytest.mark.parametrize("source", ["registered", "new"])
def test_a_registration_adds_no_member_to_a_document(app, signed, authority, tmp_path, source):
    """19e E1 by ITI-42: a HasMember whose source is a document (A's registered CDA, which
    DSG's `signs` point at, or set B's own CDA) to another document: rule K took the source
    for a signed set. A HasMember comes from a SubmissionSet or a Folder: refused in every
    profile."""
    earlier, earlier_signature = signed
    later, signature = _set_b(authority, tmp_path)
    holder = cda_of(earlier, earlier_signature).entry_uuid if source == "registered" else \
        cda_of(later, signature).entry_uuid
    member = cda_of(later, signature).entry_uuid if source == "registered" else \
        cda_of(earlier, earlier_signature).entry_uuid
    later.associations.append(Association(f"urn:uuid:{uuid.uuid4()}", v.HAS_MEMBER, holder,
                                          member))
    reply = register(app, later)
    found = _errors(reply, "Association.sourceObject")
    assert found[0]["code"] == "XDSRegistryMetadataError" and holder in found[0]["context"]


def test_an_update_adds_no_member_to_a_document(app, signed, authority, tmp_path):
    """19e E1 by ITI-57 (the patient's two-request route): an association beside the
    operations, HasMember from B's registered CDA to A's CDA, then A's signature archived
    alone: both were accepted, A's CDA left Approved with its only signature Archived."""
    earlier, earlier_signature = signed
    later, signature = _set_b(authority, tmp_path)
    assert register(app, later).status.endswith(":Success")
    added = Association(f"urn:uuid:{uuid.uuid4()}", v.HAS_MEMBER,
                        cda_of(later, signature).entry_uuid,
                        cda_of(earlier, earlier_signature).entry_uuid)
    reply = soap_call(app, "/xds/registry", UPDATE, submit_objects_request(
        Submission(submission_set(TEST_INS), [], [], [added])))
    (found,) = _errors(reply, "Association.sourceObject")
    assert "DocumentEntry" in found["context"]
    if required(app):
        refused(_status(app, earlier_signature.entry_uuid, new=v.CISIS_ARCHIVED), "rule K1")
