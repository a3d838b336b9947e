"""Storage full as every front says it (issue 18, outsider M2): the request was right, so the
source is told to send it again later: FHIR ITI-65 507 (a 422 says "fix your request"), MLLP
AR (an AE says the same), and "storage full" when it is the database's disk that is full, not
"the registry database is unavailable"; /health says the store is below the free-space floor
(minor 14). The free-space probe is simulated (StorageRoom's floor above what is free), the
database's disk-full by the error its driver raises."""

from __future__ import annotations

import json
import sqlite3
import uuid

import psycopg
import pytest

from xds_server.model.errors import is_disk_full
from xds_server.repository.storage_room import StorageRoom
from xds_server.store import database as store_database

from .conftest import call_wsgi
from .fhir_data import fhir, provide_bundle
from .hl7v2_data import adt, hl7_setups, nir
from .registry_data import document, submission_set
from .test_fhir_front import PDF
from .test_hl7v2_feed import oru_for


def _no_room(path) -> StorageRoom:
    """A floor far above what is free (the disk is shared: what is free moves), so every
    submission is below it."""
    return StorageRoom(path, StorageRoom(path, 0).free_bytes() + 2**40)


def _urn() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


def test_fhir_provide_below_the_floor_is_507(app, patient):
    app.repository.room = _no_room(app.settings.data_dir)
    entry = document(patient, _urn(), mime_type="application/pdf", repository_unique_id=None)
    answer = fhir(app, "POST", "", provide_bundle(submission_set(patient, _urn()),
                                                  [(entry, PDF)]))
    assert answer.status == 507, answer.body
    assert "storage is full" in answer.body.decode()
    assert json.loads(answer.body)["issue"][0]["code"] == "transient"


@pytest.fixture
def make_hl7(make_settings, database_url):
    with hl7_setups(make_settings, database_url) as make:
        yield make


def test_mllp_below_the_floor_is_ar_storage_full(make_hl7):
    setup = make_hl7()
    ins = nir()
    assert setup.send(adt("A28", ins)).code == "AA"
    setup.hl7.repository.room = _no_room(setup.xds.settings.data_dir)
    message, _ = oru_for(ins)
    answer = setup.send(message)
    assert answer.code == "AR", answer.raw
    assert "storage is full" in answer.texts


def test_mllp_on_a_full_database_disk_says_storage_full(make_hl7, monkeypatch):
    """The database's disk full (SQLITE_FULL, PostgreSQL disk_full) comes out of the store as
    StoreFull, a StoreUnavailable: the answer named the database unavailable."""
    setup = make_hl7()
    ins = nir()
    assert setup.send(adt("A28", ins)).code == "AA"

    def full(*_args, **_kwargs):
        error = sqlite3.OperationalError("database or disk is full")
        error.sqlite_errorcode = 13
        raise store_database.StoreFull(str(error)) from error

    monkeypatch.setattr(setup.hl7.service.messages, "seen", full)
    answer = setup.send(oru_for(ins)[0])
    assert answer.code == "AR", answer.raw
    assert "storage is full" in answer.texts and "unavailable" not in answer.texts


def test_a_full_database_is_known_by_its_driver_error():
    sqlite_full = sqlite3.OperationalError("database or disk is full")
    sqlite_full.sqlite_errorcode = 13
    assert is_disk_full(sqlite_full)
    assert is_disk_full(psycopg.errors.DiskFull("could not extend file"))
    assert is_disk_full(store_database.StoreFull("x"))
    locked = sqlite3.OperationalError("database is locked")
    locked.sqlite_errorcode = 5
    assert not is_disk_full(locked)
    assert not is_disk_full(store_database.StoreUnavailable("down"))


def test_health_says_the_store_is_below_the_floor(app):
    healthy = call_wsgi(app, "GET", "/health", b"", "")
    assert healthy.status == 200
    app.repository.room = _no_room(app.settings.data_dir)
    answer = call_wsgi(app, "GET", "/health", b"", "")
    body = json.loads(answer.body)
    assert answer.status == 503 and body["status"] == "unavailable"
    assert not body["blob_store"]["writable"]
    assert "XDS_MIN_FREE_BYTES" in body["blob_store"]["detail"]
