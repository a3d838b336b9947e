"""Read audits written off the request path: in batches (COPY on PostgreSQL), each record with
the moment of the read, not of the write."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest

from xds_server.security.principal import Principal
from xds_server.store import audit_store
from xds_server.store.audit_writer import ReadAuditWriter
from xds_server.store.database import Database, UnitOfWork, make_engine
from xds_server.store.schema import migrate

from .conftest import DATABASES, database_for


@pytest.mark.parametrize("kind", DATABASES)
def test_a_batch_keeps_each_read_and_its_moment(kind, tmp_path):
    with database_for(kind, tmp_path) as url:
        engine = make_engine(url)
        migrate(engine)
        writer = ReadAuditWriter(Database(engine), interval=60)   # nothing written until flush()
        moments = []
        for n in range(3):
            before = dt.datetime.now(dt.UTC)
            reader = Principal(subject_id=f"81010123456{n}", role="professional",
                               request_id=f"req-{n}", transaction="ITI-18")
            writer.record(reader, "R", "success", "P1", [f"1.2.3.{n}", "1.2.3.9"], "ITI-18")
            moments.append((before, dt.datetime.now(dt.UTC)))
            time.sleep(0.05)
        assert writer.flush()
        trail = _trail(engine, "P1")
        assert [(r.request_id, r.subject_id, r.documents) for r in trail] == [
            (f"req-{n}", f"81010123456{n}", f"1.2.3.{n} 1.2.3.9") for n in range(3)]
        for row, (before, after) in zip(trail, moments, strict=True):
            at = row.at if row.at.tzinfo else row.at.replace(tzinfo=dt.UTC)
            assert before - dt.timedelta(milliseconds=1) <= at <= after + \
                dt.timedelta(milliseconds=1)
        writer.close()
        engine.dispose()


def _trail(engine, patient):
    with engine.connect() as connection:
        return audit_store.trail(UnitOfWork(connection), patient)


def test_the_thread_writes_and_retries_until_the_database_takes_them(tmp_path):
    """Records queued while the database refuses them (here: no table yet) are written once it
    takes them, without another read to wake the writer."""
    with database_for("sqlite", tmp_path) as url:
        engine = make_engine(url)
        writer = ReadAuditWriter(Database(engine), interval=0.02)
        reader = Principal(subject_id="810101234567", role="professional", request_id="r1")
        writer.record(reader, "R", "success", "P2", ["1.2.3"], "ITI-18")
        time.sleep(0.2)                       # the first attempt failed: no audit table
        migrate(engine)
        deadline = time.monotonic() + 10
        while not _trail(engine, "P2") and time.monotonic() < deadline:
            time.sleep(0.1)
        assert [row.request_id for row in _trail(engine, "P2")] == ["r1"]
        writer.record(reader, "R", "success", "P2", ["1.2.4"], "ITI-18")
        deadline = time.monotonic() + 5
        while len(_trail(engine, "P2")) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(_trail(engine, "P2")) == 2
        writer.close()
        engine.dispose()


def test_a_flush_returns_once_the_batch_the_thread_is_writing_is_written(tmp_path,
                                                                       monkeypatch):
    """flush() while the thread was writing the batch found nothing queued and returned
    before that batch committed: a reader of the trail (the DSG audit test, under load) saw
    no record."""
    with database_for("sqlite", tmp_path) as url:
        engine = make_engine(url)
        migrate(engine)
        writer = ReadAuditWriter(Database(engine), interval=0.01)
        write, taken = audit_store.write, threading.Event()

        def slow(uow, batch):
            taken.set()
            time.sleep(0.5)
            write(uow, batch)

        monkeypatch.setattr(audit_store, "write", slow)
        reader = Principal(subject_id="810101234567", role="professional", request_id="r4")
        writer.record(reader, "R", "success", "P4", ["1.2.3"], "ITI-43")
        assert taken.wait(5)                  # the thread holds the batch
        assert writer.flush()
        assert [row.request_id for row in _trail(engine, "P4")] == ["r4"]
        writer.close()
        engine.dispose()


def test_closing_writes_every_queued_record_not_one_batch(tmp_path):
    """A trace of every access: at shutdown the writer wrote one batch and logged the rest
    lost (the repository benchmark's in-process run lost 500 records)."""
    with database_for("sqlite", tmp_path) as url:
        engine = make_engine(url)
        migrate(engine)
        writer = ReadAuditWriter(Database(engine), interval=60, max_batch=7)
        reader = Principal(subject_id="810101234567", role="professional", request_id="r")
        for n in range(30):
            writer.record(reader, "R", "success", "P3", [f"1.2.3.{n}"], "ITI-43")
        writer.close()
        assert len(_trail(engine, "P3")) == 30
        engine.dispose()


def test_a_query_that_finds_nothing_is_a_read_of_the_patient_it_named(app):
    """The ITI-18 record of a 0-result query had no patient (issue 18, R9): the patient's trail
    did not show who looked for their documents and found none."""
    from xds_server.model import vocabulary as v
    from xds_server.model.hl7 import patient_key
    from xds_server.model.stored_queries import FindDocuments
    from xds_server.security.principal import SYSTEM

    from .registry_data import new_patient

    patient = new_patient()
    answer = app.registry.query(FindDocuments(patient_id=patient, statuses=(v.APPROVED,)),
                                SYSTEM)
    assert answer.result.documents == []
    app.registry.queries.audit_writer.flush()
    with app.database.reading() as uow:
        reads = [e for e in audit_store.trail(uow, patient_key(patient), None, None)
                 if e.transaction == "ITI-18"]
    assert len(reads) == 1 and reads[0].patient_id == patient_key(patient)


@pytest.mark.parametrize("kind", DATABASES)
def test_a_record_over_the_columns_never_costs_another_callers_record(kind, tmp_path):
    """Issue 16 re-test c, 1 and 2: a 100-character NameID, a lone surrogate or a NUL in one
    caller's identity failed the whole batch (PostgreSQL: column width, NUL; both: UTF-8),
    and every other caller's reads of that minute were lost. Such a record is kept, fitted to
    its columns (the credential readers refuse these identities; this is the second wall)."""
    with database_for(kind, tmp_path) as url:
        engine = make_engine(url)
        migrate(engine)
        writer = ReadAuditWriter(Database(engine), interval=60)
        odd = [Principal(subject_id="8" * 100, role="patient", request_id="long"),
               Principal(subject_id="81\ud800", role="professional", structure_id="\udc00",
                         request_id="surrogate"),
               Principal(subject_id="81\x00", role="professional", request_id="nul")]
        honest = Principal(subject_id="810000000099", role="professional", request_id="ok")
        for caller in odd:
            writer.record(caller, "R", "success", "P-other", ["1.2.3"], "ITI-18")
            writer.record(honest, "R", "success", "P-victim", ["1.2.4"], "ITI-67")
        assert writer.flush()
        assert [r.request_id for r in _trail(engine, "P-victim")] == ["ok"] * 3
        kept = {r.request_id: r for r in _trail(engine, "P-other")}
        assert kept["long"].subject_id == "8" * 64
        assert kept["surrogate"].subject_id == "81\ufffd"
        assert kept["surrogate"].structure_id == "\ufffd"
        assert kept["nul"].subject_id == "81\ufffd"
        writer.close()
        engine.dispose()


def test_a_record_the_database_refuses_alone_is_lost_alone_counted_and_logged(
        tmp_path, monkeypatch, caplog):
    """Whatever makes one record fail (here: the store refuses request `bad`), the batch is
    written record by record: the others are kept, the lost one is counted (the metric) and
    logged at ERROR with its request id, without a minute of retries."""
    with database_for("sqlite", tmp_path) as url:
        engine = make_engine(url)
        migrate(engine)
        real = audit_store.write

        def refusing(uow, events):
            if any(event.request_id == "bad" for event in events):
                raise ValueError("value too long for type character varying(64)")
            real(uow, events)

        monkeypatch.setattr(audit_store, "write", refusing)
        writer = ReadAuditWriter(Database(engine), interval=60)
        lost: list[int] = []
        writer.on_lost = lost.append
        for request in ("a", "bad", "b"):
            writer.record(Principal(subject_id="810000000099", role="professional",
                                    request_id=request), "R", "success", "P3", ["1.2"],
                          "ITI-67")
        with caplog.at_level("ERROR", logger="xds_server.audit"):
            assert writer.flush()
        assert [r.request_id for r in _trail(engine, "P3")] == ["a", "b"]
        assert lost == [1]
        assert "request_id=bad" in caplog.text and "request_id=a " not in caplog.text
        assert not writer._pending
        writer.close()
        engine.dispose()
