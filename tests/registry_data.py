"""Test metadata: valid IHE-profile objects built in code, and a SOAP helper for the registry."""

from __future__ import annotations

import hashlib
import io
import uuid
from dataclasses import dataclass

from lxml import etree

from xds_server.consumer.metadata import has_member, new_oid, submit_objects_request
from xds_server.ebxml.namespaces import NSMAP, QUERY, RIM, query, rim
from xds_server.model import vocabulary as v
from xds_server.model.metadata import (
    Author,
    Code,
    DocumentEntry,
    Folder,
    Submission,
    SubmissionSet,
)
from xds_server.soap.message import read_message

from .conftest import call_wsgi
from .soap_messages import envelope

REGISTER = "urn:ihe:iti:2007:RegisterDocumentSet-b"
STORED_QUERY = "urn:ihe:iti:2007:RegistryStoredQuery"
FIND_DOCUMENTS = "urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d"
SUCCESS = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success"
FAILURE = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Failure"
AUTHORITY = "1.3.6.1.4.1.21367.13.20.1000"


def new_patient() -> str:
    return f"P{uuid.uuid4().hex[:10]}^^^&{AUTHORITY}&ISO"


def document(patient: str, symbol: str = "Document01", **overrides) -> DocumentEntry:
    content = overrides.pop("content", b"document " + symbol.encode())
    entry = DocumentEntry(
        entry_uuid=symbol, unique_id=new_oid(), patient_id=patient, title="Compte rendu",
        mime_type="text/xml",
        class_code=Code("10", "1.2.250.1.213.1.1.4.1", "Compte rendu"),
        type_code=Code("11502-2", "2.16.840.1.113883.6.1", "CR d'examens biologiques"),
        format_code=Code("urn:ihe:lab:xd-lab:2008", "1.3.6.1.4.1.19376.1.2.3"),
        healthcare_facility_type_code=Code("SA07", "1.2.250.1.71.4.2.4"),
        practice_setting_code=Code("AMBULATOIRE", "1.2.250.1.213.1.1.4.9"),
        confidentiality_codes=[Code("N", "2.16.840.1.113883.5.25")],
        authors=[Author(person="801234567890^DURANT^Romuald^^^^^^&1.2.250.1.71.4.2.1&ISO",
                        institutions=["Labo^^^^^&1.2.250.1.71.4.2.2&ISO^IDNST^^^1750100125"])],
        creation_time="20251103101500", service_start_time="20251102", hash=hashlib.sha1(
            content).hexdigest(), size=str(len(content)), language_code="fr-FR",
        repository_unique_id="1.2.3.4.5", source_patient_id=patient,
    )
    for name, value in overrides.items():
        setattr(entry, name, value)
    return entry


def submission_set(patient: str, symbol: str = "SubmissionSet01", **overrides) -> SubmissionSet:
    package = SubmissionSet(entry_uuid=symbol, unique_id=new_oid(), patient_id=patient,
                            source_id="1.2.250.1.999.1", submission_time="20251103120000",
                            content_type_code=Code("26", "1.2.250.1.213.2.2"),
                            authors=[Author(person="^DURANT^Romuald")])
    for name, value in overrides.items():
        setattr(package, name, value)
    return package


def folder(patient: str, symbol: str = "Folder01", **overrides) -> Folder:
    package = Folder(entry_uuid=symbol, unique_id=new_oid(), patient_id=patient,
                     title="Suivi diabète", codes=[Code("FOLDER", "1.2.3.99")])
    for name, value in overrides.items():
        setattr(package, name, value)
    return package


def single_document_submission(patient: str, **document_overrides) -> Submission:
    doc = document(patient, **document_overrides)
    package = submission_set(patient)
    return Submission(package, [doc], associations=[has_member(package.entry_uuid,
                                                               doc.entry_uuid)])


@dataclass
class Reply:
    status: str
    errors: list[dict]
    payload: etree._Element
    http_status: int

    @property
    def codes(self) -> list[str]:
        return [e["code"] for e in self.errors]

    def objects(self, local: str | None = None) -> list[etree._Element]:
        object_list = self.payload.find(rim("RegistryObjectList"))
        if object_list is None:
            return []
        return [e for e in object_list if local is None or etree.QName(e).localname == local]


def soap_call(app, path: str, action: str, payload: etree._Element) -> Reply:
    body = envelope(etree.tostring(payload).decode(), action=action)
    result = call_wsgi(app, "POST", path, body, "application/soap+xml")
    raw = read_message(io.BytesIO(result.body), result.headers["content-type"], spool_dir=None,
                       spool_threshold=1 << 30)
    answer = raw.root.find("{http://www.w3.org/2003/05/soap-envelope}Body")[0]
    errors = [{"code": e.get("errorCode"), "context": e.get("codeContext"),
               "severity": e.get("severity"), "location": e.get("location")}
              for e in answer.iter("{urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0}RegistryError")]
    return Reply(answer.get("status", ""), errors, answer, result.status)


def register(app, submission: Submission | etree._Element) -> Reply:
    payload = submission if isinstance(submission, etree._Element) \
        else submit_objects_request(submission)
    return soap_call(app, "/xds/registry", REGISTER, payload)


def stored_query(query_id: str, params: dict[str, object], return_type: str = "LeafClass"
                 ) -> etree._Element:
    """An AdhocQueryRequest; a value that is a list of lists becomes several slots (AND)."""
    request = etree.Element(query("AdhocQueryRequest"), nsmap={"query": QUERY, "rim": RIM})
    etree.SubElement(request, query("ResponseOption"), returnComposedObjects="true",
                     returnType=return_type)
    adhoc = etree.SubElement(request, rim("AdhocQuery"), id=query_id)
    for name, value in params.items():
        slots = value if isinstance(value, list) and value and isinstance(value[0], list) \
            else [value]
        for slot_value in slots:
            slot = etree.SubElement(adhoc, rim("Slot"), name=name)
            values = etree.SubElement(slot, rim("ValueList"))
            etree.SubElement(values, rim("Value")).text = _format(slot_value)
    return request


def _format(value: object) -> str:
    if isinstance(value, list):
        return "(" + ",".join(_format(item) for item in value) + ")"
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


def run_query(app, query_id: str, params: dict[str, object],
              return_type: str = "LeafClass") -> Reply:
    return soap_call(app, "/xds/registry", STORED_QUERY,
                     stored_query(query_id, params, return_type))


def library_query(app, query_id: str, slots: dict[str, list[list[str]]], principal
                  ) -> tuple[list[bytes], list]:
    """A stored query asked of the registry actor itself (no SOAP): its LeafClass objects as
    the ebXML front writes them, and its notices."""
    from xds_server.ebxml.stored import registry_objects
    from xds_server.model.stored_queries import parse

    query = parse(query_id, slots)
    answer = app.registry.query(query, principal)
    return registry_objects(answer.result, query.return_type), answer.notices


def open_patient(app, patient: str) -> None:
    app.records.open(patient)


__all__ = ["NSMAP", "v"]


def provide_text_document(app, patient: str, author_id: str) -> DocumentEntry:
    """One plain-text document by `author_id`, provided through the repository as the system
    (the repository gives its own uniqueId): what a read test needs on the record."""
    from xds_server.model.content import Attachment
    from xds_server.security.principal import SYSTEM

    person = f"{author_id}^AUTEUR^A^^^^^^&1.2.250.1.71.4.2.1&ISO"
    content = f"doc {uuid.uuid4()}".encode()
    entry = document(patient, f"urn:uuid:{uuid.uuid4()}", content=content,
                     mime_type="text/plain", repository_unique_id=None,
                     authors=[Author(person=person)])
    package = submission_set(patient, f"urn:uuid:{uuid.uuid4()}")
    app.repository.provide(Submission(package, [entry], associations=[has_member(
        package.entry_uuid, entry.entry_uuid, entry_uuid=f"urn:uuid:{uuid.uuid4()}")]),
        {entry.entry_uuid: Attachment.from_bytes(content)}, SYSTEM, [])
    return entry
