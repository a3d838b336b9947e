"""The audit trail as audit messages an ATNA repository takes: IETF RFC 3881 or its DICOM
PS3.15 A.5 form (same structure; codes written code/codeSystemName/displayName in RFC 3881,
csd-code/codeSystemName/originalText in DICOM). One AuditMessage per recorded transaction,
shaped by the audit table of that transaction in IHE ITI TF-2 ("Security Considerations", the
Document Registry's or Document Repository's message): event, active participants, objects.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import json
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from lxml import etree

from ..model.audit import AuditEvent
from .access import APPLICATION

SUBMISSION_SET_NODE = "urn:uuid:a54d6aa5-d40d-43f9-88c5-b4633d873bdd"
# what the request-id object is: not one of RFC 3881's or DICOM's (CID 404) object id types,
# so a code of this server's own (DICOM requires a ParticipantObjectIDTypeCode on every object)
REQUEST_ID_TYPE = ("request-id", "xds-server", "request id (X-Request-Id, in the server log)")
# the AdhocQueryRequest rebuilt for ParticipantObjectQuery (ebRS 3.0)
QUERY_NS = "urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0"
RIM_NS = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"
SOURCE_ROLE = ("110153", "Source Role ID")
DESTINATION_ROLE = ("110152", "Destination Role ID")


@dataclass(frozen=True)
class AuditTable:
    """What ITI TF-2 says the receiving actor's message holds for one transaction."""

    event: tuple[str, str]      # EventID, DCM
    action: str                 # EventActionCode ("": the record's own)
    name: str                   # EventTypeCode's display name
    caller_is_source: bool      # the network caller is the Source (else the Destination)
    objects: tuple[str, ...]    # patient, submission_set, query, documents
    type_code: str = ""         # the EventTypeCode's code, when not the transaction's name


TABLES = {
    # 3.18.5.1.2 Document Registry audit message
    "ITI-18": AuditTable(("110112", "Query"), "E", "Registry Stored Query", True,
                         ("patient", "query")),
    # 3.41.5.1.2 Document Repository: Import, the repository is the Destination
    "ITI-41": AuditTable(("110107", "Import"), "C", "Provide and Register Document Set-b", True,
                         ("patient", "submission_set")),
    # 3.42.5.1.2 Document Registry
    "ITI-42": AuditTable(("110107", "Import"), "C", "Register Document Set-b", True,
                         ("patient", "submission_set")),
    # 3.43.5.1.2 Document Repository: Export, the repository is the Source, the consumer the
    # Destination
    "ITI-43": AuditTable(("110106", "Export"), "R", "Retrieve Document Set", False,
                         ("patient", "documents")),
    # MHD 3.68.5.1.2 Document Responder: as ITI-43's repository (Patient 0..1, Document)
    "ITI-68": AuditTable(("110106", "Export"), "R", "Mobile Document Retrieval", False,
                         ("patient", "documents")),
    # MU supplement 3.57.5.1.2 Document Registry
    "ITI-57": AuditTable(("110110", "Patient Record"), "U", "Update Document Set", True,
                         ("patient", "submission_set")),
    # RMD 3.62.5.1.2 Document Registry
    "ITI-62": AuditTable(("110110", "Patient Record"), "D", "Delete Document Set", True,
                         ("patient", "documents")),
    # RMD 3.86.5.1.2 Document Repository
    "ITI-86": AuditTable(("110110", "Patient Record"), "D", "Remove Documents", True,
                         ("documents",)),
    # ITI TF-2 3.30.5.1 Patient Identity Management (PAM-FR feed, hl7v2/): Patient Record
    # (EventActionCode: the record's, C for a record created, U updated, D merged away)
    "ITI-30": AuditTable(("110110", "Patient Record"), "", "Patient Identity Management",
                         True, ("patient",)),
    # ITI TF-2 3.8.5.1 Patient Identity Feed, for the merge (A40)
    "ITI-8": AuditTable(("110110", "Patient Record"), "", "Patient Identity Feed", True,
                        ("patient", "documents")),
    # DSG ITI TF-3 5.5.7.2 Content Consumer: the signatures of an ITI-41 verified (dsig/)
    "DSG": AuditTable(("110007", "Report Verification"), "R", "Document Digital Signature",
                      True, ("patient", "submission_set", "documents"), "urn:ihe:iti:dsg"),
}
OUTCOMES = {"success": "0", "failure": "4"}
FORMATS = ("rfc3881", "dicom")


def _code(parent: etree._Element, tag: str, code: str, system: str, display: str,
          dicom: bool) -> etree._Element:
    element = etree.SubElement(parent, tag)
    element.set("csd-code" if dicom else "code", code)
    element.set("codeSystemName", system)
    element.set("originalText" if dicom else "displayName", display)
    return element


def _access_point(element: etree._Element, host: str) -> None:
    """NetworkAccessPointTypeCode 1 (machine name) or 2 (IP address), and its ID."""
    if not host:
        return
    try:
        ipaddress.ip_address(host)
        kind = "2"
    except ValueError:
        kind = "1"
    element.set("NetworkAccessPointTypeCode", kind)
    element.set("NetworkAccessPointID", host)


def _utc(moment: dt.datetime) -> str:
    """EventDateTime with its time zone (SQLite gives back naive UTC datetimes)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC).isoformat()


def _details(record: AuditEvent) -> dict[str, str]:
    text = record.detail
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def _participant(message: etree._Element, user_id: str, requestor: bool,
                 role: tuple[str, str], host: str, dicom: bool) -> etree._Element:
    element = etree.SubElement(message, "ActiveParticipant", UserID=user_id or "unknown",
                               UserIsRequestor="true" if requestor else "false")
    _access_point(element, host)
    _code(element, "RoleIDCode", role[0], "DCM", role[1], dicom)
    return element


def _object(message: etree._Element, object_id: str, type_code: str, role: str,
            id_type: tuple[str, str, str], dicom: bool) -> etree._Element:
    element = etree.SubElement(message, "ParticipantObjectIdentification",
                               ParticipantObjectID=object_id,
                               ParticipantObjectTypeCode=type_code,
                               ParticipantObjectTypeCodeRole=role)
    _code(element, "ParticipantObjectIDTypeCode", *id_type, dicom)
    return element


def audit_message(record: AuditEvent, source_id: str, dicom: bool = False) -> etree._Element:
    table = TABLES.get(record.transaction)
    message = etree.Element("AuditMessage")
    event = etree.SubElement(message, "EventIdentification",
                             EventActionCode=(table.action if table else "") or record.action,
                             EventDateTime=_utc(record.at),
                             EventOutcomeIndicator=OUTCOMES.get(record.outcome, "8"))
    event_id = table.event if table else ("110100", "Application Activity")
    _code(event, "EventID", event_id[0], "DCM", event_id[1], dicom)
    _code(event, "EventTypeCode", (table.type_code if table else "") or record.transaction,
          "IHE Transactions", table.name if table else record.transaction, dicom)
    if record.purpose_of_use:
        _code(event, "PurposeOfUse", record.purpose_of_use, "1.2.250.1.213.1.1.4.248",
              record.purpose_of_use, dicom)
    caller_is_source = table.caller_is_source if table else True
    caller_role = SOURCE_ROLE if caller_is_source else DESTINATION_ROLE
    if record.role == APPLICATION:
        # an HL7 v2 sender: the application it is, as ITI TF-2 3.30.5.1 and 3.8.5.1 name the
        # Source (MSH-3 and MSH-4 joined by '|'), the certificate it is bound to beside; no
        # person (how it was bound: the sender_bound_by detail below)
        sender = _participant(message, record.subject_id.replace("^", "|"), True,
                              caller_role, record.client_address, dicom)
        if record.client_subject:
            sender.set("AlternativeUserID", record.client_subject)
    else:
        # the network caller: its TLS client subject when it showed one, else its address
        _participant(message, record.client_subject or record.client_address, True,
                     caller_role, record.client_address, dicom)
    if record.role not in ("system", APPLICATION):   # the person a VIHF named
        person = etree.SubElement(message, "ActiveParticipant", UserID=record.subject_id,
                                  UserIsRequestor="true")
        if record.structure_id:
            person.set("AlternativeUserID", record.structure_id)
        _code(person, "RoleIDCode", record.role, "xds-server roles", record.role, dicom)
    endpoint = record.endpoint or source_id
    _participant(message, endpoint, False, DESTINATION_ROLE if caller_is_source
                 else SOURCE_ROLE, urlsplit(endpoint).hostname or "", dicom)
    etree.SubElement(message, "AuditSourceIdentification", AuditSourceID=source_id)
    _objects(message, record, table.objects if table else ("patient", "documents"), dicom)
    return message


def _objects(message: etree._Element, record: AuditEvent, wanted: tuple[str, ...],
             dicom: bool) -> None:
    details = _details(record)
    patient = None
    if "patient" in wanted and record.patient_id:
        patient = _object(message, record.patient_id, "1", "1",
                          ("2", "RFC-3881", "Patient Number"), dicom)
    if "submission_set" in wanted and details.get("submission_set"):
        _object(message, details["submission_set"], "2", "20",
                (SUBMISSION_SET_NODE, "IHE XDS Metadata", "submission set classificationNode"),
                dicom)
    if "query" in wanted and details.get("query"):
        query = _object(message, details["query"], "2", "24",
                        ("ITI-18", "IHE Transactions", "Registry Stored Query"), dicom)
        # ITI TF-2a 3.18.5.1.2: the AdhocQueryRequest, base64 (rebuilt from the query's slots)
        etree.SubElement(query, "ParticipantObjectQuery").text = base64.b64encode(
            _query_request(details)).decode()
        etree.SubElement(query, "ParticipantObjectDetail", type="QueryEncoding",
                         value="VVRGLTg=")         # base64 of UTF-8
    if "documents" in wanted:
        for document in record.documents.split():
            element = _object(message, document, "2", "3", ("9", "RFC-3881", "Report Number"),
                              dicom)
            if details.get("repository"):
                # ITI TF-2b 3.43.5.1.2 and RMD 3.86.5.1.2: the document's repository
                etree.SubElement(element, "ParticipantObjectDetail", type="Repository Unique Id",
                                 value=base64.b64encode(details["repository"].encode()).decode())
            if details.get("outcome"):
                # a document asked and not served: why, and the error answered (M4)
                etree.SubElement(element, "ParticipantObjectDetail", type="Outcome",
                                 value=base64.b64encode(
                                     f"{details['outcome']} {details.get('error', '')}"
                                     .strip().encode()).decode())
    # the request id, to find the request in the server's log (DICOM: any other object)
    request = _object(message, record.request_id, "4", "13", REQUEST_ID_TYPE, dicom)
    # an HL7 v2 message (ITI-30, ITI-8): its MSH-10, as ITI TF-2 3.30.5 puts it on the
    # patient (ParticipantObjectDetail type MSH-10, base64), and what bound its sender to
    # the connection (XDS_MLLP_SENDERS: certificate or network) beside it
    for key, detail_type in (("control_id", "MSH-10"), ("sender_bound_by", "sender_bound_by")):
        if details.get(key):
            etree.SubElement(patient if patient is not None else request,
                             "ParticipantObjectDetail", type=detail_type,
                             value=base64.b64encode(details[key].encode()).decode())


def _query_request(details: dict[str, str]) -> bytes:
    """The AdhocQueryRequest of an ITI-18 (a record made before its slots were kept: the query
    id and return type only)."""
    request = etree.Element(f"{{{QUERY_NS}}}AdhocQueryRequest",
                            nsmap={"query": QUERY_NS, "rim": RIM_NS})
    etree.SubElement(request, f"{{{QUERY_NS}}}ResponseOption",
                     returnType=details.get("return_type") or "LeafClass",
                     returnComposedObjects="true")
    adhoc = etree.SubElement(request, f"{{{RIM_NS}}}AdhocQuery", id=details["query"])
    try:
        slots = json.loads(details.get("slots") or "{}")
    except ValueError:
        slots = {}
    for name, values in slots.items():
        slot = etree.SubElement(adhoc, f"{{{RIM_NS}}}Slot", name=name)
        listed = etree.SubElement(slot, f"{{{RIM_NS}}}ValueList")
        for value in values:
            etree.SubElement(listed, f"{{{RIM_NS}}}Value").text = value
    return etree.tostring(request, encoding="UTF-8")


def export(records: Iterable[AuditEvent], source_id: str, fmt: str = "rfc3881") -> bytes:
    """The messages of a period, wrapped in one AuditMessages element."""
    root = etree.Element("AuditMessages", format=fmt)
    for record in records:
        root.append(audit_message(record, source_id, dicom=fmt == "dicom"))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def dicom_audit_message(record: AuditEvent, source_id: str) -> bytes:
    """One record as the DICOM PS3.15 A.5 AuditMessage an audit record repository takes
    (the body of its syslog message), UTF-8, no declaration."""
    return etree.tostring(audit_message(record, source_id, dicom=True), encoding="UTF-8")
