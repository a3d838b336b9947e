"""Each transaction's ATNA message, against its audit table in IHE ITI TF-2 ("Security
Considerations", the Document Registry's or Repository's message) and DICOM PS3.15 A.5: the
event (EventID, EventActionCode, EventTypeCode), the active participants (the network caller as
Source, or Destination for a retrieve; this server as the other, RoleIDCodes 110153/110152,
network access points) and the participant objects. Run over HTTP without VIHF: reads are
audited too, naming the network caller."""

from __future__ import annotations

import base64
import os
import re
import time

from lxml import etree

from xds_server.conformance.cleanup import clean
from xds_server.conformance.exchange import Endpoints
from xds_server.consumer.metadata import status_update, submit_objects_request
from xds_server.consumer.queries import FIND_DOCUMENTS, adhoc_query
from xds_server.consumer.transport import SoapClient
from xds_server.model import vocabulary as v

from .cli_run import run_in_process as run_cli  # shells: test_vihf_http.py, test_cli_client.py
from .dicom_audit import problems
from .registry_data import new_patient, single_document_submission, submission_set
from .test_repository_http import open_patient_at

SS_NODE = "urn:uuid:a54d6aa5-d40d-43f9-88c5-b4633d873bdd"
# transaction: (EventID, EventActionCode, the caller's role, objects (type, role, id type))
TABLES = {
    "ITI-41": ("110107", "C", "110153", {("1", "1", "2"), ("2", "20", SS_NODE)}),
    "ITI-42": ("110107", "C", "110153", {("1", "1", "2"), ("2", "20", SS_NODE)}),
    "ITI-18": ("110112", "E", "110153", {("1", "1", "2"), ("2", "24", "ITI-18")}),
    "ITI-43": ("110106", "R", "110152", {("2", "3", "9")}),
    "ITI-57": ("110110", "U", "110153", {("1", "1", "2"), ("2", "20", SS_NODE)}),
    "ITI-62": ("110110", "D", "110153", {("1", "1", "2")}),
    "ITI-86": ("110110", "D", "110153", {("2", "3", "9")}),
}
STORED_QUERY_IDS = {"urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d",      # FindDocuments
                    "urn:uuid:10b545ea-725c-446d-9b95-8aeb444eddf3",      # GetAll
                    "urn:uuid:a7ae438b-4bc2-4642-93e9-be891f7bb155"}      # GetAssociations
TIME_ZONE = re.compile(r"(Z|[+-]\d\d:\d\d)$")


def _every_transaction(server, tmp_path) -> str:
    """Run ITI-41, 18, 43, 42, 57, 86 and 62 without VIHF; the patient."""
    patient = new_patient()
    open_patient_at(server.database_url, patient)
    registry, repository = server.url + "/xds/registry", server.url + "/xds/repository"
    pdf = tmp_path / "courrier.pdf"
    pdf.write_bytes(b"%PDF-1.4\n" + os.urandom(500) + b"\n%%EOF\n")
    submitted = run_cli("submit", str(pdf), "--patient", patient, "--repository", repository,
                        env={"XDS_PROFILE": "ihe"})   # an IHE server: a bare PDF goes
    assert submitted.returncode == 0, submitted.stderr
    unique_id = submitted.stdout.split()[0]
    assert run_cli("query", "--patient", patient, "--registry", registry).returncode == 0
    fetched = run_cli("retrieve", unique_id, "--out", str(tmp_path / "out.pdf"), "--repository",
                      repository, "--registry", registry)
    assert fetched.returncode == 0, fetched.stderr
    client = SoapClient(registry)
    registered = client.call("urn:ihe:iti:2007:RegisterDocumentSet-b",
                             submit_objects_request(single_document_submission(patient)))
    assert registered.payload.get("status").endswith(":Success")
    entries = Endpoints(registry, repository, 30).send("ITI-18", adhoc_query(
        FIND_DOCUMENTS, {"$XDSDocumentEntryPatientId": patient,
                         "$XDSDocumentEntryStatus": [v.APPROVED]}, "ObjectRef"))
    target = entries.payload.find(".//{*}ObjectRef").get("id")
    updated = client.call("urn:ihe:iti:2010:UpdateDocumentSet", submit_objects_request(
        status_update(submission_set(patient), target, v.APPROVED, v.DEPRECATED)))
    assert updated.payload.get("status").endswith(":Success"), etree.tostring(updated.payload)
    note = clean(Endpoints(registry, repository, 30), [patient], {unique_id})
    assert "refused" not in note, note
    return patient


def _messages(server, tmp_path, patient: str) -> dict[str, etree._Element]:
    """The last DICOM message of each transaction about this test's work (reads are written a
    fraction of a second later: asked again until ITI-18 and ITI-43 are there)."""
    env = {"XDS_DATABASE_URL": server.database_url}
    out = tmp_path / "audit.xml"
    for _ in range(20):
        exported = run_cli("audit", "export", "--out", str(out), "--format", "dicom", env=env)
        assert exported.returncode == 0, exported.stderr
        messages = {}
        for message in etree.parse(str(out)).getroot().findall("AuditMessage"):
            kind = message.find("EventIdentification/EventTypeCode").get("csd-code")
            objects = [o.get("ParticipantObjectID")
                       for o in message.findall("ParticipantObjectIdentification")]
            if patient in objects or kind in ("ITI-43", "ITI-86"):
                messages[kind] = message
        if {"ITI-18", "ITI-43"} <= messages.keys():
            return messages
        time.sleep(0.3)
    return messages


def test_each_transaction_audit_message_follows_its_table(live_server, tmp_path):
    patient = _every_transaction(live_server, tmp_path)
    messages = _messages(live_server, tmp_path, patient)
    assert set(messages) == set(TABLES)
    for transaction, (event_id, action, caller_role, objects) in TABLES.items():
        message = messages[transaction]
        event = message.find("EventIdentification")
        assert event.find("EventID").get("csd-code") == event_id, transaction
        assert event.find("EventID").get("codeSystemName") == "DCM"
        assert event.get("EventActionCode") == action, transaction
        assert event.find("EventTypeCode").get("codeSystemName") == "IHE Transactions"
        assert TIME_ZONE.search(event.get("EventDateTime")), event.get("EventDateTime")
        participants = message.findall("ActiveParticipant")
        roles = {p.find("RoleIDCode").get("csd-code"): p for p in participants}
        assert set(roles) == {"110153", "110152"}, transaction   # no VIHF: no human
        caller, server = roles[caller_role], roles[({"110153", "110152"} - {caller_role}).pop()]
        assert caller.get("UserIsRequestor") == "true" and server.get("UserIsRequestor") == \
            "false"
        assert caller.get("NetworkAccessPointID") == "127.0.0.1"       # the network caller
        assert caller.get("NetworkAccessPointTypeCode") == "2"
        assert server.get("UserID").startswith(live_server.url + "/xds/")   # endpoint URI
        found = {(o.get("ParticipantObjectTypeCode"), o.get("ParticipantObjectTypeCodeRole"),
                  o.find("ParticipantObjectIDTypeCode").get("csd-code"))
                 for o in message.findall("ParticipantObjectIdentification")
                 if o.find("ParticipantObjectIDTypeCode") is not None}
        assert objects <= found, (transaction, found)
    patients = [o for o in messages["ITI-42"].findall("ParticipantObjectIdentification")
                if o.get("ParticipantObjectTypeCode") == "1"]
    assert [p.get("ParticipantObjectID") for p in patients] == [patient]
    query = [o for o in messages["ITI-18"].findall("ParticipantObjectIdentification")
             if o.get("ParticipantObjectTypeCodeRole") == "24"]
    assert query[0].get("ParticipantObjectID") in STORED_QUERY_IDS     # the query asked
    # every message a valid DICOM audit message (the schema's rules, ITI-18's query request)
    assert {name: problems(message) for name, message in messages.items()} == \
        {name: [] for name in messages}
    asked = etree.fromstring(base64.b64decode(
        query[0].findtext("ParticipantObjectQuery")))
    assert asked.find("{*}AdhocQuery").get("id") == query[0].get("ParticipantObjectID")
    assert any(patient in (value.text or "") for value in asked.iter("{*}Value")) or \
        query[0].get("ParticipantObjectID") != FIND_DOCUMENTS
    # ITI TF-2b 3.43.5.1.2, RMD 3.86.5.1.2: each document names its repository (issue 18, R9)
    for transaction in ("ITI-43", "ITI-86"):
        details = [base64.b64decode(d.get("value")).decode()
                   for o in messages[transaction].findall("ParticipantObjectIdentification")
                   if o.get("ParticipantObjectTypeCodeRole") == "3"
                   for d in o.findall("ParticipantObjectDetail")
                   if d.get("type") == "Repository Unique Id"]
        assert len(details) == 1 and re.fullmatch(r"[0-9.]+", details[0]), transaction


def test_a_provide_to_the_built_in_registry_records_its_iti42(live_server, tmp_path):
    """ITI TF-2b 3.41.5 / 3.42.5: the repository audits ITI-41 as its receiver and the
    register (ITI-42) as its source; the registry audits ITI-42 as its receiver. With the
    registry built in, the one register is recorded once as ITI-42, from the repository
    (Source: its endpoint) to the registry (Destination), with the ITI-41's patient, set and
    human requestor; before, only ITI-41 was (issue 18 R9)."""
    patient = new_patient()
    open_patient_at(live_server.database_url, patient)
    pdf = tmp_path / "courrier.pdf"
    pdf.write_bytes(b"%PDF-1.4\n" + os.urandom(200) + b"\n%%EOF\n")
    repository = live_server.url + "/xds/repository"
    submitted = run_cli("submit", str(pdf), "--patient", patient, "--repository", repository,
                        env={"XDS_PROFILE": "ihe"})   # an IHE server: a bare PDF goes
    assert submitted.returncode == 0, submitted.stderr
    out = tmp_path / "audit.xml"
    exported = run_cli("audit", "export", "--out", str(out), "--format", "dicom",
                       env={"XDS_DATABASE_URL": live_server.database_url})
    assert exported.returncode == 0, exported.stderr
    mine = {}
    for message in etree.parse(str(out)).getroot().findall("AuditMessage"):
        objects = [o.get("ParticipantObjectID")
                   for o in message.findall("ParticipantObjectIdentification")]
        if patient in objects:
            kind = message.find("EventIdentification/EventTypeCode").get("csd-code")
            mine.setdefault(kind, []).append(message)
    assert sorted(mine) == ["ITI-41", "ITI-42"] and len(mine["ITI-42"]) == 1, sorted(mine)
    register = mine["ITI-42"][0]
    assert problems(register) == []
    roles = {p.find("RoleIDCode").get("csd-code"): p for p in register.findall(
        "ActiveParticipant") if p.find("RoleIDCode") is not None}
    assert roles["110153"].get("UserID") == repository          # the source: the repository
    assert roles["110153"].get("UserIsRequestor") == "true"
    assert roles["110152"].get("UserIsRequestor") == "false"
    assert roles["110152"].get("UserID") != repository
    kinds = {(o.get("ParticipantObjectTypeCode"), o.get("ParticipantObjectTypeCodeRole"))
             for o in register.findall("ParticipantObjectIdentification")}
    assert {("1", "1"), ("2", "20")} <= kinds                   # the patient, the set
