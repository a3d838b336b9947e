"""A VIHF-secured server with two patients' records, and the callers the attacks are mounted
with (tests/test_trust_attacks.py, tests/test_trust_disclosure.py)."""

from __future__ import annotations

import http.client
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from lxml import etree

from xds_server.consumer.documents import PROVIDE, RETRIEVE, provide_request, retrieve_request
from xds_server.consumer.metadata import has_member
from xds_server.consumer.queries import STORED_QUERY
from xds_server.consumer.transport import SoapClient, SoapReply
from xds_server.model.content import Attachment
from xds_server.model.metadata import Author, Code, Submission

from .conftest import start_server, stop_server
from .registry_data import document, stored_query, submission_set
from .vihf_data import NON_PROFESSIONAL, SigningAuthority, assertion, security_header

AUTHORITY = "1.3.6.1.4.1.21367.13.20.1000"
VISIBILITY = "1.2.250.1.213.1.1.4.13"
AUTHOR_A, AUTHOR_B = "810000000001", "810000000002"
READER = "810101234567"                 # authorised by patient A
STRANGER = "8101012345670"              # authorised by nobody
ADMIN = "ADMIN-0001"
ROLES = {"patient": ("PATIENT", NON_PROFESSIONAL),
         "administrator": ("ADMINISTRATEUR", NON_PROFESSIONAL),
         "legal_representative": ("REPRESENTANT_LEGAL", NON_PROFESSIONAL),
         "professional": ("10", "1.2.250.1.71.1.2.7")}
QUERIES = {
    "FindDocuments": "urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d",
    "GetAll": "urn:uuid:10b545ea-725c-446d-9b95-8aeb444eddf3",
    "FindSubmissionSets": "urn:uuid:f26abbcb-ac74-4422-8a30-edb644bbc1a9",
    "GetDocuments": "urn:uuid:5c4f972b-d56b-40ac-a5fc-c8ca9b40b9d4",
    "GetAssociations": "urn:uuid:a7ae438b-4bc2-4642-93e9-be891f7bb155",
    "GetDocumentsAndAssociations": "urn:uuid:bab9529a-4a10-40b3-a01f-f68a615d247a",
    "GetSubmissionSets": "urn:uuid:51224314-5390-4169-9b91-b1980040715a",
    "GetSubmissionSetAndContents": "urn:uuid:e8e3cb2c-e39c-46b9-99e4-c12f57260b83",
    "GetFoldersForDocument": "urn:uuid:10cae35a-c7f9-4cf5-b61e-fc3278ffb578",
    "GetRelatedDocuments": "urn:uuid:d90e5407-b356-4d91-a89f-873917b4b0e6",
}
REMOVE_METADATA = "urn:ihe:iti:2010:DeleteDocumentSet"
REMOVE_DOCUMENTS = "urn:ihe:iti:2017:RemoveDocuments"
APPROVED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"


def new_patient() -> str:
    return f"T{uuid.uuid4().hex[:10]}^^^&{AUTHORITY}&ISO"


def _urn() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


@dataclass
class StoredDocument:
    """A document registered for the tests: its ids and bytes."""

    patient: str
    entry_uuid: str
    unique_id: str
    set_uuid: str
    association_uuid: str
    content: bytes


@dataclass
class TrustServer:
    authority: SigningAuthority
    url: str
    repository_id: str
    patient_a: str
    patient_b: str
    documents: dict[str, StoredDocument] = field(default_factory=dict)

    # --- callers --------------------------------------------------------------------------

    def vihf(self, patient: str, subject: str, role: str = "professional",
             purpose: str = "normal", **options) -> etree._Element:
        """A signed VIHF header; `options` go to vihf_data.assertion."""
        signed = self.authority.sign(assertion(patient, role=ROLES[role], subject=subject,
                                               purpose=purpose, speciality=None, **options))
        return security_header(signed)

    def registry(self, action: str, payload: etree._Element,
                 header: etree._Element | None) -> SoapReply:
        return SoapClient(self.url + "/xds/registry").call(
            action, payload, extra_headers=[header] if header is not None else [])

    def query(self, name: str, params: dict, header: etree._Element | None,
              return_type: str = "LeafClass") -> SoapReply:
        return self.registry(STORED_QUERY, stored_query(QUERIES[name], params, return_type),
                             header)

    def retrieve(self, unique_id: str, header: etree._Element) -> SoapReply:
        return SoapClient(self.url + "/xds/repository").call(
            RETRIEVE, retrieve_request([(self.repository_id, unique_id)]),
            extra_headers=[header])

    def provide(self, submission: Submission, contents: dict[str, bytes],
                header: etree._Element) -> SoapReply:
        payload, binaries = provide_request(submission, {
            name: Attachment.from_bytes(data, "text/plain") for name, data in contents.items()})
        return SoapClient(self.url + "/xds/repository").call(
            PROVIDE, payload, binaries=binaries, extra_headers=[header])

    # --- data -----------------------------------------------------------------------------

    def store(self, name: str, patient: str, author: str, visibility: str | None = None
              ) -> StoredDocument:
        """Provide one document (ITI-41) written by `author`, under the author's own VIHF."""
        content = f"document {name} {uuid.uuid4()}".encode()
        codes = [Code("N", "2.16.840.1.113883.5.25")] + (
            [Code(visibility, VISIBILITY)] if visibility else [])
        entry = document(patient, _urn(), content=content, mime_type="text/plain",
                         confidentiality_codes=codes, repository_unique_id=None,
                         authors=[Author(person=f"{author}^AUTEUR^{name}^^^^^^&"
                                                "1.2.250.1.71.4.2.1&ISO")])
        package = submission_set(patient, _urn(),
                                 authors=[Author(person=f"{author}^AUTEUR^{name}^^^^^^&"
                                                        "1.2.250.1.71.4.2.1&ISO")])
        membership = has_member(package.entry_uuid, entry.entry_uuid, entry_uuid=_urn())
        reply = self.provide(Submission(package, [entry], associations=[membership]),
                             {entry.entry_uuid: content}, self.vihf(patient, author))
        status = reply.payload.get("status", "") if reply.payload is not None else ""
        assert status.endswith(":Success"), etree.tostring(reply.envelope)[:2000]
        stored = StoredDocument(patient, entry.entry_uuid, entry.unique_id, package.entry_uuid,
                                membership.entry_uuid, content)
        self.documents[name] = stored
        return stored


def start_trust_server(root: Path, run_cli) -> tuple[TrustServer, object]:
    """A VIHF server (profile ihe: plain-text documents) with patients A and B, documents of
    both (A: one plain, one MASQUE_PS; B: one plain), READER and AUTHOR_A authorised by A."""
    authority = SigningAuthority.create(root / "ca")
    data_dir = root / "var"
    patient_a, patient_b = new_patient(), new_patient()
    repository_id = "1.2.250.1.999.7.1"
    env = {"XDS_DATA_DIR": str(data_dir), "XDS_PROFILE": "ihe", "XDS_SECURITY": "vihf",
           "XDS_VIHF_TRUSTED_CERTS": str(authority.trusted),
           "XDS_REPOSITORY_UNIQUE_ID": repository_id}
    for patient in (patient_a, patient_b):
        assert run_cli("patient", "add", patient, env=env).returncode == 0
    process, url, _ = start_server(data_dir, env, workers=1)
    server = TrustServer(authority, url, repository_id, patient_a, patient_b)
    try:
        server.store("a_plain", patient_a, AUTHOR_A)
        server.store("a_masked", patient_a, AUTHOR_A, "MASQUE_PS")
        server.store("b_plain", patient_b, AUTHOR_B)
        authorize(server, patient_a, READER)
        authorize(server, patient_a, AUTHOR_A)
    except BaseException:
        stop_server(process)
        raise
    return server, process


def dmp_call(url: str, path: str, namespace: str, operation: str, params: dict[str, str],
             header: etree._Element | None = None) -> tuple[int, bytes]:
    """A DMP service call as raw SOAP 1.2 (status, body): what any client would send."""
    envelope = etree.Element("{http://www.w3.org/2003/05/soap-envelope}Envelope")
    if header is not None:
        etree.SubElement(envelope, "{http://www.w3.org/2003/05/soap-envelope}Header"
                         ).append(header)
    body = etree.SubElement(envelope, "{http://www.w3.org/2003/05/soap-envelope}Body")
    call = etree.SubElement(body, f"{{{namespace}}}{operation}")
    for name, value in params.items():
        etree.SubElement(call, f"{{{namespace}}}{name}").text = value
    return raw_post(url + path, etree.tostring(envelope), "application/soap+xml")


def raw_post(url: str, data: bytes, content_type: str) -> tuple[int, bytes]:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.request("POST", parts.path, body=data, headers={"Content-Type": content_type})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def authorize(server: TrustServer, patient: str, professional: str) -> None:
    status, body = dmp_call(server.url, "/dmp/authorizations",
                            "urn:xds-server:dmp:authorizations", "AddAuthorization",
                            {"patient_id": patient, "professional_id": professional},
                            server.vihf(patient, "P-" + patient[:6], role="patient"))
    assert status == 200, body[:1000]
