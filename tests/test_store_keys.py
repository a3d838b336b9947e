"""The stored forms of 0011 through the running registry: an uppercase GUID registered as an
entryUUID comes back and is found as it was sent; each patient's rows carry its own integer key,
so two patients' records never mix; a record is forgotten only when no row carries its key."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from xds_server.consumer.metadata import has_member
from xds_server.model.hl7 import patient_key
from xds_server.model.ids import urn_uuid
from xds_server.model.metadata import Submission
from xds_server.security.principal import SYSTEM
from xds_server.store import records_store, registry_store
from xds_server.store.tables import document_entries, patients

from .registry_data import document, new_patient, submission_set


def _register(app, patient: str, entry_uuid: str) -> None:
    package = submission_set(patient, urn_uuid())
    entry = document(patient, entry_uuid)
    assert app.registry.register(Submission(package, [entry], associations=[
        has_member(package.entry_uuid, entry.entry_uuid, entry_uuid=urn_uuid())]), SYSTEM) == []


def test_an_uppercase_guid_is_kept_and_found_as_sent(app):
    patient = new_patient()
    app.records.open(patient)
    upper = urn_uuid().upper().replace("URN:UUID:", "urn:uuid:")
    _register(app, patient, upper)
    key = patient_key(patient)
    found = app.database.read(lambda uow: registry_store.objects(uow, "document", key, [upper]))
    assert [d.entry_uuid for d in found] == [upper]
    assert app.database.read(lambda uow: registry_store.find_by_uuids(uow, [upper]))[
        upper].patient_id == key
    # another text, even the same UUID in lowercase, is another identifier (as before 0011)
    assert app.database.read(lambda uow: registry_store.find_by_uuids(uow, [upper.lower()])) \
        == {}


def test_each_patients_rows_carry_its_own_key(app):
    first, second = new_patient(), new_patient()
    for patient in (first, second):
        app.records.open(patient)
        _register(app, patient, urn_uuid())
    with app.database.reading() as uow:
        keys = dict(uow.connection.execute(select(patients.c.patient_id,
                                                  patients.c.patient_key)).all())
        carried = set(uow.connection.execute(select(document_entries.c.patient_key)).scalars())
    assert {keys[patient_key(first)], keys[patient_key(second)]} <= carried
    assert keys[patient_key(first)] != keys[patient_key(second)]
    for patient in (first, second):
        rows = app.database.read(lambda uow, p=patient: registry_store.associations_of(
            uow, patient_key(p)))
        assert [row.patient_id for row in rows] == [patient_key(patient)]


@pytest.mark.parametrize("holding", [True, False])
def test_a_record_is_forgotten_only_when_no_row_carries_its_key(app, holding):
    patient = new_patient()
    app.records.open(patient)
    other = new_patient()                  # rows of another patient never keep it
    app.records.open(other)
    _register(app, other, urn_uuid())
    if holding:
        _register(app, patient, urn_uuid())
    with app.database.transaction() as uow:
        assert records_store.forget_record(uow, patient) is (not holding)
        assert (records_store.patient_status(uow, patient) is None) is (not holding)
