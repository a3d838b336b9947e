"""Every audit message this server writes is a valid DICOM PS3.15 A.5 audit message (the
schema's rules: tests/dicom_audit.py), for every transaction it audits and for a record of an
unknown one; ITI-18's carries its AdhocQueryRequest (issue 18, M5). The real messages, exported
and forwarded by a running server, are held to the same rules in test_audit_messages.py and
test_atna.py."""

from __future__ import annotations

import base64
import datetime as dt
import json

import pytest
from lxml import etree

from xds_server.model import vocabulary as v
from xds_server.model.audit import AuditEvent
from xds_server.model.stored_queries import CodeValue, FindDocuments, ReturnType
from xds_server.registry.stored_queries import query_slots
from xds_server.security.audit_export import TABLES, audit_message, dicom_audit_message, export

from .dicom_audit import problems

QUERY = FindDocuments(patient_id="P1^^^&1.2.3&ISO", statuses=(v.APPROVED, v.DEPRECATED),
                      class_codes=(CodeValue("11488-4", "2.16.840.1.113883.6.1"),),
                      confidentiality_codes=((CodeValue("N", None),), (CodeValue("R", "x"),)),
                      creation_time_from="20240101", return_type=ReturnType.OBJECT_REF,
                      metadata_level=2)
DETAILS = {"query": QUERY.ID, "return_type": str(QUERY.return_type),
           "slots": json.dumps(query_slots(QUERY)), "submission_set": "1.2.3.4.5"}


def _record(transaction: str, role: str = "system", detail: str = "") -> AuditEvent:
    return AuditEvent(dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC), "req-1", transaction,
                      "R", "success", "sub-1" if role != "system" else "-", role, "struct",
                      "", "P1^^^&1.2.3&ISO", "1.2.3.1 1.2.3.2", "127.0.0.1", "CN=client",
                      "01", "http://vm:8080/xds/registry", detail)


@pytest.mark.parametrize("transaction", [*TABLES, "SOMETHING-ELSE"])
@pytest.mark.parametrize("role", ["system", "medecin"])
def test_every_transactions_message_is_a_valid_dicom_audit_message(transaction, role):
    detail = "\n".join(f"{key}={value}" for key, value in DETAILS.items())
    message = etree.fromstring(dicom_audit_message(_record(transaction, role, detail), "src"))
    assert problems(message) == []
    exported = etree.fromstring(export([_record(transaction, role, detail)], "src", "dicom"))
    assert [problems(m) for m in exported] == [[]]


def test_the_query_object_carries_the_request_asked():
    detail = "\n".join(f"{key}={value}" for key, value in DETAILS.items())
    message = audit_message(_record("ITI-18", detail=detail), "src", dicom=True)
    (query,) = message.xpath("ParticipantObjectIdentification[@ParticipantObjectTypeCodeRole"
                             "='24']")
    request = etree.fromstring(base64.b64decode(query.findtext("ParticipantObjectQuery")))
    slots = {slot.get("name"): [value.text for value in slot.iter("{*}Value")]
             for slot in request.iter("{*}Slot")}
    assert slots == {
        "$XDSDocumentEntryPatientId": ["'P1^^^&1.2.3&ISO'"],
        "$XDSDocumentEntryStatus": [f"('{v.APPROVED}','{v.DEPRECATED}')"],
        "$XDSDocumentEntryClassCode": ["('11488-4^^2.16.840.1.113883.6.1')"],
        "$XDSDocumentEntryConfidentialityCode": ["('N')", "('R^^x')"],   # AND of ORs
        "$XDSDocumentEntryCreationTimeFrom": ["'20240101'"],
        "$MetadataLevel": ["2"]}
    assert request.find("{*}ResponseOption").get("returnType") == "ObjectRef"


def test_the_checker_refuses_what_the_schema_refuses():
    """The rules can fail: the defects the outsider found, put back, are each reported."""
    message = audit_message(_record("ITI-18", detail="query=urn:uuid:1\nreturn_type=LeafClass"),
                            "src", dicom=True)
    assert problems(message) == []
    request_id = message.xpath("ParticipantObjectIdentification[@ParticipantObjectTypeCode"
                               "='4']")[0]
    request_id.remove(request_id.find("ParticipantObjectIDTypeCode"))
    query = message.xpath("ParticipantObjectIdentification[@ParticipantObjectTypeCodeRole"
                          "='24']")[0]
    query.remove(query.find("ParticipantObjectQuery"))
    message.append(message.find("EventIdentification"))        # out of order
    found = problems(message)
    assert any("0 ParticipantObjectIDTypeCode" in p for p in found), found
    assert any("no ParticipantObjectQuery" in p for p in found), found
    assert any("out of schema order" in p for p in found), found
