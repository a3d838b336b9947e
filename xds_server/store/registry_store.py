"""Reads and writes of registry rows. Every function takes an open connection: the caller owns the
transaction, so a submission is written all or nothing."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, and_, delete, insert, select, update
from sqlalchemy.engine import Row

from ..model.hl7 import patient_key
from ..model.patients import OPEN
from . import records_store
from .database import UnitOfWork
from .tables import (
    OBJECT_TABLES,
    associations,
    document_entries,
    folders,
    object_index,
    object_values,
    submission_sets,
)

__all__ = ["OPEN", "patient_key"]   # read here by the registry, beside patient_status


def patient_status(connection: Connection, patient_id: str) -> str | None:
    """records_store.patient_status within the registry's connection."""
    return records_store.patient_status(UnitOfWork(connection), patient_id)


# --- the object index -------------------------------------------------------------------------

@dataclass(frozen=True)
class IndexEntry:
    entry_uuid: str
    unique_id: str | None
    kind: str
    patient_id: str


def find_by_uuids(connection: Connection, uuids: Iterable[str]) -> dict[str, IndexEntry]:
    wanted = list(set(uuids))
    found: dict[str, IndexEntry] = {}
    if not wanted:
        return found
    for start in range(0, len(wanted), 500):
        rows = connection.execute(select(object_index)
                                  .where(object_index.c.entry_uuid.in_(wanted[start:start + 500])))
        for row in rows:
            found[row.entry_uuid] = IndexEntry(row.entry_uuid, row.unique_id, row.kind,
                                               row.patient_id)
    return found


def find_existing(connection: Connection, uuids: Iterable[str],
                  unique_ids: Iterable[str]) -> list[IndexEntry]:
    """Index entries having one of these entryUUIDs or uniqueIds: one round trip for both."""
    query = select(object_index).where(object_index.c.entry_uuid.in_(list(set(uuids)))
                                       | object_index.c.unique_id.in_(list(set(unique_ids))))
    return [IndexEntry(r.entry_uuid, r.unique_id, r.kind, r.patient_id)
            for r in connection.execute(query)]


def find_by_unique_ids(connection: Connection, unique_ids: Iterable[str],
                       kind: str | None = None) -> list[IndexEntry]:
    wanted = list(set(unique_ids))
    query = select(object_index).where(object_index.c.unique_id.in_(wanted))
    if kind:
        query = query.where(object_index.c.kind == kind)
    return [IndexEntry(r.entry_uuid, r.unique_id, r.kind, r.patient_id)
            for r in connection.execute(query)]


# --- object rows ------------------------------------------------------------------------------

def object_rows(connection: Connection, kind: str, patient_id: str, values: Sequence[str],
                by: str = "entry_uuid") -> list[Row]:
    """One patient's objects of `kind` whose `by` column (entry_uuid, unique_id or logical_id,
    the last giving every version) is one of `values`, in registration order."""
    table = OBJECT_TABLES[kind]
    if not values:
        return []
    return list(connection.execute(
        select(table).where(and_(table.c.patient_id == patient_id,
                                 table.c[by].in_(list(values))))
        .order_by(table.c.registered_seq)))


def documents_by_unique_id(connection: Connection, patient_id: str, unique_id: str) -> list[Row]:
    return list(connection.execute(
        select(document_entries).where(and_(document_entries.c.patient_id == patient_id,
                                            document_entries.c.unique_id == unique_id))))


def associations_touching(connection: Connection, patient_id: str, uuids: Sequence[str],
                          side: str = "both") -> list[Row]:
    """Associations whose source and/or target is one of `uuids`."""
    if not uuids:
        return []
    uuids = list(uuids)
    condition = {"source": associations.c.source.in_(uuids),
                 "target": associations.c.target.in_(uuids)}
    where = (condition["source"] | condition["target"]) if side == "both" else condition[side]
    return list(connection.execute(
        select(associations).where(and_(associations.c.patient_id == patient_id, where))
        .order_by(associations.c.registered_seq)))


def set_status(connection: Connection, kind: str, patient_id: str, uuids: Sequence[str],
               status: str) -> None:
    table = OBJECT_TABLES[kind]
    connection.execute(update(table).where(and_(table.c.patient_id == patient_id,
                                                table.c.entry_uuid.in_(list(uuids))))
                       .values(status=status))


def touch_folders(connection: Connection, patient_id: str, uuids: Sequence[str],
                  timestamp: str) -> None:
    connection.execute(update(folders).where(and_(folders.c.patient_id == patient_id,
                                                  folders.c.entry_uuid.in_(list(uuids))))
                       .values(last_update_time=timestamp))


class SequenceClock:
    """Registration order without a shared counter row (which would serialise all writers)."""

    def __init__(self) -> None:
        self._base = time.time_ns() // 1000 * 1000
        self._next = 0

    def __call__(self) -> int:
        self._next += 1
        return self._base + self._next


def insert_rows(connection: Connection, *, documents: list[dict], sets: list[dict],
                folder_rows: list[dict], association_rows: list[dict], values: list[dict],
                index: list[dict]) -> None:
    for table, rows in ((document_entries, documents), (submission_sets, sets),
                        (folders, folder_rows), (associations, association_rows),
                        (object_values, values), (object_index, index)):
        if rows:
            connection.execute(insert(table), rows)


def delete_objects(connection: Connection, patient_id: str, by_kind: dict[str, list[str]]) -> None:
    """Remove registry objects for good (ITI-62): their rows, multi-valued attributes and index
    entries."""
    for kind, uuids in by_kind.items():
        table = OBJECT_TABLES[kind]
        connection.execute(delete(table).where(and_(table.c.patient_id == patient_id,
                                                    table.c.entry_uuid.in_(uuids))))
    every = [u for uuids in by_kind.values() for u in uuids]
    connection.execute(delete(object_values).where(and_(object_values.c.patient_id == patient_id,
                                                        object_values.c.entry_uuid.in_(every))))
    connection.execute(delete(object_index).where(object_index.c.entry_uuid.in_(every)))
