"""A zeep client built from the server's `?wsdl` alone, as an integrator writes one: the metadata
as Python objects of the served schema's types, the IHE identifiers written out here (not taken
from the server's code), and an MTOM transport (zeep reads MTOM answers, but sends base64 inline:
this transport moves each Document into a MIME part, as IHE ITI-41 sources do).
"""

from __future__ import annotations

import uuid
from typing import Any

import zeep
from lxml import etree
from zeep.transports import Transport

RIM = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"
XDSB = "urn:ihe:iti:xds-b:2007"
XOP = "http://www.w3.org/2004/08/xop/include"

# IHE ITI TF-3 4.2.5: classification schemes and identification schemes
DOC_CLASS = "urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a"
DOC_CONFIDENTIALITY = "urn:uuid:f4f85eac-e6cb-4883-b524-f2705394840f"
DOC_FORMAT = "urn:uuid:a09d5840-386c-46f2-b5ad-9c3699a4309d"
DOC_FACILITY = "urn:uuid:f33fb8ac-18af-42cc-ae0e-ed0b0bdb91e1"
DOC_PRACTICE = "urn:uuid:cccf5598-8b07-4b77-a05e-ae952c785ead"
DOC_TYPE = "urn:uuid:f0306f51-975f-434e-a61c-c59651d33983"
DOC_AUTHOR = "urn:uuid:93606bcf-9494-43ec-9b4e-a7748d1a838d"
DOC_PATIENT_ID = "urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427"
DOC_UNIQUE_ID = "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab"
STABLE_ENTRY = "urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1"
SET_NODE = "urn:uuid:a54d6aa5-d40d-43f9-88c5-b4633d873bdd"
SET_CONTENT_TYPE = "urn:uuid:aa543740-bdda-424e-8c96-df4873be8500"
SET_AUTHOR = "urn:uuid:a7058bb9-b4e4-4307-ba5b-e3f0ab85e12d"
SET_PATIENT_ID = "urn:uuid:6b5aea1a-874d-4603-a4bc-96a0a7b38446"
SET_SOURCE_ID = "urn:uuid:554ac39e-e3fe-47fe-b233-965d2a147832"
SET_UNIQUE_ID = "urn:uuid:96fdda7c-d067-4183-912e-bf5ee74998a8"
HAS_MEMBER = "urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember"
FIND_DOCUMENTS = "urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d"
APPROVED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"


class MtomTransport(Transport):
    """Sends each xds:Document of a request as an XOP include of its own MIME part."""

    sent_mtom = 0

    def post_xml(self, address: str, envelope: etree._Element, headers: dict) -> Any:
        parts: list[tuple[str, bytes]] = []
        for element in envelope.iter(f"{{{XDSB}}}Document"):
            if element.text and element.getparent().tag.endswith("DocumentSetRequest"):
                cid = f"doc{len(parts)}@typed-client"
                parts.append((cid, _b64decode(element.text)))
                element.text = None
                etree.SubElement(element, f"{{{XOP}}}Include", href=f"cid:{cid}")
        if not parts:
            return super().post_xml(address, envelope, headers)
        boundary = uuid.uuid4().hex
        root = etree.tostring(envelope, encoding="utf-8")
        chunks = [_part(boundary, "root@typed-client",
                        'application/xop+xml; charset=UTF-8; type="application/soap+xml"', root)]
        chunks += [_part(boundary, cid, "application/octet-stream", data) for cid, data in parts]
        body = b"".join(chunks) + f"--{boundary}--\r\n".encode()
        soap_type = headers["Content-Type"]
        headers = {**headers, "Content-Type": (
            f'multipart/related; type="application/xop+xml"; boundary="{boundary}"; '
            f'start="<root@typed-client>"; start-info="application/soap+xml"')}
        action = soap_type.partition("action=")[2]
        if action:
            headers["Content-Type"] += f"; action={action}"
        self.sent_mtom += 1
        return self.post(address, body, headers)


def _b64decode(text: str) -> bytes:
    import base64
    return base64.b64decode(text)


def _part(boundary: str, cid: str, content_type: str, data: bytes) -> bytes:
    return (f"--{boundary}\r\nContent-Type: {content_type}\r\n"
            f"Content-Transfer-Encoding: binary\r\nContent-ID: <{cid}>\r\n\r\n").encode() \
        + data + b"\r\n"


def client(url: str) -> zeep.Client:
    """A typed client of `url` from its ?wsdl alone: zeep adds the WS-Addressing headers
    because the WSDL's binding says wsaw:UsingAddressing."""
    return zeep.Client(url + "?wsdl", transport=MtomTransport())


class Metadata:
    """ebRIM objects built with the types of a client's schema."""

    def __init__(self, zeep_client: zeep.Client) -> None:
        self.t = lambda name: zeep_client.get_type(f"{{{RIM}}}{name}")

    def slot(self, name: str, *values: str) -> Any:
        return self.t("SlotType1")(name=name, ValueList=self.t("ValueListType")(Value=list(values)))

    def text(self, value: str) -> Any:
        return self.t("InternationalStringType")(
            LocalizedString=[self.t("LocalizedStringType")(value=value)])

    def code(self, scheme: str, owner: str, code: str, system: str, display: str) -> Any:
        return self.t("ClassificationType")(
            id=f"urn:uuid:{uuid.uuid4()}", classificationScheme=scheme, classifiedObject=owner,
            nodeRepresentation=code, Slot=[self.slot("codingScheme", system)],
            Name=self.text(display))

    def author(self, scheme: str, owner: str, person: str) -> Any:
        return self.t("ClassificationType")(
            id=f"urn:uuid:{uuid.uuid4()}", classificationScheme=scheme, classifiedObject=owner,
            nodeRepresentation="", Slot=[self.slot("authorPerson", person)])

    def identifier(self, scheme: str, owner: str, value: str, name: str) -> Any:
        return self.t("ExternalIdentifierType")(
            id=f"urn:uuid:{uuid.uuid4()}", identificationScheme=scheme, registryObject=owner,
            value=value, Name=self.text(name))

    def document_submission(self, patient: str, document_id: str, unique_id: str,
                            set_unique_id: str, mime_type: str = "text/plain") -> Any:
        """A SubmitObjectsRequest's RegistryObjectList: one document entry, its submission set
        and their HasMember association."""
        entry = self.t("ExtrinsicObjectType")(
            id=document_id, mimeType=mime_type, objectType=STABLE_ENTRY,
            Slot=[self.slot("creationTime", "20251103101500"),
                  self.slot("languageCode", "fr-FR"),
                  self.slot("sourcePatientId", patient)],
            Name=self.text("Compte rendu (client typé)"),
            Classification=[
                self.author(DOC_AUTHOR, document_id, "^DURANT^Romuald"),
                self.code(DOC_CLASS, document_id, "10", "1.2.250.1.213.1.1.4.1", "Compte rendu"),
                self.code(DOC_CONFIDENTIALITY, document_id, "N", "2.16.840.1.113883.5.25",
                          "Normal"),
                self.code(DOC_FORMAT, document_id, "urn:ihe:iti:xds-sd:text:2008",
                          "1.3.6.1.4.1.19376.1.2.3", "Texte"),
                self.code(DOC_FACILITY, document_id, "SA07", "1.2.250.1.71.4.2.4", "Cabinet"),
                self.code(DOC_PRACTICE, document_id, "AMBULATOIRE", "1.2.250.1.213.1.1.4.9",
                          "Ambulatoire"),
                self.code(DOC_TYPE, document_id, "11502-2", "2.16.840.1.113883.6.1",
                          "CR d'examens biologiques"),
            ],
            ExternalIdentifier=[
                self.identifier(DOC_PATIENT_ID, document_id, patient,
                                "XDSDocumentEntry.patientId"),
                self.identifier(DOC_UNIQUE_ID, document_id, unique_id,
                                "XDSDocumentEntry.uniqueId"),
            ])
        package = self.t("RegistryPackageType")(
            id="SubmissionSet01",
            Slot=[self.slot("submissionTime", "20251103120000")],
            Classification=[
                self.author(SET_AUTHOR, "SubmissionSet01", "^DURANT^Romuald"),
                self.code(SET_CONTENT_TYPE, "SubmissionSet01", "26", "1.2.250.1.213.2.2",
                          "Consultation"),
            ],
            ExternalIdentifier=[
                self.identifier(SET_PATIENT_ID, "SubmissionSet01", patient,
                                "XDSSubmissionSet.patientId"),
                self.identifier(SET_SOURCE_ID, "SubmissionSet01", "1.2.250.1.999.1",
                                "XDSSubmissionSet.sourceId"),
                self.identifier(SET_UNIQUE_ID, "SubmissionSet01", set_unique_id,
                                "XDSSubmissionSet.uniqueId"),
            ])
        node = self.t("ClassificationType")(
            id=f"urn:uuid:{uuid.uuid4()}", classifiedObject="SubmissionSet01",
            classificationNode=SET_NODE)
        member = self.t("AssociationType1")(
            id=f"urn:uuid:{uuid.uuid4()}", associationType=HAS_MEMBER,
            sourceObject="SubmissionSet01", targetObject=document_id,
            Slot=[self.slot("SubmissionSetStatus", "Original")])
        return self.t("RegistryObjectListType")(_value_1=[
            {"ExtrinsicObject": entry}, {"RegistryPackage": package},
            {"Classification": node}, {"Association": member}])

    def find_documents(self, patient: str) -> Any:
        return self.t("AdhocQueryType")(id=FIND_DOCUMENTS, Slot=[
            self.slot("$XDSDocumentEntryPatientId", f"'{patient}'"),
            self.slot("$XDSDocumentEntryStatus", f"('{APPROVED}')")])
