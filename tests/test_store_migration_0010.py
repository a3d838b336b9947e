"""Migration 0010 on a registry populated at the 0009 schema: every object_values row moves to its
object's value list columns; every object's XML is packed again by LZ4's high-compression mode,
smaller, and unpacks to the same bytes; raw rows stay as they are; the downgrade gives the
object_values rows back."""

from __future__ import annotations

import lz4.block
from alembic import command
from sqlalchemy import column, insert, inspect, select, table, text

from xds_server.ebxml import packing
from xds_server.store import schema
from xds_server.store.database import make_engine
from xds_server.store.tables import VALUE_LIST

PATIENT = "002000000003265^^^&1.2.250.1.213.1.4.10&ISO"
APPROVED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"
EVENT_SCHEME = "1.2.250.1.215.300.1"
# the table as 0009 had it
object_values = table("object_values", *(column(name) for name in (
    "patient_id", "entry_uuid", "kind", "value", "scheme")))
# the object tables' columns this test writes and reads, as plain values (0011 changed the
# types of some: store/tables.py describes the newest schema, not 0009's or 0010's)
_COMMON = ("patient_id", "entry_uuid", "status", "registered_seq", "xml")
document_entries = table("document_entries", *(column(name) for name in (
    *_COMMON, "unique_id", "logical_id", "object_type")), *(column(name, VALUE_LIST) for name in (
        "author_persons", "event_codes", "confidentiality_codes", "reference_ids")))
submission_sets = table("submission_sets", *(column(name) for name in (*_COMMON, "unique_id")),
                        column("author_persons", VALUE_LIST))
folders = table("folders", *(column(name) for name in (*_COMMON, "unique_id", "logical_id")),
                column("codes", VALUE_LIST))
associations = table("associations", *(column(name) for name in (
    *_COMMON, "type", "source", "target")))


def _lz4(xml: bytes) -> bytes:
    """An object's XML as 0009 packed it."""
    return b"\x01" + lz4.block.compress(xml, store_size=True, dict=packing.DICTIONARIES[b"\x01"])


def _xml(kind: str, n: int) -> bytes:
    slots = "".join(f'<rim:Slot name="urn:ihe:slot{i}"><rim:ValueList><rim:Value>{n}-{i}'
                    '</rim:Value></rim:ValueList></rim:Slot>' for i in range(30))
    return (f'<rim:{kind} xmlns:rim="urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0" '
            f'id="urn:uuid:{n:08d}-0000-4000-8000-000000000000" status="{APPROVED}">'
            f'{slots}</rim:{kind}>').encode()


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
             "value": f"E{n}", "scheme": EVENT_SCHEME},
            {"patient_id": PATIENT, "entry_uuid": uuid, "kind": "event_code",
             "value": "Z%_", "scheme": ""},
            {"patient_id": PATIENT, "entry_uuid": uuid, "kind": "author_person",
             "value": f"80000000{n}^NOM^Prenom", "scheme": ""}])
    for object_table, kind, extra in (
            (submission_sets, "RegistryPackage", {}),
            (folders, "RegistryPackage", {"logical_id": "urn:uuid:f"}),
            (associations, "Association", {"type": "HasMember", "source": "urn:uuid:s",
                                           "target": "urn:uuid:t"})):
        xml = _xml(kind, 99)
        registered[(object_table.name, "urn:uuid:x")] = xml
        values = {**common, **extra, "entry_uuid": "urn:uuid:x", "registered_seq": 1,
                  "xml": _lz4(xml)}
        if object_table is associations:
            del values["unique_id"]
        connection.execute(insert(object_table).values(**values))
    connection.execute(insert(object_values), [
        {"patient_id": PATIENT, "entry_uuid": "urn:uuid:x", "kind": "author_person",
         "value": "1^SET", "scheme": ""},
        {"patient_id": PATIENT, "entry_uuid": "urn:uuid:x", "kind": "folder_code",
         "value": "F", "scheme": "1.2.3"}])
    return registered


def _stored(connection) -> dict[tuple[str, str], bytes]:
    return {(t.name, uuid): bytes(xml)
            for t in (document_entries, submission_sets, folders, associations)
            for uuid, xml in connection.execute(select(t.c.entry_uuid, t.c.xml))}


def test_0010_repacks_every_object_and_keeps_every_value(database_url):
    engine = make_engine(database_url)
    schema.migrate_to(engine, "0009")
    with engine.begin() as connection:
        registered = _populate(connection)
        values_before = sorted(connection.execute(select(object_values)).all())
        before = _stored(connection)
    schema.migrate_to(engine, "0010")
    with engine.connect() as connection:
        stored = _stored(connection)
        documents = {uuid: (authors, events, confidentiality, references) for
                     uuid, authors, events, confidentiality, references in connection.execute(
                         select(document_entries.c.entry_uuid, document_entries.c.author_persons,
                                document_entries.c.event_codes,
                                document_entries.c.confidentiality_codes,
                                document_entries.c.reference_ids))}
        assert connection.execute(select(submission_sets.c.author_persons)).scalar() \
            == ["1^SET"]
        assert connection.execute(select(folders.c.codes)).scalar() == ["F\x1f1.2.3"]
        assert connection.execute(text("SELECT version_num FROM alembic_version")).scalar() \
            == "0010"
    assert {key: packing.unpack(value) for key, value in stored.items()} == registered
    raw = ("document_entries", "urn:uuid:00000000-0000-4000-8000-000000000000")
    assert stored.pop(raw) == registered[raw]                     # raw: as it was
    assert {value[:1] for value in stored.values()} == {packing.CURRENT}
    assert all(len(value) < len(before[key]) for key, value in stored.items())
    assert documents == {f"urn:uuid:{n:08d}-0000-4000-8000-000000000000": (
        [f"80000000{n}^NOM^Prenom"], sorted([f"E{n}\x1f{EVENT_SCHEME}", "Z%_\x1f"]), None, None)
        for n in range(12)}
    assert "object_values" not in inspect(engine).get_table_names()

    config = schema._config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0009")
    with engine.connect() as connection:
        back = _stored(connection)
        assert sorted(connection.execute(select(object_values)).all()) == values_before
    assert back == {**stored, raw: registered[raw]}      # 0009 reads the XML as it is
    assert inspect(engine).get_pk_constraint("object_values")["constrained_columns"] \
        == ["patient_id", "entry_uuid", "kind", "value", "scheme"]
    engine.dispose()
