"""The access policy matrix: every reader kind × visibility code × access mode × the patient's
opposition, against FindDocuments on every database. The expectations are written here as the
DMP states them, one table per rule, independently of security/visibility.py."""

from __future__ import annotations

import dataclasses
import itertools

import pytest
from lxml import etree

from xds_server.consumer.metadata import status_update, submit_objects_request
from xds_server.model import vocabulary as v
from xds_server.model.errors import RegistryFailure
from xds_server.model.metadata import Author, Code
from xds_server.registry.update import DELETED
from xds_server.security.principal import SYSTEM, Principal

from .registry_data import (
    library_query,
    new_patient,
    open_patient,
    register,
    run_query,
    single_document_submission,
    soap_call,
    submission_set,
)

FIND_DOCUMENTS = "urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d"
GET_DOCUMENTS = "urn:uuid:5c4f972b-d56b-40ac-a5fc-c8ca9b40b9d4"
UPDATE = "urn:ihe:iti:2010:UpdateDocumentSet"
VISIBILITY = "1.2.250.1.213.1.1.4.13"
AUTHOR_A, AUTHOR_B, READER, STRANGER = "810000000001", "810000000002", "810000000099", "8100000098"

# the documents of the record: (visibility code or None, author, deleted)
DOCUMENTS = {
    "plain": (None, AUTHOR_A, False),
    "masque_ps": ("MASQUE_PS", AUTHOR_A, False),
    "invisible_patient": ("INVISIBLE_PATIENT", AUTHOR_A, False),
    "invisible_representants": ("INVISIBLE_REPRESENTANTS_LEGAUX", AUTHOR_A, False),
    "deleted": (None, AUTHOR_A, True),
    "masque_ps_by_b": ("MASQUE_PS", AUTHOR_B, False),
}

# code → reader kinds who do not see a document carrying it (its author always does)
HIDES = {"MASQUE_PS": {"professional"}, "INVISIBLE_PATIENT": {"patient"},
         "INVISIBLE_REPRESENTANTS_LEGAUX": {"legal_representative"}}

# reader: (kind, subject id, authorised by the patient)
READERS = {
    "authorised professional": ("professional", READER, True),
    "unauthorised professional": ("professional", STRANGER, False),
    "author A": ("professional", AUTHOR_A, False),
    "patient": ("patient", "285067512345639", False),
    "legal representative": ("legal_representative", "LR-1", False),
    "administrator": ("administrator", "ADMIN-1", False),
}
MODES = ("normal", "bris_de_glace", "centre_15")


def expected(reader: str, mode: str, opposed: bool) -> set[str]:
    kind, subject, authorised = READERS[reader]
    record_open = kind != "professional" or authorised or (
        mode != "normal" and not opposed)
    seen = set()
    for name, (code, author, deleted) in DOCUMENTS.items():
        if deleted:
            if kind == "administrator":
                seen.add(name)
            continue
        if author == subject or (record_open and not (code and kind in HIDES[code])):
            seen.add(name)
    return seen


@pytest.fixture
def record(make_app):
    app = make_app(profile="ihe")
    patient = new_patient()
    open_patient(app, patient)
    names = {}
    for name, (code, author, deleted) in DOCUMENTS.items():
        codes = [Code("N", "2.16.840.1.113883.5.25")] + ([Code(code, VISIBILITY)] if code else [])
        submission = single_document_submission(
            patient, confidentiality_codes=codes,
            authors=[Author(person=f"{author}^AUTEUR^{name}^^^^^^&1.2.250.1.71.4.2.1&ISO")])
        assert register(app, submission).status.endswith(":Success")
        entry_uuid = run_query(app, GET_DOCUMENTS, {
            "$XDSDocumentEntryUniqueId": [submission.documents[0].unique_id]}
            ).objects("ExtrinsicObject")[0].get("id")
        names[entry_uuid] = name
        if deleted:
            reply = soap_call(app, "/xds/registry", UPDATE, submit_objects_request(
                status_update(submission_set(patient), entry_uuid, v.APPROVED, DELETED)))
            assert reply.status.endswith(":Success"), reply.errors
    app.records.authorize(patient, READER)
    return app, patient, names


def visible(app, patient: str, names: dict[str, str], principal: Principal) -> set[str]:
    query = {"$XDSDocumentEntryPatientId": [[patient]],
             "$XDSDocumentEntryStatus": [[v.APPROVED, v.DEPRECATED, DELETED]]}
    objects = [etree.fromstring(b)
               for b in library_query(app, FIND_DOCUMENTS, query, principal)[0]]
    return {names[o.get("id")] for o in objects if o.get("id") in names}


def test_the_policy_matrix(record):
    app, patient, names = record
    for opposed in (False, True):
        app.records.set_oppositions(patient, ["bris_de_glace", "centre_15"] if opposed else [])
        for reader, mode in itertools.product(READERS, MODES):
            kind, subject, _ = READERS[reader]
            principal = Principal(subject_id=subject, role=kind, purpose_of_use=mode,
                                  patient_id=patient)
            assert visible(app, patient, names, principal) == expected(reader, mode, opposed), \
                (reader, mode, "opposed" if opposed else "not opposed")


def test_an_opposition_covers_only_the_mode_refused(record):
    app, patient, names = record
    app.records.set_oppositions(patient, ["bris_de_glace"])
    stranger = Principal(subject_id=READER + "0", role="professional",
                         purpose_of_use="centre_15", patient_id=patient)
    assert visible(app, patient, names, stranger) == {"plain", "invisible_patient",
                                                      "invisible_representants"}
    refused = Principal(subject_id=READER + "0", role="professional",
                        purpose_of_use="bris_de_glace", patient_id=patient)
    assert visible(app, patient, names, refused) == set()


def test_the_system_principal_sees_everything(record):
    app, patient, names = record
    assert visible(app, patient, names, SYSTEM) == set(DOCUMENTS)


def _decoded(submission):
    from xds_server.ebxml.decode import decode_submission

    return decode_submission(submit_objects_request(submission)).submission


def test_only_the_author_deletes(record):
    app, patient, names = record
    plain = next(uuid for uuid, name in names.items() if name == "plain")
    reader = Principal(subject_id=READER, role="professional", patient_id=patient)
    with pytest.raises(RegistryFailure, match="only the author of document"):
        app.registry.update(_decoded(status_update(submission_set(patient), plain, v.APPROVED,
                                                   DELETED)), reader)
    author = Principal(subject_id=AUTHOR_A, role="professional", patient_id=patient)
    app.registry.update(_decoded(status_update(submission_set(patient), plain, v.APPROVED,
                                               DELETED)), author)
    assert "plain" not in visible(app, patient, names, reader)


def test_a_hidden_document_is_not_served(record, tmp_path):
    """ITI-43 asks the registry's policy: to the patient, an INVISIBLE_PATIENT document is a
    document this repository does not hold."""
    from xds_server.repository.actor import DocumentRequest

    app, patient, names = record
    unique_ids = {name: row for name, row in _unique_ids(app, patient, names).items()}
    reader = Principal(subject_id="285067512345639", role="patient", patient_id=patient)
    allowed = app.registry.readable_documents(reader, list(unique_ids.values()))
    assert unique_ids["invisible_patient"] not in allowed and unique_ids["plain"] in allowed
    _, errors = app.repository.retrieve([DocumentRequest(
        app.settings.repository_unique_id, unique_ids["invisible_patient"])], reader)
    assert [e.code for e in errors] == ["XDSDocumentUniqueIdError"]


def _unique_ids(app, patient, names) -> dict[str, str]:
    reply = run_query(app, FIND_DOCUMENTS, {
        "$XDSDocumentEntryPatientId": patient,
        "$XDSDocumentEntryStatus": [v.APPROVED, v.DEPRECATED, DELETED]})
    found = {}
    for entry in reply.objects("ExtrinsicObject"):
        unique_id = next(e.get("value") for e in entry.iter("{*}ExternalIdentifier")
                         if e.get("identificationScheme") == v.DE_UNIQUE_ID)
        found[names[entry.get("id")]] = unique_id
    return found


def test_changes_and_refusals_are_audited(record):
    app, patient, names = record
    plain = next(uuid for uuid, name in names.items() if name == "plain")
    reader = Principal(subject_id=READER, role="professional", patient_id=patient,
                       request_id="req-1", transaction="ITI-57")
    with pytest.raises(RegistryFailure):
        app.registry.update(_decoded(status_update(submission_set(patient), plain, v.APPROVED,
                                                   DELETED)), reader)
    visible(app, patient, names, dataclasses.replace(reader, transaction="ITI-18"))
    app.registry.queries.audit_writer.flush()          # reads are written in batches
    trail = app.records.history(patient)
    mine = [(row.transaction, row.action, row.outcome) for row in trail
            if row.subject_id == READER]
    assert mine == [("ITI-57", "U", "failure"), ("ITI-18", "R", "success")]
    created = [row for row in trail if row.action == "C"]
    assert len(created) == len(DOCUMENTS) and all(row.outcome == "success" for row in created)


def test_the_masked_count_is_told_only_when_enabled(record):
    """XDS_DISCLOSE_MASKED_COUNT (off by default): the professional learns that two documents
    are masked, and their classes, not what they are."""
    app, patient, _ = record
    reader = Principal(subject_id=READER, role="professional", patient_id=patient)
    query = {"$XDSDocumentEntryPatientId": [[patient]],
             "$XDSDocumentEntryStatus": [[v.APPROVED]]}
    assert library_query(app, FIND_DOCUMENTS, query, reader)[1] == []
    app.registry.queries.disclose_masked_count = True
    objects, notices = library_query(app, FIND_DOCUMENTS, query, reader)
    assert len(objects) == 3 and len(notices) == 1 and not notices[0].is_error
    assert "2 document(s) of this record are masked" in notices[0].context
    assert "classCode 10 x2" in notices[0].context
    patient_view = Principal(subject_id="285067512345639", role="patient", patient_id=patient)
    assert library_query(app, FIND_DOCUMENTS, query, patient_view)[1] == []


@pytest.mark.parametrize("reader, hidden", [
    ("patient", "invisible_patient"),
    ("legal representative", "invisible_representants"),
])
def test_the_access_history_names_no_document_hidden_from_its_reader(record, reader, hidden):
    """Attack (round 2): the author retrieves a document invisible to the patient, then the
    patient's AccessHistory named it (uniqueId, entryUUID), who read it and when."""
    app, patient, names = record
    author = Principal(subject_id=AUTHOR_A, role="professional", patient_id=patient,
                       transaction="ITI-18")
    visible(app, patient, names, author)                 # the author reads every document
    app.registry.queries.audit_writer.flush()
    kind, subject, _ = READERS[reader]
    asker = Principal(subject_id=subject, role=kind, patient_id=patient)
    hidden_ids = {uuid for uuid, name in names.items() if name == hidden}
    hidden_ids.add(_unique_ids(app, patient, names)[hidden])
    shown = " ".join(event.documents for event in app.records.history(patient, asker))
    assert hidden_ids and not any(i in shown for i in hidden_ids)
    everything = " ".join(e.documents for e in app.records.history(patient))
    assert any(i in everything for i in hidden_ids)        # the system's view names it

