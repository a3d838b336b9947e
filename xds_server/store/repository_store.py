"""Rows of the repository's document table, as model `HeldDocument`s."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from ..model.errors import ErrorCode
from ..model.held import COMMITTED, PENDING, HeldDocument
from .database import UnitOfWork, fetch, param_mark
from .tables import repository_documents
from .widths import check_widths

# HeldDocument field → column
COLUMNS = (("unique_id", "unique_id"), ("key", "blob_key"), ("size", "size"), ("hash", "hash"),
           ("mime_type", "mime_type"), ("state", "state"), ("patient_id", "patient_id"),
           ("submitter", "submitter"), ("organisation", "organisation"),
           ("source_id", "source_id"), ("authors", "authors"))
_SELECT = "SELECT " + ", ".join(column for _, column in COLUMNS) + " FROM repository_documents"


def add_documents(uow: UnitOfWork, documents: Sequence[HeldDocument],
                  if_absent: bool = False) -> None:
    """Record held documents, all in one statement (a signed set holds two: a statement
    built and compiled per row cost as much as the rows); `if_absent` leaves an existing row
    (the same document resubmitted, which the registry has already checked has the same hash)
    untouched."""
    if not documents:
        return
    now = dt.datetime.now(dt.UTC)
    rows = [{**{column: getattr(document, name) for name, column in COLUMNS}, "stored_at": now}
            for document in documents]
    check_widths(repository_documents, rows, "document",
                 code=ErrorCode.REPOSITORY_METADATA_ERROR)
    uow.connection.execute(_ADD_IF_ABSENT[uow.dialect] if if_absent else _ADD, rows)


_ADD = insert(repository_documents)
_ADD_IF_ABSENT = {dialect: make(repository_documents).on_conflict_do_nothing(
    index_elements=["unique_id"])
    for dialect, make in (("postgresql", postgresql_insert), ("sqlite", sqlite_insert))}


def mark_committed(uow: UnitOfWork, unique_ids: Sequence[str]) -> None:
    uow.connection.execute(update(repository_documents)
                           .where(repository_documents.c.unique_id.in_(list(unique_ids)))
                           .values(state=COMMITTED))


def remove(uow: UnitOfWork, unique_ids: Sequence[str]) -> None:
    uow.connection.execute(delete(repository_documents)
                           .where(repository_documents.c.unique_id.in_(list(unique_ids))))


def documents(uow: UnitOfWork, unique_ids: Sequence[str],
              lock: bool = False) -> dict[str, HeldDocument]:
    """The documents held under these uniqueIds. Plain SQL text: every retrieval of a document
    the store cannot open asks this, and building a Core expression costs more than the
    lookup. `lock`: their rows are locked until the transaction ends (PostgreSQL's FOR
    UPDATE; a SQLite write transaction holds the whole database already)."""
    if not unique_ids:
        return {}
    marks = ", ".join([param_mark(uow.connection)] * len(unique_ids))
    locking = " FOR UPDATE" if lock and uow.dialect == "postgresql" else ""
    return {row[0]: HeldDocument(*row) for row in fetch(
        uow.connection, f"{_SELECT} WHERE unique_id IN ({marks}){locking}", list(unique_ids))}


def held_for_patient(uow: UnitOfWork, patient_id: str,
                     unique_ids: Sequence[str]) -> dict[str, HeldDocument]:
    """The documents held under these uniqueIds for this patient (the registry's patient key),
    locked against removal until the transaction ends (PostgreSQL's FOR SHARE; a SQLite write
    transaction holds the whole database already). Keyed by the patient: a registry check
    never learns of another patient's bytes."""
    if not unique_ids:
        return {}
    mark = param_mark(uow.connection)
    marks = ", ".join([mark] * len(unique_ids))
    locking = " FOR SHARE" if uow.dialect == "postgresql" else ""
    return {row[0]: HeldDocument(*row) for row in fetch(
        uow.connection, f"{_SELECT} WHERE patient_id = {mark} AND unique_id IN ({marks})"
                        f"{locking}", [patient_id, *unique_ids])}


def committed_key(uow: UnitOfWork, key: str) -> bool:
    """Whether a committed document has this document-store key (a sweep asks)."""
    return uow.connection.execute(
        select(repository_documents.c.unique_id)
        .where(repository_documents.c.blob_key == key,
               repository_documents.c.state == COMMITTED).limit(1)).first() is not None


def pending(uow: UnitOfWork, older_than: dt.datetime) -> list[HeldDocument]:
    """Documents stored for a remote registry that has not answered since `older_than`."""
    columns = [repository_documents.c[column] for _, column in COLUMNS]
    return [HeldDocument(*row) for row in uow.connection.execute(select(*columns).where(
        repository_documents.c.state == PENDING,
        repository_documents.c.stored_at < older_than))]


def stored_totals(uow: UnitOfWork) -> tuple[int, int]:
    """(documents, bytes) the repository holds, committed ones (the metrics)."""
    row = uow.connection.execute(
        select(func.count(), func.coalesce(func.sum(repository_documents.c.size), 0))
        .where(repository_documents.c.state == COMMITTED)).one()
    return int(row[0]), int(row[1])
