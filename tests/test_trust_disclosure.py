"""What a refusal discloses (issue #13, findings 5 and 6), over real HTTP: a query about another
patient's objects, or about a document hidden from the caller, is answered exactly as a query
about ids that were never registered, and no answer names another patient's identifier or a
hidden document."""

from __future__ import annotations

import re
import uuid

import pytest
from lxml import etree

from .trust_data import AUTHOR_A, READER, STRANGER, TrustServer

UUID = re.compile(rb"urn:uuid:[0-9a-f-]{36}")
OID = re.compile(rb"\b\d+(\.\d+){3,}\b")
DE = "$XDSDocumentEntry"


def _shape(reply) -> tuple:
    """What a caller can tell of an answer: status, error codes, the number and kinds of
    objects, and the error texts with ids taken out."""
    payload = reply.payload
    objects = payload.find("{*}RegistryObjectList")
    kinds = sorted(etree.QName(o).localname for o in objects) if objects is not None else []
    texts = sorted(UUID.sub(b"<id>", (e.get("codeContext") or "").encode())
                   for e in payload.iter("{*}RegistryError"))
    return (payload.get("status"), sorted(e.get("errorCode") for e in
                                          payload.iter("{*}RegistryError")), kinds, texts)


def _by_id_queries(server: TrustServer, stored) -> dict[str, tuple[str, dict]]:
    """Each stored query that names objects by id, aimed at `stored`'s objects."""
    return {
        "GetDocuments by uuid": ("GetDocuments", {f"{DE}EntryUUID": [stored.entry_uuid]}),
        "GetDocuments by uniqueId": ("GetDocuments", {f"{DE}UniqueId": [stored.unique_id]}),
        "GetAssociations of the document": ("GetAssociations", {"$uuid": [stored.entry_uuid]}),
        "GetAssociations of the set": ("GetAssociations", {"$uuid": [stored.set_uuid]}),
        "GetDocumentsAndAssociations": ("GetDocumentsAndAssociations",
                                        {f"{DE}EntryUUID": [stored.entry_uuid]}),
        "GetDocumentsAndAssociations by uniqueId": ("GetDocumentsAndAssociations",
                                                    {f"{DE}UniqueId": [stored.unique_id]}),
        "GetSubmissionSets": ("GetSubmissionSets", {"$uuid": [stored.entry_uuid]}),
        "GetSubmissionSetAndContents": ("GetSubmissionSetAndContents",
                                        {"$XDSSubmissionSetEntryUUID": stored.set_uuid}),
        "GetFoldersForDocument": ("GetFoldersForDocument",
                                  {f"{DE}EntryUUID": stored.entry_uuid}),
        "GetRelatedDocuments": ("GetRelatedDocuments", {
            f"{DE}EntryUUID": stored.entry_uuid,
            "$AssociationTypes": ["urn:ihe:iti:2007:AssociationType:RPLC"]}),
    }


class _Never:
    """Ids that were never registered, shaped as a stored document's."""

    def __init__(self) -> None:
        self.entry_uuid, self.set_uuid = f"urn:uuid:{uuid.uuid4()}", f"urn:uuid:{uuid.uuid4()}"
        self.unique_id = f"2.25.{uuid.uuid4().int}"


QUERY_NAMES = sorted(_by_id_queries(None, _Never()))   # type: ignore[arg-type]


@pytest.mark.parametrize("return_type", ["LeafClass", "ObjectRef"])
@pytest.mark.parametrize("name", QUERY_NAMES)
def test_another_patients_objects_are_as_absent(trust_server, name, return_type):
    server = trust_server
    b_plain = server.documents["b_plain"]
    query, params = _by_id_queries(server, b_plain)[name]
    never_query, never_params = _by_id_queries(server, _Never())[name]
    for header in (server.vihf(server.patient_a, AUTHOR_A),
                   server.vihf(server.patient_a, "P-A", role="patient"),
                   server.vihf(server.patient_a, "ADM", role="administrator")):
        reply = server.query(query, params, header, return_type)
        never = server.query(never_query, never_params, header, return_type)
        assert _shape(reply) == _shape(never), name
        text = etree.tostring(reply.envelope)
        assert server.patient_b.split("^")[0].encode() not in text
        for own in (b_plain.entry_uuid, b_plain.set_uuid, b_plain.association_uuid,
                    b_plain.unique_id):
            assert own.encode() not in text, (name, own)


@pytest.mark.parametrize("name", QUERY_NAMES)
def test_a_masked_document_is_as_absent(trust_server, name):
    """To an authorised professional who is not its author, a MASQUE_PS document and every
    association to it do not exist; its author (authorised too) still sees them."""
    server = trust_server
    masked = server.documents["a_masked"]
    query, params = _by_id_queries(server, masked)[name]
    reader = server.vihf(server.patient_a, READER)
    reply = server.query(query, params, reader)
    text = etree.tostring(reply.envelope)
    assert masked.entry_uuid.encode() not in text and masked.unique_id.encode() not in text
    assert masked.association_uuid.encode() not in text
    if name.startswith("GetAssociations") or name == "GetSubmissionSetAndContents":
        author = server.query(query, params, server.vihf(server.patient_a, AUTHOR_A))
        assert masked.association_uuid.encode() in etree.tostring(author.envelope), name


def test_get_all_and_find_leave_the_masked_document_out(trust_server):
    server = trust_server
    masked, plain = server.documents["a_masked"], server.documents["a_plain"]
    reader = server.vihf(server.patient_a, READER)
    for query, params in (
            ("GetAll", {"$patientId": server.patient_a,
                        f"{DE}Status": ["urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"],
                        "$XDSSubmissionSetStatus": [
                            "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"],
                        "$XDSFolderStatus": [
                            "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"]}),
            ("FindDocuments", {f"{DE}PatientId": server.patient_a, f"{DE}Status": [
                "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"]})):
        text = etree.tostring(server.query(query, params, reader).envelope)
        assert plain.entry_uuid.encode() in text, query
        assert masked.entry_uuid.encode() not in text, query
        assert masked.association_uuid.encode() not in text, query


def test_a_professional_without_authorisation_sees_no_link(trust_server):
    server = trust_server
    plain = server.documents["a_plain"]
    stranger = server.vihf(server.patient_a, STRANGER)
    reply = server.query("GetAssociations", {"$uuid": [plain.set_uuid]}, stranger)
    assert plain.association_uuid.encode() not in etree.tostring(reply.envelope)
    never = server.query("GetAssociations", {"$uuid": [_Never().set_uuid]}, stranger)
    assert _shape(reply) == _shape(never)


def test_mixed_ids_answer_for_the_callers_patient_only(trust_server):
    server = trust_server
    a_plain, b_plain = server.documents["a_plain"], server.documents["b_plain"]
    reply = server.query("GetDocuments", {f"{DE}EntryUUID": [a_plain.entry_uuid,
                                                               b_plain.entry_uuid]},
                         server.vihf(server.patient_a, AUTHOR_A))
    ids = [o.get("id") for o in reply.payload.iter("{*}ExtrinsicObject")]
    assert ids == [a_plain.entry_uuid]


UPDATE = "urn:ihe:iti:2010:UpdateDocumentSet"


@pytest.mark.parametrize("target", ["b_plain", "a_masked"])
def test_a_link_to_what_the_caller_cannot_see_is_a_link_to_nothing(trust_server, target):
    """ITI-57 SubmitAssociation: another patient's document, or one masked from the caller, is
    to them not registered; the refusal is the one a never-registered id gets, and names
    neither the other patient nor the hidden document's uniqueId."""
    from xds_server.consumer.metadata import (
        relationship,
        submit_association,
        submit_objects_request,
    )

    from .registry_data import submission_set

    server = trust_server
    plain, hidden = server.documents["a_plain"], server.documents[target]
    reader = server.vihf(server.patient_a, READER)

    def link(to: str):
        added = relationship("urn:ihe:iti:2007:AssociationType:APND", plain.entry_uuid, to)
        added.entry_uuid = "Association01"
        submission = submit_association(
            submission_set(server.patient_a, f"urn:uuid:{uuid.uuid4()}"), added)
        submission.associations[0].entry_uuid = "SubmitAssociation01"
        return submit_objects_request(submission)

    reply = server.registry(UPDATE, link(hidden.entry_uuid), reader)
    never = server.registry(UPDATE, link(_Never().entry_uuid), reader)
    assert _shape(reply) == _shape(never) and _shape(reply)[1] == ["XDSMetadataUpdateError"]
    text = etree.tostring(reply.envelope)
    assert server.patient_b.split("^")[0].encode() not in text
    assert hidden.unique_id.encode() not in text
