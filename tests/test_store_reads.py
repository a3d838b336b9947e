"""The store's reads by lists of ids (the Get* stored queries): right rows in registration order
on each database, and on PostgreSQL one SQL text whatever the number of ids, so psycopg prepares
each statement once instead of planning a new text for every count (issue 20)."""

from __future__ import annotations

import pytest

from xds_server.consumer.metadata import has_member
from xds_server.model.hl7 import patient_key
from xds_server.model.ids import urn_uuid
from xds_server.model.metadata import Submission
from xds_server.security.principal import SYSTEM
from xds_server.store import registry_store

from .registry_data import document, new_patient, submission_set


@pytest.fixture
def registered(app):
    """A patient with one submission of 12 documents; (app, patient key, entries)."""
    patient = new_patient()
    app.records.open(patient)
    package = submission_set(patient, urn_uuid())
    entries = [document(patient, urn_uuid()) for _ in range(12)]
    assert app.registry.register(Submission(package, entries, associations=[
        has_member(package.entry_uuid, entry.entry_uuid, entry_uuid=urn_uuid())
        for entry in entries]), SYSTEM) == []
    return app, patient_key(patient), entries


def _recording(monkeypatch) -> list[str]:
    texts: list[str] = []
    fetch = registry_store.fetch

    def recorded(connection, sql, params):
        texts.append(sql)
        return fetch(connection, sql, params)

    monkeypatch.setattr(registry_store, "fetch", recorded)
    return texts


def test_reads_by_ids_one_text_whatever_the_count(registered, monkeypatch):
    app, patient, entries = registered
    texts = _recording(monkeypatch)
    uuids = [entry.entry_uuid for entry in entries]
    unique_ids = [entry.unique_id for entry in entries]
    for count in (1, 5, 12):
        found = app.database.read(lambda uow, n=count: registry_store.objects(
            uow, "document", patient, uuids[:n]))
        assert [row.entry_uuid for row in found] == uuids[:count]    # registration order
        index = app.database.read(lambda uow, n=count: registry_store.find_by_unique_ids(
            uow, unique_ids[:n], "document"))
        assert sorted(entry.unique_id for entry in index) == sorted(unique_ids[:count])
        links = app.database.read(lambda uow, n=count: registry_store.associations_touching(
            uow, patient, uuids[:n]))
        assert sorted(row.target for row in links) == sorted(uuids[:count])
    distinct = len(set(texts))
    if app.database.engine.dialect.name == "postgresql":
        assert distinct == 3        # one text for each of the three reads
    else:
        assert distinct == 9        # SQLite's IN lists: a text for each count


def test_a_patients_associations_in_one_read(registered):
    app, patient, entries = registered
    links = app.database.read(lambda uow: registry_store.associations_of(uow, patient))
    assert sorted(row.target for row in links) == sorted(e.entry_uuid for e in entries)
    assert app.database.read(lambda uow: registry_store.associations_of(uow, "nobody")) == []


# --- the multi-valued attributes, in their object's row (0010) --------------------------------

@pytest.fixture
def coded(app):
    """Two documents with event codes and authors chosen to tell the filters apart."""
    from xds_server.model.metadata import Author, Code

    patient = new_patient()
    app.records.open(patient)
    package = submission_set(patient, urn_uuid())
    first = document(patient, urn_uuid(), event_codes=[Code("E_1", "1.2.3"), Code("X", "9.9")],
                     authors=[Author(person="8001^ALPHA^Ann"), Author(person="8002^BETA^Bob")])
    second = document(patient, urn_uuid(), event_codes=[Code("EX1", "1.2.3")],
                      authors=[Author(person="8003^GAMMA^Gil")])
    assert app.registry.register(Submission(package, [first, second], associations=[
        has_member(package.entry_uuid, e.entry_uuid, entry_uuid=urn_uuid())
        for e in (first, second)]), SYSTEM) == []
    return app, patient_key(patient), first, second, package


def _find(app, patient: str, **filters) -> list[str]:
    from xds_server.model.vocabulary import APPROVED
    from xds_server.store import queries

    found, _ = app.database.read(lambda uow: queries.find_documents(
        uow, queries.Filters(patient_id=patient, statuses=[APPROVED], **filters)))
    return [record.entry_uuid for record in found]


def test_value_filters_read_the_row_values(coded):
    app, patient, first, second, _ = coded
    a, b = first.entry_uuid, second.entry_uuid
    groups = "value_groups"
    assert _find(app, patient, **{groups: [("event_code", [("E_1", "1.2.3")])]}) == [a]
    assert _find(app, patient, **{groups: [("event_code", [("E_1", None)])]}) == [a]
    assert _find(app, patient, **{groups: [("event_code", [("X", None)])]}) == [a]
    # a code is no LIKE pattern: '_' is itself, with a scheme or without
    assert _find(app, patient, **{groups: [("event_code", [("EX1", None)])]}) == [b]
    assert _find(app, patient, **{groups: [("event_code", [("E_%", None)])]}) == []
    assert _find(app, patient, **{groups: [("event_code", [("X", "1.2.3")])]}) == []
    assert _find(app, patient, **{groups: [("event_code", [("E_1", "1.2.3")]),
                                           ("event_code", [("X", "9.9")])]}) == [a]
    # a pattern matches within one value, never across two authors
    patterns = "patterns"
    assert _find(app, patient, **{patterns: [("author_person", ["%BETA%"])]}) == [a]
    assert _find(app, patient, **{patterns: [("author_person", ["%ALPHA%BETA%"])]}) == []
    assert _find(app, patient, **{patterns: [("author_person", ["8003^%"])]}) == [b]


def test_authors_of_a_submission_set_come_from_its_row(coded):
    app, patient, first, _, package = coded
    authors = app.database.read(lambda uow: registry_store.authors_of(
        uow, patient, [package.entry_uuid, first.entry_uuid, "urn:uuid:none"]))
    assert authors[first.entry_uuid] == {"8001", "8002"}
    assert package.entry_uuid in authors and "urn:uuid:none" not in authors
