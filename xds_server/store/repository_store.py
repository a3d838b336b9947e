"""Rows of the repository's document table."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Row

from .database import fetch, param_mark
from .tables import repository_documents

PENDING = "pending"
COMMITTED = "committed"


def add_document(connection: Connection, *, unique_id: str, blob_key: str, size: int,
                 sha1: str, mime_type: str, state: str = COMMITTED,
                 if_absent: bool = False) -> None:
    """Record a held document; `if_absent` leaves an existing row (the same document
    resubmitted, which the registry has already checked has the same hash) untouched."""
    values = {"unique_id": unique_id, "blob_key": blob_key, "size": size, "hash": sha1,
              "mime_type": mime_type, "state": state, "stored_at": dt.datetime.now(dt.UTC)}
    if not if_absent:
        connection.execute(insert(repository_documents).values(**values))
        return
    dialect_insert = {"postgresql": postgresql_insert, "sqlite": sqlite_insert}[
        connection.dialect.name]
    connection.execute(dialect_insert(repository_documents).values(**values)
                       .on_conflict_do_nothing(index_elements=["unique_id"]))


def mark_committed(connection: Connection, unique_ids: list[str]) -> None:
    connection.execute(update(repository_documents)
                       .where(repository_documents.c.unique_id.in_(unique_ids))
                       .values(state=COMMITTED))


def remove(connection: Connection, unique_ids: list[str]) -> None:
    connection.execute(delete(repository_documents)
                       .where(repository_documents.c.unique_id.in_(unique_ids)))


def documents(connection: Connection, unique_ids: list[str]) -> dict[str, Row]:
    """The rows for these uniqueIds. Plain SQL text: every retrieval asks this, and building a
    Core expression costs more than the lookup."""
    if not unique_ids:
        return {}
    marks = ", ".join([param_mark(connection)] * len(unique_ids))
    text = ("SELECT unique_id, blob_key, size, hash, mime_type, state FROM repository_documents"
            f" WHERE unique_id IN ({marks})")
    return {row.unique_id: row for row in fetch(connection, text, unique_ids)}


def committed_key(connection: Connection, blob_key: str) -> bool:
    return connection.execute(
        select(repository_documents.c.unique_id)
        .where(repository_documents.c.blob_key == blob_key,
               repository_documents.c.state == COMMITTED).limit(1)).first() is not None


def pending(connection: Connection, older_than: dt.datetime) -> list[Row]:
    return list(connection.execute(select(repository_documents).where(
        repository_documents.c.state == PENDING, repository_documents.c.stored_at < older_than)))
