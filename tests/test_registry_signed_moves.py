"""Rule N (registry/signed_moves.py): while signatures are required, no ITI-57 patient change
moves a document of a signed set or a signature document to another record (outside round 19d,
D3), whichever form links the signature (the DMP's `signs` to the set, IHE DSG's to each
document too), and the refusal gives the way out (F-R1): submit again for the right patient,
delete here."""

from __future__ import annotations

import copy

import pytest

from xds_server.consumer.changes import UPDATE
from xds_server.consumer.metadata import new_version, status_update, submit_objects_request
from xds_server.model import vocabulary as v
from xds_server.model.hl7 import patient_key
from xds_server.security.access import DELETED
from xds_server.security.principal import SYSTEM
from xds_server.store import registry_store as store

from .cda_data import LEVEL1, TEST_INS
from .dsig_data import fresh, signed_submission, with_uuids
from .registry_data import new_patient, open_patient, soap_call, submission_set
from .test_registry_signed_sets import app, cda_of, refused, required  # noqa: F401


def _stored(app, authority, tmp_path, style: str):
    """A signed set of one CDA, its signature linked the DMP's way (to the set) or DSG's."""
    submission, documents, signature = signed_submission(authority, [fresh(LEVEL1, tmp_path)],
                                                         TEST_INS)
    with_uuids(submission, documents)
    if style == "dmp":
        own_set = submission.submission_set.entry_uuid
        submission.associations = [a for a in submission.associations
                                   if a.type != v.SIGNS or a.target == own_set]
    app.repository.provide(submission, documents, SYSTEM, [])
    return submission, signature


def _move(other: str, *entries):
    """One ITI-57 giving each entry (version 1) a version 2 in `other`'s record."""
    request = new_version(submission_set(other), _in(entries[0], other, 1),
                          entries[0].entry_uuid, "1")
    for number, entry in enumerate(entries[1:], 2):
        part = new_version(request.submission_set, _in(entry, other, number),
                           entry.entry_uuid, "1")
        for association in part.associations:
            association.entry_uuid += f"-{number}"
        request.documents += part.documents
        request.associations += part.associations
    return submit_objects_request(request)


def _in(entry, patient: str, number: int):
    version = copy.deepcopy(entry)
    version.entry_uuid, version.patient_id = f"Document0{number}", patient
    return version


def _record(app, patient: str) -> list:
    with app.database.reading() as uow:
        return store.record_without_xml(uow, "document", patient_key(patient))


@pytest.mark.parametrize("style", ["dmp", "dsg"])
@pytest.mark.parametrize("what", ["signature", "cda", "both"])
def test_a_signed_document_is_not_moved(app, authority, tmp_path, style, what):
    other = new_patient()
    open_patient(app, other)
    submission, signature = _stored(app, authority, tmp_path, style)
    cda = cda_of(submission, signature)
    moved = {"signature": [signature], "cda": [cda], "both": [cda, signature]}[what]
    reply = soap_call(app, "/xds/registry", UPDATE, _move(other, *moved))
    if not required(app):       # the control: IHE's move (NIST 21002) where no link crosses
        if style == "dmp" and what != "both":
            assert reply.status.endswith(":Success"), reply.errors
        return
    refused(reply, "rule N", "submit it again, signed, for the right patient")
    assert reply.codes[0] == "XDSPatientIDReconciliationError"
    said = " ".join(e["context"] for e in reply.errors if "rule N" in e["context"])
    assert ("a signature document" in said) == (what != "cda")
    assert ("a document of a signed submission set" in said) == (what != "signature")
    assert _record(app, other) == []            # nothing written in the other record
    assert {d.status for d in _record(app, TEST_INS)} == {v.APPROVED}


@pytest.mark.parametrize("style", ["dmp", "dsg"])
def test_the_way_out_deletes_the_misfiled_set(app, authority, tmp_path, style):
    """What rule N's refusal advises, after the set was sent again for the right patient:
    one ITI-57 setting the misfiled set's documents and signature Deleted is accepted."""
    submission, signature = _stored(app, authority, tmp_path, style)
    cda = cda_of(submission, signature)
    request = status_update(submission_set(TEST_INS), cda.entry_uuid, v.APPROVED, DELETED)
    request.associations += status_update(request.submission_set, signature.entry_uuid,
                                          v.APPROVED, DELETED).associations
    request.associations[-1].entry_uuid += "-2"
    reply = soap_call(app, "/xds/registry", UPDATE, submit_objects_request(request))
    assert reply.status.endswith(":Success"), reply.errors
    assert {d.status for d in _record(app, TEST_INS)
            if d.entry_uuid in (cda.entry_uuid, signature.entry_uuid)} == {DELETED}
