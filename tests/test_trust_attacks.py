"""Attacks by a caller who holds one valid VIHF, over real HTTP against a VIHF-secured server
(issue #13, findings 1-4, 7, 8): identity talked up from unsigned parts, comments spliced into
signed values, an empty resource-id, removals of another patient's objects, malformed calls of
the DMP services. After each, what was stored before is still there, byte for byte."""

from __future__ import annotations

import copy

import pytest
from lxml import etree

from xds_server.consumer.documents import REMOVE, parse_retrieve, remove_request
from xds_server.consumer.metadata import has_member
from xds_server.model.metadata import Submission
from xds_server.security.vihf import DS, HL7, SAML

from .registry_data import document, submission_set
from .trust_data import (
    ADMIN,
    APPROVED,
    AUTHOR_A,
    AUTHOR_B,
    READER,
    REMOVE_METADATA,
    STRANGER,
    TrustServer,
    dmp_call,
    raw_post,
)

pytestmark = pytest.mark.http   # every test here talks to a server over loopback

XSI = "http://www.w3.org/2001/XMLSchema-instance"
RESOURCE_ID = "urn:oasis:names:tc:xacml:2.0:resource:resource-id"
ROLE = "urn:oasis:names:tc:xacml:2.0:subject:role"
PURPOSE = "urn:oasis:names:tc:xspa:1.0:subject:purposeofuse"
PATIENTS_NS = "urn:xds-server:dmp:patients"
AUTHORIZATIONS_NS = "urn:xds-server:dmp:authorizations"


def refused(reply) -> bool:
    """A SOAP fault with the WS-Security FailedAuthentication/InvalidSecurity subcode."""
    return reply.fault is not None and reply.status == 400 and any(
        code.endswith(("FailedAuthentication", "InvalidSecurity"))
        for code in reply.fault.subcodes)


def status_of(reply) -> str:
    return (reply.payload.get("status") or "").rsplit(":", 1)[-1]


def codes_of(reply) -> list[str]:
    return [e.get("errorCode") for e in reply.payload.iter("{*}RegistryError")]


def unchanged(server: TrustServer) -> None:
    """Every document stored so far is retrievable byte for byte by its author."""
    for stored in server.documents.values():
        author = AUTHOR_A if stored.patient == server.patient_a else AUTHOR_B
        reply = server.retrieve(stored.unique_id, server.vihf(stored.patient, author))
        result = parse_retrieve(reply)
        assert [d.data for d in result.documents] == [stored.content], result.errors


# --- finding 1: attributes planted in unsigned parts of a signed assertion -----------------------

def _planted(name: str, value: str | etree._Element) -> etree._Element:
    statement = etree.Element(f"{{{SAML}}}AttributeStatement", nsmap={"saml": SAML})
    attribute = etree.SubElement(statement, f"{{{SAML}}}Attribute", Name=name)
    holder = etree.SubElement(attribute, f"{{{SAML}}}AttributeValue")
    if isinstance(value, str):
        holder.text = value
    else:
        holder.append(value)
    return statement


def _coded(tag: str, code: str, system: str) -> etree._Element:
    element = etree.Element(f"{{{HL7}}}{tag}", nsmap={None: HL7, "xsi": XSI}, code=code,
                            codeSystem=system)
    element.set(f"{{{XSI}}}type", "CE")
    return element


def _plant(header: etree._Element, where: str, statement: etree._Element) -> etree._Element:
    """Put `statement` inside the signature (after signing), where the enveloped signature
    does not cover it."""
    forged = copy.deepcopy(header)
    signature = next(forged.iter(f"{{{DS}}}Signature"))
    if where == "Object":
        holder = etree.SubElement(signature, f"{{{DS}}}Object")
    elif where == "KeyInfo":
        holder = signature.find(f"{{{DS}}}KeyInfo")
    else:                                       # an Object before SignedInfo
        holder = etree.Element(f"{{{DS}}}Object")
        signature.insert(0, holder)
    holder.append(statement)
    return forged


PLANTED = {
    "administrator role": lambda s: _planted(ROLE, _coded("Role", "ADMINISTRATEUR",
                                                           "1.2.250.1.213.1.1.4.6")),
    "patient role": lambda s: _planted(ROLE, _coded("Role", "PATIENT", "1.2.250.1.213.1.1.4.6")),
    "another resource-id": lambda s: _planted(RESOURCE_ID, s.patient_b),
    "bris de glace": lambda s: _planted(PURPOSE, _coded("PurposeOfUse", "bris_de_glace",
                                                         "1.2.250.1.213.1.1.4.248")),
}


@pytest.mark.parametrize("where", ["Object", "KeyInfo", "ObjectFirst"])
@pytest.mark.parametrize("what", sorted(PLANTED))
def test_attributes_planted_inside_the_signature_are_refused(trust_server, where, what):
    server = trust_server
    genuine = server.vihf(server.patient_a, STRANGER)
    forged = _plant(genuine, where, PLANTED[what](server))
    patient = server.patient_b if what == "another resource-id" else server.patient_a
    reply = server.query("FindDocuments", {
        "$XDSDocumentEntryPatientId": patient, "$XDSDocumentEntryStatus": [APPROVED]}, forged)
    assert refused(reply), etree.tostring(reply.envelope)[:1500]
    masked = server.documents["a_masked"]
    assert refused(server.retrieve(masked.unique_id, forged))
    unchanged(server)


def test_a_planted_statement_after_a_verified_one_is_refused_too(trust_server):
    """The verified assertion is cached by its signature: the same signature with a planted
    statement is read again, and refused."""
    server = trust_server
    genuine = server.vihf(server.patient_a, STRANGER)
    params = {"$XDSDocumentEntryPatientId": server.patient_a,
              "$XDSDocumentEntryStatus": [APPROVED]}
    assert server.query("FindDocuments", params, genuine).fault is None
    forged = _plant(genuine, "Object", PLANTED["administrator role"](server))
    assert refused(server.query("FindDocuments", params, forged))


def test_the_administrator_escalation_reads_nothing(trust_server):
    """The whole finding: an unauthorised professional planting ADMINISTRATEUR used to retrieve
    a MASQUE_PS document; now the forged call is refused and the genuine one sees nothing."""
    server = trust_server
    genuine = server.vihf(server.patient_a, STRANGER)
    masked = server.documents["a_masked"]
    assert parse_retrieve(server.retrieve(masked.unique_id, genuine)).documents == []
    forged = _plant(genuine, "Object", PLANTED["administrator role"](server))
    assert refused(server.retrieve(masked.unique_id, forged))


# --- finding 2: a comment spliced into a signed value -------------------------------------------

def _comment_in(header: etree._Element, element: etree._Element) -> None:
    text = element.text or ""
    element.text = text[:-1]
    comment = etree.Comment("x")
    comment.tail = text[-1]
    element.append(comment)


def test_a_comment_in_the_name_id_is_refused(trust_server):
    """Signed as 8101012345670 (nobody's authorisation), sent as 810101234567<!--x-->0: a
    reader of the first text node would take the caller for 810101234567 (authorised)."""
    server = trust_server
    header = server.vihf(server.patient_a, STRANGER)
    name_id = next(header.iter(f"{{{SAML}}}NameID"))
    assert name_id.text == READER + "0"
    _comment_in(header, name_id)
    reply = server.query("FindDocuments", {"$XDSDocumentEntryPatientId": server.patient_a,
                                           "$XDSDocumentEntryStatus": [APPROVED]}, header)
    assert refused(reply) and "plain text" in reply.fault.reason


@pytest.mark.parametrize("attribute", [RESOURCE_ID, "Identifiant_Structure", "VIHF_Version"])
def test_a_comment_in_a_text_attribute_is_refused(trust_server, attribute):
    server = trust_server
    header = server.vihf(server.patient_a, AUTHOR_A)
    value = next(a.find(f"{{{SAML}}}AttributeValue") for a in header.iter(f"{{{SAML}}}Attribute")
                 if a.get("Name") == attribute)
    _comment_in(header, value)
    reply = server.query("FindDocuments", {"$XDSDocumentEntryPatientId": server.patient_a,
                                           "$XDSDocumentEntryStatus": [APPROVED]}, header)
    assert refused(reply)


# --- finding 7: an empty resource-id ------------------------------------------------------------

@pytest.mark.parametrize("resource_id", ["", "   ", "not-a-cx"])
def test_a_vihf_without_a_usable_resource_id_is_refused(trust_server, resource_id):
    """A signed VIHF whose resource-id is empty skipped the patient check and fed another
    patient's record."""
    server = trust_server
    header = server.vihf(resource_id, AUTHOR_A)
    entry = document(server.patient_b, "Document01", content=b"intruder",
                     mime_type="text/plain", repository_unique_id=None)
    package = submission_set(server.patient_b)
    reply = server.provide(Submission(package, [entry], associations=[
        has_member(package.entry_uuid, entry.entry_uuid)]), {"Document01": b"intruder"}, header)
    assert refused(reply)
    unchanged(server)


def test_a_submission_for_another_patient_names_nobody(trust_server):
    server = trust_server
    entry = document(server.patient_b, "Document01", content=b"intruder",
                     mime_type="text/plain", repository_unique_id=None)
    package = submission_set(server.patient_b)
    reply = server.provide(Submission(package, [entry], associations=[
        has_member(package.entry_uuid, entry.entry_uuid)]), {"Document01": b"intruder"},
        server.vihf(server.patient_a, AUTHOR_A))
    assert status_of(reply) == "Failure" and codes_of(reply) == ["XDSPatientIdDoesNotMatch"]
    assert server.patient_b.split("^")[0].encode() not in etree.tostring(reply.envelope)


# --- findings 3 and 4: removals without an access check -----------------------------------------

def remove_metadata(ids: list[str]) -> etree._Element:
    lcm, rim = ("urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0",
                "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0")
    request = etree.Element(f"{{{lcm}}}RemoveObjectsRequest", nsmap={"lcm": lcm, "rim": rim})
    refs = etree.SubElement(request, f"{{{rim}}}ObjectRefList")
    for object_id in ids:
        etree.SubElement(refs, f"{{{rim}}}ObjectRef", id=object_id)
    return request


def _whole(stored) -> list[str]:
    return [stored.entry_uuid, stored.set_uuid, stored.association_uuid]


CALLERS_OF_A = {
    "A's author": ("patient_a", AUTHOR_A, "professional"),
    "patient A": ("patient_a", "P-A", "patient"),
    "A's administrator": ("patient_a", ADMIN, "administrator"),
}


@pytest.mark.parametrize("caller", sorted(CALLERS_OF_A))
def test_iti62_cannot_touch_another_patients_objects(trust_server, caller):
    server = trust_server
    b_plain = server.documents["b_plain"]
    patient_attr, subject, role = CALLERS_OF_A[caller]
    header = server.vihf(getattr(server, patient_attr), subject, role=role)
    reply = server.registry(REMOVE_METADATA, remove_metadata(_whole(b_plain)), header)
    assert status_of(reply) == "Failure"
    assert set(codes_of(reply)) == {"UnresolvedReferenceException"}
    text = etree.tostring(reply.envelope)
    assert server.patient_b.split("^")[0].encode() not in text
    # only a part of B's objects: the association that still holds it is not named
    reply = server.registry(REMOVE_METADATA, remove_metadata([b_plain.entry_uuid]), header)
    assert b_plain.association_uuid.encode() not in etree.tostring(reply.envelope)
    unchanged(server)


@pytest.mark.parametrize("caller", ["patient", "reader", "stranger"])
def test_iti62_removes_only_what_the_caller_wrote(trust_server, caller):
    server = trust_server
    stored = server.store(f"to_remove_by_{caller}", server.patient_a, AUTHOR_A)
    subject, role = {"patient": ("P-A", "patient"), "reader": (READER, "professional"),
                     "stranger": (STRANGER, "professional")}[caller]
    reply = server.registry(REMOVE_METADATA, remove_metadata(_whole(stored)),
                            server.vihf(server.patient_a, subject, role=role))
    assert status_of(reply) == "Failure"
    assert set(codes_of(reply)) <= {"XDSRegistryError", "UnresolvedReferenceException"}
    unchanged(server)
    author = server.registry(REMOVE_METADATA, remove_metadata(_whole(stored)),
                             server.vihf(server.patient_a, AUTHOR_A))
    assert status_of(author) == "Success", codes_of(author)
    del server.documents[f"to_remove_by_{caller}"]
    assert server.query("GetDocuments", {"$XDSDocumentEntryEntryUUID": [stored.entry_uuid]},
                        server.vihf(server.patient_a, AUTHOR_A)).payload.find(
        "{*}RegistryObjectList") is None or not list(server.query(
            "GetDocuments", {"$XDSDocumentEntryEntryUUID": [stored.entry_uuid]},
            server.vihf(server.patient_a, AUTHOR_A)).payload.iter("{*}ExtrinsicObject"))


def _remove_bytes(server: TrustServer, unique_id: str, header: etree._Element):
    from xds_server.consumer.transport import SoapClient

    return SoapClient(server.url + "/xds/repository").call(
        REMOVE, remove_request([(server.repository_id, unique_id)]), extra_headers=[header])


@pytest.mark.parametrize("caller", sorted(CALLERS_OF_A))
def test_iti86_cannot_remove_another_patients_bytes(trust_server, caller):
    server = trust_server
    b_plain = server.documents["b_plain"]
    patient_attr, subject, role = CALLERS_OF_A[caller]
    reply = _remove_bytes(server, b_plain.unique_id,
                          server.vihf(getattr(server, patient_attr), subject, role=role))
    assert status_of(reply) == "Failure" and codes_of(reply) == ["XDSDocumentUniqueIdError"]
    unchanged(server)


def test_iti86_follows_rmd_metadata_first_then_the_submitters_bytes(trust_server):
    """IHE RMD: ITI-62 removes the metadata, then ITI-86 the bytes. Bytes a registry entry still
    names are refused (the document stays retrievable), naming the uniqueId, to their
    submitter; once the metadata is gone the permission comes from what the repository kept at
    ITI-41 (submitter, organisation, patient, authors): anyone else gets the answer of bytes
    never held, which discloses nothing."""
    server = trust_server
    stored = server.store("bytes_to_remove", server.patient_a, AUTHOR_A)
    submitter = server.vihf(server.patient_a, AUTHOR_A)
    others = [server.vihf(server.patient_a, "P-A", role="patient"),
              server.vihf(server.patient_a, READER),
              # (the author from elsewhere may: ITI-62 lets an author remove the entries,
              # tests/test_removal_by_author.py)
              server.vihf(server.patient_a, READER, structure="1750088881"),  # elsewhere
              server.vihf(server.patient_b, AUTHOR_A)]          # another record
    registered = _remove_bytes(server, stored.unique_id, submitter)
    assert status_of(registered) == "Failure"
    assert codes_of(registered) == ["XDSDocumentUniqueIdError"]
    assert stored.unique_id in etree.tostring(registered.payload).decode()
    assert "ITI-62" in etree.tostring(registered.payload).decode()
    for header in others:
        reply = _remove_bytes(server, stored.unique_id, header)
        assert codes_of(reply) == ["XDSDocumentUniqueIdError"]   # as for bytes never held
    unchanged(server)

    removed = server.registry(REMOVE_METADATA, remove_metadata(_whole(stored)), submitter)
    assert status_of(removed) == "Success", codes_of(removed)
    del server.documents["bytes_to_remove"]
    never_held = _remove_bytes(server, "1.2.250.1.999.404", submitter)
    for header in others:
        reply = _remove_bytes(server, stored.unique_id, header)
        assert codes_of(reply) == ["XDSDocumentUniqueIdError"]
        assert _error_text(reply).replace(stored.unique_id, "X") == \
            _error_text(never_held).replace("1.2.250.1.999.404", "X")
    reply = _remove_bytes(server, stored.unique_id, submitter)
    assert status_of(reply) == "Success", codes_of(reply)
    again = _remove_bytes(server, stored.unique_id, submitter)
    assert codes_of(again) == ["XDSDocumentUniqueIdError"]


def _error_text(reply) -> str:
    return " ".join(e.get("codeContext") or "" for e in reply.payload.iter("{*}RegistryError"))


# --- a patient's opposition to feeding ----------------------------------------------------------

def test_a_record_whose_patient_opposed_feeding_takes_no_document(trust_server):
    server = trust_server
    patient = server.patient_b
    me = server.vihf(patient, "P-B", role="patient")
    status, body = dmp_call(server.url, "/dmp/patients", PATIENTS_NS, "SetOppositions",
                            {"patient_id": patient}, me)
    assert status == 200, body
    try:
        _set_oppositions(server, patient, ["alimentation"])
        entry = document(patient, "Document01", content=b"refused", mime_type="text/plain",
                         repository_unique_id=None)
        package = submission_set(patient)
        reply = server.provide(Submission(package, [entry], associations=[
            has_member(package.entry_uuid, entry.entry_uuid)]), {"Document01": b"refused"},
            server.vihf(patient, AUTHOR_B))
        assert status_of(reply) == "Failure" and codes_of(reply) == ["XDSRegistryError"]
        assert "opposed the feeding" in etree.tostring(reply.payload).decode()
    finally:
        _set_oppositions(server, patient, [])


def _set_oppositions(server: TrustServer, patient: str, modes: list[str]) -> None:
    envelope = etree.Element("{http://www.w3.org/2003/05/soap-envelope}Envelope")
    etree.SubElement(envelope, "{http://www.w3.org/2003/05/soap-envelope}Header").append(
        server.vihf(patient, "P-x", role="patient"))
    call = etree.SubElement(etree.SubElement(
        envelope, "{http://www.w3.org/2003/05/soap-envelope}Body"),
        f"{{{PATIENTS_NS}}}SetOppositions")
    etree.SubElement(call, f"{{{PATIENTS_NS}}}patient_id").text = patient
    listed = etree.SubElement(call, f"{{{PATIENTS_NS}}}opposed_modes")
    for mode in modes:
        etree.SubElement(listed, f"{{{PATIENTS_NS}}}string").text = mode
    status, body = raw_post(server.url + "/dmp/patients", etree.tostring(envelope),
                            "application/soap+xml")
    assert status == 200, body


# --- finding 8: the DMP services on malformed requests ------------------------------------------

MALFORMED = {
    "unknown operation": (PATIENTS_NS, "Nope", {}),
    "missing patient_id": (PATIENTS_NS, "CloseRecord", {}),
    "empty patient_id": (PATIENTS_NS, "AccessHistory", {"patient_id": ""}),
    "unknown parameter": (AUTHORIZATIONS_NS, "ListProfessionals",
                          {"patient_id": "x", "evil": "y"}),
    "another service's operation": (AUTHORIZATIONS_NS, "OpenRecord", {"patient_id": "x"}),
}


@pytest.mark.parametrize("authenticated", [False, True])
@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_dmp_services_answer_a_malformed_call_with_a_sender_fault(trust_server, case,
                                                                   authenticated):
    server = trust_server
    namespace, operation, params = MALFORMED[case]
    path = "/dmp/patients" if namespace == PATIENTS_NS and case != "another service's " \
        "operation" else "/dmp/authorizations"
    header = server.vihf(server.patient_a, "P-A", role="patient") if authenticated else None
    status, body = dmp_call(server.url, path, namespace, operation, params, header)
    assert status == 400, body[:500]
    assert b"<html" not in body.lower()
    fault = etree.fromstring(body).find(".//{http://www.w3.org/2003/05/soap-envelope}Fault")
    assert fault is not None and fault.findtext(".//{*}Value") == "env:Sender"


@pytest.mark.parametrize("body", [b"", b"not xml", b"<a/>", b"<!DOCTYPE a [<!ENTITY e 'x'>]><a/>",
                                  b'<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/'
                                  b'envelope/"><e:Body/></e:Envelope>'])
def test_dmp_services_never_answer_html(trust_server, body):
    status, answer = raw_post(trust_server.url + "/dmp/patients", body,
                              "application/soap+xml")
    assert 400 <= status < 500 and b"<html" not in answer.lower(), (status, answer[:300])
    assert answer.startswith(b"<?xml")
