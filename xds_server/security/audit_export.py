"""The audit trail as audit messages an ATNA repository takes: IETF RFC 3881 or its DICOM
PS3.15 A.5 form (same structure; codes written code/codeSystemName/displayName in RFC 3881,
csd-code/codeSystemName/originalText in DICOM). One AuditMessage per recorded transaction."""

from __future__ import annotations

from collections.abc import Iterable

from lxml import etree
from sqlalchemy.engine import Row

# IHE ITI TF-2 audit event per transaction: (DICOM EventID code, its name)
EVENT_IDS = {
    "ITI-18": ("110112", "Query"),
    "ITI-41": ("110106", "Export"),
    "ITI-42": ("110107", "Import"),
    "ITI-43": ("110106", "Export"),
    "ITI-57": ("110110", "Patient Record"),
    "ITI-62": ("110110", "Patient Record"),
    "ITI-86": ("110110", "Patient Record"),
}
TRANSACTION_NAMES = {
    "ITI-18": "Registry Stored Query", "ITI-41": "Provide and Register Document Set-b",
    "ITI-42": "Register Document Set-b", "ITI-43": "Retrieve Document Set",
    "ITI-57": "Update Document Set", "ITI-62": "Delete Document Set",
    "ITI-86": "Remove Documents",
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


def audit_message(row: Row, source_id: str, dicom: bool = False) -> etree._Element:
    message = etree.Element("AuditMessage")
    event_code, event_name = EVENT_IDS.get(row.transaction, ("110100", "Application Activity"))
    event = etree.SubElement(message, "EventIdentification", EventActionCode=row.action,
                             EventDateTime=row.at.isoformat(),
                             EventOutcomeIndicator=OUTCOMES.get(row.outcome, "8"))
    _code(event, "EventID", event_code, "DCM", event_name, dicom)
    _code(event, "EventTypeCode", row.transaction, "IHE Transactions",
          TRANSACTION_NAMES.get(row.transaction, row.transaction), dicom)
    if row.purpose_of_use:
        _code(event, "PurposeOfUse", row.purpose_of_use, "1.2.250.1.213.1.1.4.248",
              row.purpose_of_use, dicom)
    person = etree.SubElement(message, "ActiveParticipant", UserID=row.subject_id,
                              UserIsRequestor="true")
    _code(person, "RoleIDCode", row.role, "xds-server roles", row.role, dicom)
    if row.structure_id:
        etree.SubElement(message, "ActiveParticipant", UserID=row.structure_id,
                         UserIsRequestor="false")
    etree.SubElement(message, "AuditSourceIdentification", AuditSourceID=source_id)
    if row.patient_id:
        patient = etree.SubElement(message, "ParticipantObjectIdentification",
                                   ParticipantObjectID=row.patient_id,
                                   ParticipantObjectTypeCode="1",
                                   ParticipantObjectTypeCodeRole="1")
        _code(patient, "ParticipantObjectIDTypeCode", "2", "RFC-3881", "Patient Number", dicom)
    for document in row.documents.split():
        item = etree.SubElement(message, "ParticipantObjectIdentification",
                                ParticipantObjectID=document, ParticipantObjectTypeCode="2",
                                ParticipantObjectTypeCodeRole="3")
        _code(item, "ParticipantObjectIDTypeCode", "9", "RFC-3881", "Report Number", dicom)
    etree.SubElement(message, "ParticipantObjectIdentification",
                     ParticipantObjectID=row.request_id, ParticipantObjectTypeCode="4",
                     ParticipantObjectTypeCodeRole="13")
    return message


def export(rows: Iterable[Row], source_id: str, fmt: str = "rfc3881") -> bytes:
    """The messages of a period, wrapped in one AuditMessages element."""
    root = etree.Element("AuditMessages", format=fmt)
    for row in rows:
        root.append(audit_message(row, source_id, dicom=fmt == "dicom"))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
