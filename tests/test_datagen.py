"""bench/datagen.py writes what the registry writes: a small load, read back, registered again
through the product's own path (`registry_store.register`, the stored form of `app.stored_form`)
into a second database, gives the same rows, column by column, byte for byte (the loader makes
its rows from templates without decoding each one, issue 20: this holds it to the product).
And its `--part K/N` slices make one registry, whichever process made the rows."""

from __future__ import annotations

import importlib.util
import re
import sys
from collections import defaultdict
from pathlib import Path

from sqlalchemy import select

from xds_server.app import stored_form
from xds_server.ebxml.decode import decode_registered
from xds_server.ebxml.packing import unpack
from xds_server.ebxml.stored_text import TEXT_WRITERS
from xds_server.model.vocabulary import DEPRECATED
from xds_server.store import registry_store
from xds_server.store.database import Database, make_engine
from xds_server.store.records_store import open_record
from xds_server.store.schema import migrate
from xds_server.store.tables import (
    associations,
    document_entries,
    object_index,
    patients,
    submission_sets,
)

from .conftest import database_for

_spec = importlib.util.spec_from_file_location(
    "datagen", Path(__file__).resolve().parents[1] / "bench" / "datagen.py")
datagen = sys.modules["datagen"] = importlib.util.module_from_spec(_spec)   # its workers
_spec.loader.exec_module(datagen)

NESTED_ID = re.compile(rb' id="urn:uuid:[0-9a-f-]{36}"')
TABLES = (document_entries, submission_sets, associations)


def _rows(engine) -> dict[str, dict]:
    """Every row of the registry tables, by table and entryUUID, as the columns' types read
    them back (registered_seq apart: the order it gives is compared instead)."""
    out: dict[str, dict] = {}
    with engine.connect() as connection:
        for table in (*TABLES, object_index):
            rows = connection.execute(select(table)).mappings().all()
            out[table.name] = {row["entry_uuid"]: {c: v for c, v in row.items()
                                                   if c != "registered_seq"} for row in rows}
            if "registered_seq" in table.c:
                out[table.name + " order"] = [row["entry_uuid"] for row in sorted(
                    rows, key=lambda row: row["registered_seq"])]
        out["patients"] = {row.patient_key: row.patient_id
                           for row in connection.execute(select(patients))}
    return out


def _register_again(loaded: dict[str, dict], engine) -> None:
    """The loaded submissions, in their registration order, through the product's path: each
    object decoded from its stored XML, stored as `stored_form().packed` makes it, and
    registered by `registry_store.register` (after `open_record`, patient by patient)."""
    form = stored_form()
    by_set: dict[bytes, dict[str, list]] = defaultdict(lambda: {"documents": [], "links": []})
    for uuid in loaded["document_entries order"]:
        by_set[loaded["document_entries"][uuid]["submission_set"]]["documents"].append(uuid)
    for uuid in loaded["associations order"]:
        by_set[loaded["associations"][uuid]["source"]]["links"].append(uuid)
    database = Database(engine)
    with database.transaction() as uow:
        for _, patient in sorted(loaded["patients"].items()):
            open_record(uow, patient)
    for set_uuid in loaded["submission_sets order"]:
        set_row = loaded["submission_sets"][set_uuid]
        rows = [("submission_sets", set_uuid, ())]
        rows += [("document_entries", uuid, ()) for uuid in by_set[set_uuid]["documents"]]
        rows += [("associations", uuid, (uuid, loaded["associations"][uuid]["source"],
                                         loaded["associations"][uuid]["target"]))
                 for uuid in by_set[set_uuid]["links"]]
        objects, stored = [], {}
        for table, uuid, ids in rows:
            xml = unpack(loaded[table][uuid]["xml"], ids)
            obj = decode_registered(_parse(xml))
            # the XML is the product's text writer's, but for the nested ids (random)
            assert NESTED_ID.sub(b"", xml) == NESTED_ID.sub(
                b"", TEXT_WRITERS[type(obj)](obj).encode()), (table, uuid)
            objects.append(obj)
            stored[uuid] = form.packed(xml, ids)
        patient = objects[0].patient_id
        with database.transaction() as uow:
            registry_store.register(uow, patient, objects[0], objects[1:1 + len(
                by_set[set_uuid]["documents"])], [], objects[1 + len(
                    by_set[set_uuid]["documents"]):], stored)
        assert loaded["patients"][set_row["patient_key"]] == patient
        # the load's deprecated entries (5 %: replaced later, as a registry fed over time
        # has them) through the product's status change
        deprecated = [uuid for uuid in by_set[set_uuid]["documents"]
                      if loaded["document_entries"][uuid]["status"] != objects[1].status]
        if deprecated:
            with database.transaction() as uow:
                registry_store.set_status(uow, "document", patient, deprecated, DEPRECATED)


def _parse(xml: bytes):
    from lxml import etree
    return etree.fromstring(xml)


def test_a_load_is_what_the_registry_writes(database_url, tmp_path) -> None:
    engine = make_engine(database_url)
    datagen.load(engine, 90)           # 5 patients; rows through COPY on PostgreSQL
    loaded = _rows(engine)
    assert len(loaded["document_entries"]) == 90
    with database_for("sqlite" if "sqlite" in database_url else "postgresql",
                      tmp_path / "again") as other_url:
        again = make_engine(other_url)
        migrate(again)
        _register_again(loaded, again)
        registered = _rows(again)
        assert registered.keys() == loaded.keys()
        for name, rows in loaded.items():
            if name in ("document_entries", "submission_sets", "associations", "object_index"):
                assert registered[name].keys() == rows.keys(), name
                for key, row in rows.items():     # the columns that differ, if any
                    assert {c: v for c, v in registered[name][key].items() if v != row[c]} \
                        == {}, (name, key)
            else:       # patients, and the registration order of each table
                assert registered[name] == rows, name
        again.dispose()
    engine.dispose()


def test_parts_make_one_registry(database_url) -> None:
    """Parts 1/3..3/3 (the second made in two processes) load the registration order of one
    run: every patient once, 20 documents each, registration numbers rising in that order; a
    patient's record is there from its first submission on (it came with its submission
    number 0 before, which a shuffled order may put after others: records missing)."""
    engine = make_engine(database_url)
    whole, _ = datagen.submissions(0, 100)
    for part, jobs in ((1, 1), (2, 2), (3, 1)):
        datagen.load(engine, 100, part=(part, 3), jobs=jobs, chunk=7)
        # after each part, a registry: every patient with a row has its record
        loaded = _rows(engine)
        assert {row["patient_key"] for row in loaded["submission_sets"].values()} \
            <= set(loaded["patients"]), part
    assert sorted(loaded["patients"]) == [1, 2, 3, 4, 5]
    per_patient = defaultdict(int)
    for row in loaded["document_entries"].values():
        per_patient[row["patient_key"]] += 1
    assert dict(per_patient) == {key: 20 for key in range(1, 6)}
    # the sets in registration order belong to the patients of the planned order
    planned = [datagen.patient_key(patient) for patient, _, _ in whole]
    assert [loaded["submission_sets"][uuid]["patient_key"]
            for uuid in loaded["submission_sets order"]] == planned
    engine.dispose()
