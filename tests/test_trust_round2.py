"""The independent attack round on issue #13, over real HTTP: what it broke, each as a test
(a uniqueId copied to claim a document's bytes, authorship rewritten by an update, a folder
changed by a caller who cannot see it, stored metadata that inflates answers, a retrieval
naming one document thousands of times, signature contents nobody signed, a header addressed
to another SOAP role, sets and folder memberships that told of hidden documents)."""

from __future__ import annotations

import copy
import uuid

import pytest
from lxml import etree

from xds_server.consumer.documents import REMOVE, RETRIEVE, remove_request, retrieve_request
from xds_server.consumer.metadata import has_member, new_version, status_update
from xds_server.consumer.transport import SoapClient
from xds_server.model.metadata import Author, Submission

from .registry_data import document, folder, submission_set
from .test_trust_attacks import codes_of, refused, remove_metadata, status_of, unchanged
from .trust_data import (
    ADMIN,
    AUTHOR_A,
    AUTHOR_B,
    READER,
    REMOVE_METADATA,
    STRANGER,
    TrustServer,
    new_patient,
)
from .vihf_data import DS, SAML, assertion, security_header

pytestmark = pytest.mark.http   # every test here talks to a server over loopback

UPDATE = "urn:ihe:iti:2010:UpdateDocumentSet"
REGISTER = "urn:ihe:iti:2007:RegisterDocumentSet-b"
APPROVED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"
DELETED = "urn:asip:ci-sis:2010:StatusType:Deleted"


def _urn() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


def _copy_of(server: TrustServer, name: str, patient: str, author: str):
    """A submission of the same document (uniqueId and bytes) as `name`, naming `author`."""
    stored = server.documents[name]
    entry = document(patient, _urn(), content=stored.content, mime_type="text/plain",
                     unique_id=stored.unique_id, repository_unique_id=None,
                     authors=[Author(person=f"{author}^COPIE^X^^^^^^&1.2.250.1.71.4.2.1&ISO")])
    package = submission_set(patient, _urn())
    return (Submission(package, [entry], associations=[has_member(package.entry_uuid,
                                                                  entry.entry_uuid)]),
            {entry.entry_uuid: stored.content})


def _remove_bytes(server: TrustServer, unique_id: str, header):
    return SoapClient(server.url + "/xds/repository").call(
        REMOVE, remove_request([(server.repository_id, unique_id)]), extra_headers=[header])


# --- a uniqueId copied to claim a document's bytes ----------------------------------------------

def test_a_copy_in_another_record_is_refused(trust_server):
    server = trust_server
    patient_c = new_patient()
    submission, contents = _copy_of(server, "b_plain", patient_c, STRANGER)
    reply = server.provide(submission, contents, server.vihf(patient_c, STRANGER))
    assert status_of(reply) == "Failure"
    unchanged(server)


@pytest.mark.parametrize("who", ["reader", "patient"])
def test_a_copy_in_the_same_record_gives_no_claim_on_the_bytes(trust_server, who):
    """The reader (or the patient) submits the same document naming himself author, then asks
    ITI-86 to remove its bytes: they are every registration's, and his alone is not enough."""
    server = trust_server
    subject, role = (READER, "professional") if who == "reader" else ("P-A", "patient")
    header = server.vihf(server.patient_a, subject, role=role)
    submission, contents = _copy_of(server, "a_plain", server.patient_a, subject)
    server.provide(submission, contents, header)
    reply = _remove_bytes(server, server.documents["a_plain"].unique_id, header)
    assert status_of(reply) == "Failure", codes_of(reply)
    unchanged(server)


def test_a_copy_of_a_document_hidden_from_its_maker_is_refused(trust_server):
    server = trust_server
    submission, contents = _copy_of(server, "a_masked", server.patient_a, READER)
    reply = server.provide(submission, contents, server.vihf(server.patient_a, READER))
    assert status_of(reply) == "Failure"
    assert codes_of(reply) == ["XDSDuplicateUniqueIdInRegistry"]
    unchanged(server)


# --- authorship rewritten by an update ----------------------------------------------------------

def test_an_update_cannot_make_its_sender_the_author(trust_server):
    server = trust_server
    plain = server.documents["a_plain"]
    entry = document(server.patient_a, _urn(), content=plain.content, mime_type="text/plain",
                     unique_id=plain.unique_id, repository_unique_id=server.repository_id,
                     authors=[Author(person=f"{READER}^LECTEUR^X^^^^^^&1.2.250.1.71.4.2.1&ISO")])
    from xds_server.consumer.metadata import submit_objects_request

    update = new_version(submission_set(server.patient_a, _urn()), entry, plain.entry_uuid, "1")
    reply = server.registry(UPDATE, submit_objects_request(update),
                            server.vihf(server.patient_a, READER))
    assert status_of(reply) == "Failure" and "authors cannot change" in etree.tostring(
        reply.payload).decode()
    unchanged(server)


# --- a folder changed by a caller who cannot see it ---------------------------------------------

@pytest.fixture(scope="module")
def filed(trust_server):
    """A folder of patient A's record, holding the masked document (registered by its author)."""
    from xds_server.consumer.metadata import submit_objects_request

    server = trust_server
    masked = server.documents["a_masked"]
    package, filing = submission_set(server.patient_a, _urn()), folder(server.patient_a, _urn())
    membership = has_member(filing.entry_uuid, masked.entry_uuid, status=None, entry_uuid=_urn())
    recorded = has_member(package.entry_uuid, membership.entry_uuid, status=None,
                          entry_uuid=_urn())
    submission = Submission(package, [], [filing], associations=[
        has_member(package.entry_uuid, filing.entry_uuid, entry_uuid=_urn()), membership,
        recorded])
    reply = server.registry(REGISTER, submit_objects_request(submission),
                            server.vihf(server.patient_a, AUTHOR_A))
    assert status_of(reply) == "Success", codes_of(reply)
    return filing.entry_uuid, package.entry_uuid, membership.entry_uuid, recorded.entry_uuid


def _folder_status(server: TrustServer, folder_uuid: str, new: str, header):
    from xds_server.consumer.metadata import submit_objects_request

    change = status_update(submission_set(server.patient_a, _urn()), folder_uuid, APPROVED, new)
    return server.registry(UPDATE, submit_objects_request(change), header)


def test_a_folder_is_not_changed_by_a_caller_it_is_closed_to(trust_server, filed):
    server = trust_server
    folder_uuid = filed[0]
    stranger = _folder_status(server, folder_uuid, DELETED, server.vihf(server.patient_a,
                                                                         STRANGER))
    never = _folder_status(server, _urn(), DELETED, server.vihf(server.patient_a, STRANGER))
    assert status_of(stranger) == "Failure" and codes_of(stranger) == codes_of(never)
    reader = _folder_status(server, folder_uuid, DELETED, server.vihf(server.patient_a, READER))
    assert status_of(reader) == "Failure" and "only an administrator" in etree.tostring(
        reader.payload).decode()


def test_a_folder_membership_of_a_hidden_document_is_not_named(trust_server, filed):
    server = trust_server
    _folder, set_uuid, membership, recorded = filed
    reply = server.query("GetAssociations", {"$uuid": [set_uuid]},
                         server.vihf(server.patient_a, READER))
    text = etree.tostring(reply.envelope)
    assert membership.encode() not in text and recorded.encode() not in text
    author = server.query("GetAssociations", {"$uuid": [set_uuid]},
                          server.vihf(server.patient_a, AUTHOR_A))
    assert recorded.encode() in etree.tostring(author.envelope)


def test_a_set_holding_only_hidden_documents_is_as_absent(trust_server):
    server = trust_server
    masked = server.documents["a_masked"]
    reader = server.vihf(server.patient_a, READER)
    found = server.query("FindSubmissionSets", {
        "$XDSSubmissionSetPatientId": server.patient_a,
        "$XDSSubmissionSetStatus": [APPROVED]}, reader)
    assert masked.set_uuid.encode() not in etree.tostring(found.envelope)
    reply = server.registry(REMOVE_METADATA, remove_metadata(
        [masked.entry_uuid, masked.set_uuid, masked.association_uuid]), reader)
    never = server.registry(REMOVE_METADATA, remove_metadata([_urn(), _urn(), _urn()]), reader)
    assert codes_of(reply) == codes_of(never) == ["UnresolvedReferenceException"] * 3


# --- stored metadata that inflates, retrievals that multiply ------------------------------------

def test_an_object_that_grows_when_stored_is_refused(trust_server):
    """A Description of '"' characters is stored as '&quot;': six times its size. An object
    over the registry's cap is refused, so no later answer about the record is inflated."""
    server = trust_server
    entry = document(server.patient_a, _urn(), content=b"x", mime_type="text/plain",
                     repository_unique_id=None, comments='"' * 200_000,
                     authors=[Author(person=f"{AUTHOR_A}^A^B^^^^^^&1.2.250.1.71.4.2.1&ISO")])
    package = submission_set(server.patient_a, _urn())
    reply = server.provide(Submission(package, [entry], associations=[
        has_member(package.entry_uuid, entry.entry_uuid)]), {entry.entry_uuid: b"x"},
        server.vihf(server.patient_a, AUTHOR_A))
    assert status_of(reply) == "Failure"
    assert codes_of(reply) == ["XDSRegistryMetadataError"], codes_of(reply)


def test_a_retrieval_names_a_bounded_number_of_documents(trust_server):
    server = trust_server
    plain = server.documents["a_plain"]
    reply = SoapClient(server.url + "/xds/repository").call(
        RETRIEVE, retrieve_request([(server.repository_id, plain.unique_id)] * 1001),
        extra_headers=[server.vihf(server.patient_a, AUTHOR_A)])
    assert reply.status == 400 and reply.fault is not None
    assert any(code.endswith("TooManyDocumentRequests") for code in reply.fault.subcodes)


def test_the_access_history_is_bounded_and_names_a_document_once(trust_server):
    from .trust_data import dmp_call

    server = trust_server
    plain = server.documents["a_plain"]
    SoapClient(server.url + "/xds/repository").call(
        RETRIEVE, retrieve_request([(server.repository_id, plain.unique_id)] * 50),
        extra_headers=[server.vihf(server.patient_a, AUTHOR_A)])
    status, body = dmp_call(server.url, "/dmp/patients", "urn:xds-server:dmp:patients",
                            "AccessHistory", {"patient_id": server.patient_a, "last": "3"},
                            server.vihf(server.patient_a, "P-A", role="patient"))
    assert status == 200, body[:500]
    events = etree.fromstring(body).findall(".//{urn:xds-server:dmp:patients}AccessEvent")
    assert 1 <= len(events) <= 3
    listed = [e.findtext("{urn:xds-server:dmp:patients}documents") or "" for e in events]
    assert all(text.split().count(plain.unique_id) <= 1 for text in listed)


# --- signature contents nobody signed, headers for others ---------------------------------------

def _in_signature(header, where: str):
    forged = copy.deepcopy(header)
    signature = next(forged.iter(f"{{{DS}}}Signature"))
    target = {"SignatureValue": signature.find(f"{{{DS}}}SignatureValue"),
              "SignedInfo": signature.find(f"{{{DS}}}SignedInfo"),
              "X509Data": next(signature.iter(f"{{{DS}}}X509Data"))}[where]
    return forged, target


@pytest.mark.parametrize("where", ["SignatureValue", "SignedInfo", "X509Data"])
@pytest.mark.parametrize("what", ["element", "comment"])
def test_nothing_unsigned_inside_the_signature(trust_server, where, what):
    server = trust_server
    forged, target = _in_signature(server.vihf(server.patient_a, AUTHOR_A), where)
    target.append(etree.Element(f"{{{SAML}}}AttributeStatement") if what == "element"
                  else etree.Comment("x"))
    reply = server.query("FindDocuments", {"$XDSDocumentEntryPatientId": server.patient_a,
                                           "$XDSDocumentEntryStatus": [APPROVED]}, forged)
    assert refused(reply)


def test_sha1_signatures_are_refused_unless_accepted(trust_server):
    server = trust_server
    header = security_header(server.authority.sign(assertion(server.patient_a,
                                                             subject=AUTHOR_A), sha1=True))
    reply = server.query("FindDocuments", {"$XDSDocumentEntryPatientId": server.patient_a,
                                           "$XDSDocumentEntryStatus": [APPROVED]}, header)
    assert refused(reply) and "SHA-1" in reply.fault.reason


def test_a_security_header_for_another_role_is_not_read(trust_server):
    server = trust_server
    header = server.vihf(server.patient_a, AUTHOR_A)
    header.set("{http://www.w3.org/2003/05/soap-envelope}role", "urn:somebody:else")
    reply = server.query("FindDocuments", {"$XDSDocumentEntryPatientId": server.patient_a,
                                           "$XDSDocumentEntryStatus": [APPROVED]}, header)
    assert refused(reply) and "no wsse:Security" in reply.fault.reason


def test_unicode_spaces_are_part_of_a_value(trust_server):
    """A NameID signed as READER followed by a no-break space looks like READER to a person
    reading the audit: an identifier holds no space but the ordinary one (identity_text), so
    the VIHF is refused by name and the record shows nothing."""
    server = trust_server
    header = server.vihf(server.patient_a, READER + "\u00a0")
    reply = server.query("FindDocuments", {"$XDSDocumentEntryPatientId": server.patient_a,
                                           "$XDSDocumentEntryStatus": [APPROVED]}, header)
    assert reply.fault.subcodes == ["sub:FailedAuthentication"]
    assert "NameID" in reply.fault.reason
    assert server.documents["a_plain"].entry_uuid.encode() not in etree.tostring(reply.envelope)


def test_the_administrator_sees_what_others_cannot(trust_server):
    """A sanity check of the rules above: an administrator of A still sees the masked
    document and its set."""
    server = trust_server
    masked = server.documents["a_masked"]
    reply = server.query("GetSubmissionSets", {"$uuid": [masked.entry_uuid]},
                         server.vihf(server.patient_a, ADMIN, role="administrator"))
    assert masked.set_uuid.encode() in etree.tostring(reply.envelope)
    assert AUTHOR_B                                         # (patient B's author, unused here)
