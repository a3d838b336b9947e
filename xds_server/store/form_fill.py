"""Rewrite the stored value of document rows registered before a new stored form existed
(`xds-server db fill-forms`: the FHIR DocumentReference kept beside the LeafClass, issue 16).
No table changes: the value is the same column, in a newer format that old code reads as well.

Batches in key order (patient, entryUUID), each its own transaction: resumable, and a server
may run meanwhile. Each row is written only if its value is still the one read (a merge that
moved or rewrote it meanwhile wrote both forms itself)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import and_, bindparam, literal, select, tuple_, update

from .database import Database
from .tables import document_entries

_WRITE = update(document_entries).where(and_(
    document_entries.c.patient_key == bindparam("p"),
    document_entries.c.entry_uuid == bindparam("u"),
    document_entries.c.xml == bindparam("old"))).values(xml=bindparam("new"))


@dataclass
class FillProgress:
    read: int = 0
    written: int = 0
    done: bool = False


def fill_document_forms(database: Database, refill: Callable[[bytes], bytes | None],
                        batch: int = 1000, seconds: float | None = None,
                        progress: Callable[[FillProgress], None] = lambda _: None
                        ) -> FillProgress:
    """Every document row's value through `refill` (None: the row stays); stops after
    `seconds` at a batch boundary (run again to go on)."""
    table = document_entries
    state = FillProgress()
    last: tuple[int, str] | None = None
    deadline = None if seconds is None else time.monotonic() + seconds
    while deadline is None or time.monotonic() < deadline:
        query = select(table.c.patient_key, table.c.entry_uuid, table.c.xml) \
            .order_by(table.c.patient_key, table.c.entry_uuid).limit(batch)
        if last is not None:    # a row value: the primary key's index, where an OR of the
            query = query.where(    # two columns scanned every row left (quadratic at 10^6)
                tuple_(table.c.patient_key, table.c.entry_uuid) > tuple_(
                    literal(last[0], table.c.patient_key.type),    # the stored forms: an
                    literal(last[1], table.c.entry_uuid.type)))    # untyped id compared as text
        with database.transaction() as uow:
            rows = list(uow.connection.execute(query))
            changes = []
            for row in rows:
                stored = bytes(row.xml)
                new = refill(stored)
                if new is not None and new != stored:
                    changes.append({"p": row.patient_key, "u": row.entry_uuid, "old": stored,
                                    "new": new})
            if changes:         # one statement, its rows sent together
                uow.connection.execute(_WRITE, changes)
            state.written += len(changes)
        state.read += len(rows)
        if len(rows) < batch:
            state.done = True
            break
        last = (rows[-1].patient_key, rows[-1].entry_uuid)
        progress(state)
    return state
