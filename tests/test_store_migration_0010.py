"""Migration 0010 on a registry populated at the 0009 schema: object_values loses its primary key
and keeps every row; every object's LZ4-packed XML becomes Zstandard and unpacks to the same
bytes; raw rows stay as they are; the downgrade gives the 0009 forms back."""

from __future__ import annotations

import lz4.block
from alembic import command
from sqlalchemy import insert, inspect, select, text

from xds_server.ebxml import packing
from xds_server.store import schema
from xds_server.store.database import make_engine
from xds_server.store.tables import (
    associations,
    document_entries,
    folders,
    object_values,
    submission_sets,
)

PATIENT = "002000000003265^^^&1.2.250.1.213.1.4.10&ISO"
APPROVED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"


def _lz4(xml: bytes) -> bytes:
    """An object's XML as 0009 packed it."""
    return b"\x01" + lz4.block.compress(xml, store_size=True, dict=packing.DICTIONARIES[b"\x01"])


def _xml(kind: str, n: int) -> bytes:
    return (f'<rim:{kind} xmlns:rim="urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0" '
            f'id="urn:uuid:{n:08d}-0000-4000-8000-000000000000" status="{APPROVED}">'
            '<rim:Slot name="creationTime"><rim:ValueList><rim:Value>20261202</rim:Value>'
            f'</rim:ValueList></rim:Slot></rim:{kind}>').encode()


def _populate(connection) -> dict[tuple[str, str], bytes]:
    """Rows of each object table (one raw, as written before packing) and their values."""
    registered: dict[tuple[str, str], bytes] = {}
    common = {"patient_id": PATIENT, "status": APPROVED, "unique_id": "1.2.3"}
    for n in range(12):
        uuid = f"urn:uuid:{n:08d}-0000-4000-8000-000000000000"
        xml = _xml("ExtrinsicObject", n)
        stored = xml if n == 0 else _lz4(xml)
        registered[("document_entries", uuid)] = xml
        connection.execute(insert(document_entries).values(
            **common, entry_uuid=uuid, logical_id=uuid, registered_seq=n, xml=stored,
            object_type="urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1"))
        connection.execute(insert(object_values), [
            {"patient_id": PATIENT, "entry_uuid": uuid, "kind": "event_code",
             "value": f"E{n}", "scheme": "1.2.250.1.215.300.1"},
            {"patient_id": PATIENT, "entry_uuid": uuid, "kind": "author_person",
             "value": f"80000000{n}^NOM^Prenom", "scheme": ""}])
    for table, kind, extra in (
            (submission_sets, "RegistryPackage", {}),
            (folders, "RegistryPackage", {"logical_id": "urn:uuid:f"}),
            (associations, "Association", {"type": "HasMember", "source": "urn:uuid:s",
                                           "target": "urn:uuid:t"})):
        xml = _xml(kind, 99)
        registered[(table.name, "urn:uuid:x")] = xml
        values = {**common, **extra, "entry_uuid": "urn:uuid:x", "registered_seq": 1,
                  "xml": _lz4(xml)}
        if table is associations:
            del values["unique_id"]
        connection.execute(insert(table).values(**values))
    return registered


def _stored(connection) -> dict[tuple[str, str], bytes]:
    return {(table.name, uuid): bytes(xml)
            for table in (document_entries, submission_sets, folders, associations)
            for uuid, xml in connection.execute(select(table.c.entry_uuid, table.c.xml))}


def test_0010_repacks_every_object_and_keeps_every_value(database_url):
    engine = make_engine(database_url)
    schema.migrate_to(engine, "0009")
    with engine.begin() as connection:
        registered = _populate(connection)
        values_before = sorted(connection.execute(select(object_values)).all())
    assert inspect(engine).get_pk_constraint("object_values")["constrained_columns"]

    schema.migrate(engine)
    with engine.connect() as connection:
        stored = _stored(connection)
        assert sorted(connection.execute(select(object_values)).all()) == values_before
        assert connection.execute(text("SELECT version_num FROM alembic_version")).scalar() \
            == "0010"
    assert {key: packing.unpack(value) for key, value in stored.items()} == registered
    raw = ("document_entries", "urn:uuid:00000000-0000-4000-8000-000000000000")
    assert stored.pop(raw) == registered[raw]                     # raw: as it was
    assert {value[:1] for value in stored.values()} == {packing.CURRENT}
    assert not inspect(engine).get_pk_constraint("object_values")["constrained_columns"]
    assert [ix["name"] for ix in inspect(engine).get_indexes("object_values")] \
        == ["ix_object_values_lookup"]

    config = schema._config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0009")
    with engine.connect() as connection:
        back = _stored(connection)
        assert sorted(connection.execute(select(object_values)).all()) == values_before
    assert {key: packing.unpack(value) for key, value in back.items()} == registered
    assert {value[:1] for key, value in back.items() if key != raw} == {b"\x01"}
    assert inspect(engine).get_pk_constraint("object_values")["constrained_columns"] \
        == ["patient_id", "entry_uuid", "kind", "value", "scheme"]
    engine.dispose()
