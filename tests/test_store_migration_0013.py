"""Migration 0013 on a registry populated at the 0012 schema: code schemes become keys of
`code_schemes` and are still found by the Find* filters; a hash comes back as it was registered
(40 hex digits as 20 bytes, any other text as its text); an association's XML is packed with its
ids marked and comes back byte for byte; the uniqueId index leaves out the rows without one;
a registration after it adds its new schemes; the downgrade gives the 0012 rows back."""

from __future__ import annotations

import datetime as dt

from alembic import command
from lxml import etree
from sqlalchemy import column, insert, select, table, text

from xds_server.ebxml.encode import encode_association
from xds_server.ebxml.packing import CURRENT, MARKED, pack
from xds_server.ebxml.stored import EbrimStoredForm, leaf_class
from xds_server.model import vocabulary as v
from xds_server.model.metadata import Association, Code, DocumentEntry, SubmissionSet
from xds_server.store import registry_store, schema
from xds_server.store.database import Database, make_engine
from xds_server.store.keys import pack_digest, pack_id, unpack_digest
from xds_server.store.queries import Filters, find_documents, find_submission_sets

PATIENT = "002000000003265^^^&1.2.250.1.213.1.4.10&ISO"
DOC = "urn:uuid:0f0e0d0c-0b0a-4908-8706-050403020100"
DOC_2 = "urn:uuid:0f0e0d0c-0b0a-4908-8706-050403020101"
SET = "urn:uuid:11111111-2222-4333-8444-555555555555"
ASSOCIATION = "urn:uuid:aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"
MADE_UP = "as-1"                                  # an association id a source made up
CLASS_SCHEME, TYPE_SCHEME = "1.2.250.1.213.1.1.4.1", "2.16.840.1.113883.6.1"
HEX_HASH = "da39a3ee5e6b4b0d3255bfef95601890afd80709"
ODD_HASH = "not-a-sha1-but-20-by"                 # 20 bytes of text: kept with its marker

old = {name: table(name, *(column(c) for c in columns)) for name, columns in {
    "patients": ("patient_key", "patient_id", "status", "opened_at"),
    "document_entries": ("patient_key", "entry_uuid", "unique_id", "logical_id", "status",
                         "object_type", "registered_seq", "xml", "class_code", "class_scheme",
                         "type_code", "type_scheme", "hash"),
    "submission_sets": ("patient_key", "entry_uuid", "unique_id", "status", "registered_seq",
                        "xml", "content_type_code", "content_type_scheme"),
    "associations": ("patient_key", "entry_uuid", "type", "source", "target", "status",
                     "registered_seq", "xml"),
    "object_index": ("entry_uuid", "unique_id", "kind", "patient_key")}.items()}


def _association_xml(entry_uuid: str, target: str) -> bytes:
    return etree.tostring(encode_association(Association(
        entry_uuid, v.HAS_MEMBER, SET, target, slots={v.SUBMISSION_SET_STATUS: ["Original"]})))


def _populate(connection) -> None:
    connection.execute(insert(old["patients"]).values(
        patient_key=1, patient_id=PATIENT, status="open",
        opened_at=dt.datetime(2025, 1, 1, tzinfo=dt.UTC)))
    for n, (uuid, hash_text) in enumerate(((DOC, HEX_HASH), (DOC_2, ODD_HASH))):
        connection.execute(insert(old["document_entries"]).values(
            patient_key=1, entry_uuid=pack_id(uuid), unique_id=f"1.2.{n}",
            logical_id=pack_id(uuid), status=1, object_type=1, registered_seq=n, xml=b"<x/>",
            class_code="10", class_scheme=CLASS_SCHEME, type_code="11502-2",
            type_scheme=TYPE_SCHEME if n == 0 else None, hash=hash_text))
    connection.execute(insert(old["submission_sets"]).values(
        patient_key=1, entry_uuid=pack_id(SET), unique_id="1.3", status=1, registered_seq=5,
        xml=b"<s/>", content_type_code="26", content_type_scheme="1.2.250.1.213.2.2"))
    for n, (uuid, target) in enumerate(((ASSOCIATION, DOC), (MADE_UP, DOC_2))):
        connection.execute(insert(old["associations"]).values(
            patient_key=1, entry_uuid=pack_id(uuid), type=1, source=pack_id(SET),
            target=pack_id(target), status=1, registered_seq=10 + n,
            xml=pack(_association_xml(uuid, target))))
    connection.execute(insert(old["object_index"]), [
        {"entry_uuid": pack_id(uuid), "unique_id": uid, "kind": kind, "patient_key": 1}
        for uuid, uid, kind in ((DOC, "1.2.0", 1), (DOC_2, "1.2.1", 1), (SET, "1.3", 2),
                                (ASSOCIATION, None, 4), (MADE_UP, None, 4))])


def _rows(connection) -> dict[str, list]:
    return {name: sorted(tuple(bytes(x) if isinstance(x, memoryview) else x for x in row)
                         for row in connection.execute(select(t)))
            for name, t in old.items()}


def test_a_hash_comes_back_as_it_was_given():
    for text_form in (HEX_HASH, HEX_HASH.upper(), ODD_HASH, "", "x" * 19 + "é"):
        assert unpack_digest(pack_digest(text_form)) == text_form
    assert len(pack_digest(HEX_HASH)) == 20 and len(pack_digest(ODD_HASH)) == 21


def test_0013_keeps_every_scheme_hash_and_association(database_url):
    engine = make_engine(database_url)
    schema.migrate_to(engine, "0012")
    with engine.begin() as connection:
        _populate(connection)
        before = _rows(connection)
    schema.migrate_to(engine, "0013")
    with engine.connect() as connection:
        schemes = dict(connection.execute(text(
            "SELECT scheme, scheme_key FROM code_schemes")).all())
        assert set(schemes) == {CLASS_SCHEME, TYPE_SCHEME, "1.2.250.1.213.2.2"}
        assert connection.execute(text(
            "SELECT class_scheme, type_scheme FROM document_entries ORDER BY unique_id")).all() \
            == [(schemes[CLASS_SCHEME], schemes[TYPE_SCHEME]), (schemes[CLASS_SCHEME], None)]
        hashes = connection.execute(text(
            "SELECT hash FROM document_entries ORDER BY unique_id")).scalars().all()
        assert [bytes(h) for h in hashes] == [bytes.fromhex(HEX_HASH),
                                              ODD_HASH.encode() + b"\xff"]
        stored = {bytes(u): bytes(x) for u, x in connection.execute(text(
            "SELECT entry_uuid, xml FROM associations"))}
        # the canonical ids marked; an association whose own id is made up still has its ends
        assert stored[pack_id(ASSOCIATION)][:1] == stored[pack_id(MADE_UP)][:1] == MARKED
        assert len(stored[pack_id(ASSOCIATION)]) < len(pack(_association_xml(ASSOCIATION, DOC)))
        if engine.dialect.name == "postgresql":
            definition = connection.execute(text(
                "SELECT indexdef FROM pg_indexes WHERE indexname = "
                "'ix_object_index_unique_id' AND schemaname = current_schema()")).scalar_one()
        else:
            definition = connection.execute(text(
                "SELECT sql FROM sqlite_master WHERE name = 'ix_object_index_unique_id'")
            ).scalar_one()
        assert "unique_id IS NOT NULL" in definition
    database = Database(engine)
    with database.transaction() as uow:
        documents = registry_store.objects(uow, "document", PATIENT, [DOC, DOC_2])
        assert {d.entry_uuid: d.hash for d in documents} == {DOC: HEX_HASH, DOC_2: ODD_HASH}
        for scheme, found in ((CLASS_SCHEME, [DOC, DOC_2]), ("1.2.3.never.stored", []),
                              (None, [DOC, DOC_2])):
            result, _ = find_documents(uow, Filters(PATIENT, [v.APPROVED],
                                                    codes={"class": [("10", scheme)]}))
            assert sorted(d.entry_uuid for d in result) == found
        result, _ = find_documents(uow, Filters(PATIENT, [v.APPROVED], codes={
            "type": [("11502-2", TYPE_SCHEME)]}))
        assert [d.entry_uuid for d in result] == [DOC]
        sets = find_submission_sets(uow, Filters(PATIENT, [v.APPROVED], codes={
            "content_type": [("26", "1.2.250.1.213.2.2")]}))
        assert [s.entry_uuid for s in sets] == [SET]
        associations = registry_store.associations_of(uow, PATIENT)
        assert {a.entry_uuid: leaf_class(a) for a in associations} == {
            ASSOCIATION: _association_xml(ASSOCIATION, DOC),
            MADE_UP: _association_xml(MADE_UP, DOC_2)}
        assert [e.entry_uuid for e in registry_store.find_by_unique_ids(uow, ["1.2.1"])] \
            == [DOC_2]
    # a registration after it: its new scheme gets a key, the old ones keep theirs
    new_set = SubmissionSet("urn:uuid:22222222-2222-4333-8444-555555555555", unique_id="1.5",
                            patient_id=PATIENT, content_type_code=Code("26", "1.2.250.1.213.2.2"))
    new_document = DocumentEntry(
        "urn:uuid:0f0e0d0c-0b0a-4908-8706-050403020102", unique_id="1.2.2",
        patient_id=PATIENT, logical_id="urn:uuid:0f0e0d0c-0b0a-4908-8706-050403020102",
        class_code=Code("10", CLASS_SCHEME), type_code=Code("X", "1.2.3.new"), hash=HEX_HASH)
    form = EbrimStoredForm()
    with database.transaction() as uow:
        registry_store.register(uow, PATIENT, new_set, [new_document], [], [], {
            new_set.entry_uuid: form.registered(new_set),
            new_document.entry_uuid: form.registered(new_document)})
    with database.transaction() as uow:
        result, _ = find_documents(uow, Filters(PATIENT, [v.APPROVED], codes={
            "type": [("X", "1.2.3.new")], "class": [("10", CLASS_SCHEME)]}))
        assert [d.entry_uuid for d in result] == [new_document.entry_uuid]
        assert [d.hash for d in registry_store.objects(
            uow, "document", PATIENT, [new_document.entry_uuid])] == [HEX_HASH]
    with engine.connect() as connection:
        after = dict(connection.execute(text("SELECT scheme, scheme_key FROM code_schemes")).all())
        assert after == {**schemes, "1.2.3.new": after["1.2.3.new"]}
        connection.execute(text("DELETE FROM document_entries WHERE unique_id = '1.2.2'"))
        connection.execute(text("DELETE FROM submission_sets WHERE unique_id = '1.5'"))
        connection.execute(text("DELETE FROM object_index WHERE unique_id IN ('1.2.2', '1.5')"))
        connection.commit()

    config = schema._config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0012")
    with engine.connect() as connection:
        assert _rows(connection) == before
        assert {bytes(x)[:1] for x in connection.execute(text(
            "SELECT xml FROM associations")).scalars()} == {CURRENT}
    engine.dispose()
