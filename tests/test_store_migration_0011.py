"""Migration 0011 on a registry populated at the 0010 schema: every identifier comes back exactly as
registered (a lowercase urn:uuid: as its 16 bytes; an uppercase GUID, an id of 16 bytes, an
association id a source made up, as their text), every status, entry type and kind through its
code; every row carries its patient's key, and a patient with rows but no record gets an open
one; the store finds each by its own text afterwards; the downgrade gives the 0010 rows back.
A status this registry never writes stops the migration, naming it."""

from __future__ import annotations

import datetime as dt

import pytest
from alembic import command
from sqlalchemy import column, insert, select, table, text

from xds_server.model import vocabulary as v
from xds_server.store import records_store, registry_store, schema
from xds_server.store.database import Database, make_engine
from xds_server.store.keys import pack_id, unpack_id
from xds_server.store.queries import Filters, find_documents, find_folders

PATIENT = "002000000003265^^^&1.2.250.1.213.1.4.10&ISO"
OTHER = "002000000003266^^^&1.2.250.1.213.1.4.10&ISO"     # rows, but no record
DOC = "urn:uuid:0f0e0d0c-0b0a-4908-8706-050403020100"
DOC_UPPER = "urn:uuid:0F0E0D0C-0B0A-4908-8706-0504030201FF"
DOC_16 = "sixteen-bytes-id"                      # 16 bytes of text: kept with its marker
SET = "urn:uuid:11111111-2222-4333-8444-555555555555"
FOLDER = "urn:uuid:aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"
MADE_UP = "urn:uuid:as-1f2e3d"                   # an association id a source made up

_COMMON = ("patient_id", "entry_uuid", "status", "registered_seq", "xml")
# the 0010 tables as plain columns (store/tables.py describes 0011's types)
old = {name: table(name, *(column(c) for c in columns)) for name, columns in {
    "document_entries": (*_COMMON, "unique_id", "logical_id", "object_type", "submission_set"),
    "submission_sets": (*_COMMON, "unique_id"),
    "folders": (*_COMMON, "unique_id", "logical_id"),
    "associations": (*_COMMON, "type", "source", "target"),
    "object_index": ("entry_uuid", "unique_id", "kind", "patient_id"),
    "patients": ("patient_id", "status", "opened_at")}.items()}


def _populate(connection) -> None:
    connection.execute(insert(old["patients"]).values(
        patient_id=PATIENT, status="closed", opened_at=dt.datetime(2025, 1, 1, tzinfo=dt.UTC)))
    connection.execute(insert(old["submission_sets"]).values(
        patient_id=OTHER, entry_uuid=SET, status=v.APPROVED, registered_seq=1, xml=b"<o/>",
        unique_id="9.9"))
    connection.execute(insert(old["object_index"]).values(
        patient_id=OTHER, entry_uuid=SET.replace("1", "9"), kind="submission_set",
        unique_id="9.9"))
    common = {"patient_id": PATIENT, "xml": b"<x/>"}
    documents = ((DOC, v.APPROVED, v.DOC_STABLE), (DOC_UPPER, v.DEPRECATED, v.DOC_ON_DEMAND),
                 (DOC_16, v.CISIS_ARCHIVED, v.DOC_STABLE))
    for n, (uuid, status, object_type) in enumerate(documents):
        connection.execute(insert(old["document_entries"]).values(
            **common, entry_uuid=uuid, status=status, registered_seq=n, unique_id=f"1.2.{n}",
            logical_id=DOC, object_type=object_type, submission_set=SET))
    connection.execute(insert(old["submission_sets"]).values(
        **common, entry_uuid=SET, status=v.SUBMITTED, registered_seq=10, unique_id="1.3"))
    connection.execute(insert(old["folders"]).values(
        **common, entry_uuid=FOLDER, status=v.CISIS_DELETED, registered_seq=11,
        unique_id="1.4", logical_id=FOLDER.upper()))
    for n, (uuid, target, kind) in enumerate((
            (MADE_UP, DOC_UPPER, v.HAS_MEMBER), (FOLDER.replace("a", "c"), DOC, v.RPLC),
            # the IsSnapshotOf URN this registry wrote before following Table 4.2.2-1
            ("urn:uuid:x", DOC_16, "urn:ihe:iti:2007:AssociationType:isSnapshotOf"))):
        connection.execute(insert(old["associations"]).values(
            **common, entry_uuid=uuid, status=v.APPROVED, registered_seq=20 + n,
            type=kind, source=SET, target=target))
    connection.execute(insert(old["object_index"]), [
        {"entry_uuid": uuid, "unique_id": uid, "kind": kind, "patient_id": PATIENT}
        for uuid, uid, kind in ((DOC, "1.2.0", "document"), (DOC_UPPER, "1.2.1", "document"),
                                (DOC_16, "1.2.2", "document"),
                                (SET, "1.3", "submission_set"), (FOLDER, "1.4", "folder"),
                                (MADE_UP, None, "association"))])


def _rows(connection) -> dict[str, list]:
    return {name: sorted(tuple(row) for row in connection.execute(select(t)))
            for name, t in old.items() if name != "patients"}


def test_an_identifier_comes_back_as_it_was_given():
    for text_form in (DOC, DOC_UPPER, DOC_16, MADE_UP, "", "é" * 8, "x" * 15 + "é"):
        assert unpack_id(pack_id(text_form)) == text_form
    assert len(pack_id(DOC)) == 16
    assert len(pack_id(DOC_UPPER)) == 45 and len(pack_id(DOC_16)) == 17


def test_0011_keeps_every_identifier_and_code_and_the_store_finds_them(database_url):
    engine = make_engine(database_url)
    schema.migrate_to(engine, "0010")
    with engine.begin() as connection:
        _populate(connection)
        before = _rows(connection)
    schema.migrate_to(engine, "0011")
    with engine.connect() as connection:
        kinds = {row[0]: row[1] for row in connection.execute(
            text("SELECT entry_uuid, kind FROM object_index"))}
        assert set(kinds.values()) == {1, 2, 3, 4}
        assert {bytes(key) for key in kinds} == {pack_id(u) for u in (
            DOC, DOC_UPPER, DOC_16, SET, FOLDER, MADE_UP, SET.replace("1", "9"))}
        keys = dict(connection.execute(text("SELECT patient_id, patient_key FROM patients")).all())
        assert len(set(keys.values())) == 2
        assert connection.execute(text(
            "SELECT DISTINCT patient_key FROM submission_sets ORDER BY 1")).scalars().all() \
            == sorted(keys.values())
    with Database(engine).transaction() as uow:
        assert [records_store.patient_status(uow, p) for p in (PATIENT, OTHER)] \
            == ["closed", "open"]
        assert [(s.patient_id, s.stored) for s in registry_store.objects(
            uow, "submission_set", OTHER, [SET])] == [(OTHER, b"<o/>")]
        assert registry_store.find_by_uuids(uow, [SET.replace("1", "9")])[
            SET.replace("1", "9")].patient_id == OTHER
        index = registry_store.find_by_uuids(uow, [DOC, DOC_UPPER, DOC_16, SET, MADE_UP])
        assert {u: (e.kind, e.unique_id) for u, e in index.items()} == {
            DOC: ("document", "1.2.0"), DOC_UPPER: ("document", "1.2.1"),
            DOC_16: ("document", "1.2.2"), SET: ("submission_set", "1.3"),
            MADE_UP: ("association", None)}
        # the same UUID in another case is another identifier, as before
        assert registry_store.find_by_uuids(uow, [DOC.upper(), DOC_UPPER.lower()]) == {}
        documents = registry_store.objects(uow, "document", PATIENT, [DOC], by="logical_id")
        assert [(d.entry_uuid, d.status, d.object_type) for d in documents] == [
            (DOC, v.APPROVED, v.DOC_STABLE), (DOC_UPPER, v.DEPRECATED, v.DOC_ON_DEMAND),
            (DOC_16, v.CISIS_ARCHIVED, v.DOC_STABLE)]
        touching = registry_store.associations_touching(uow, PATIENT, [DOC_UPPER, DOC_16])
        assert [(a.entry_uuid, a.type, a.source, a.target) for a in touching] == [
            (MADE_UP, v.HAS_MEMBER, SET, DOC_UPPER),
            ("urn:uuid:x", "urn:ihe:iti:2007:AssociationType:isSnapshotOf", SET, DOC_16)]
        found, _ = find_documents(uow, Filters(PATIENT, [v.DEPRECATED, "unknown status"],
                                               object_types=[v.DOC_ON_DEMAND]))
        assert [d.entry_uuid for d in found] == [DOC_UPPER]
        folders = find_folders(uow, Filters(PATIENT, [v.CISIS_DELETED]))
        assert [(f.entry_uuid, f.status, f.logical_id) for f in folders] == [
            (FOLDER, v.CISIS_DELETED, FOLDER.upper())]
        registry_store.set_status(uow, "document", PATIENT, [DOC_16], v.DEPRECATED)
        assert registry_store.objects(uow, "document", PATIENT, [DOC_16])[0].status \
            == v.DEPRECATED
        registry_store.set_status(uow, "document", PATIENT, [DOC_16], v.CISIS_ARCHIVED)

    config = schema._config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0010")
    with engine.connect() as connection:
        assert _rows(connection) == before
    engine.dispose()


def test_0011_refuses_a_status_it_has_no_code_for(database_url):
    engine = make_engine(database_url)
    schema.migrate_to(engine, "0010")
    with engine.begin() as connection:
        connection.execute(insert(old["submission_sets"]).values(
            patient_id=PATIENT, entry_uuid=SET, status="urn:example:Withdrawn",
            registered_seq=1, xml=b"<x/>", unique_id="1.3"))
    with pytest.raises(RuntimeError, match="urn:example:Withdrawn"):
        schema.migrate_to(engine, "0011")
    engine.dispose()
