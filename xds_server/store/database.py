"""Database engines: one place that knows how SQLite and PostgreSQL are set up.

SQLite runs in WAL mode with foreign keys on and a busy timeout, so several gunicorn workers can
share the embedded database; PostgreSQL uses a pre-pinged pool.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import psycopg
from psycopg.rows import namedtuple_row
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

T = TypeVar("T")


def make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=False, pool_size=5, max_overflow=5)


def check_database(engine: Engine) -> tuple[bool, str]:
    """(reachable, detail) for /health: a round trip, never an exception."""
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return True, engine.dialect.name
    except Exception as exc:  # reported in /health, never raised
        return False, f"{engine.dialect.name}: {type(exc).__name__}"


def param_mark(connection: Connection) -> str:
    """The driver's positional placeholder: '?' for sqlite3, '%s' for psycopg."""
    return "?" if connection.dialect.paramstyle == "qmark" else "%s"


def fetch(connection: Connection, sql: str, params: Sequence[object]) -> list[Any]:
    """Rows (attribute access by column name) of a hot-path query written as SQL text.

    On PostgreSQL the rows come in binary format: the stored XML arrives as bytes, not as hex
    text to decode (a third of a FindDocuments' CPU on 130 KB of LeafClass)."""
    if connection.dialect.name == "postgresql":
        # one binary cursor per database connection, kept in the pool's per-connection info
        # (making one for each query cost ~15 us of a 60 us lookup)
        info = connection.connection.info
        cursor = info.get("xds.binary_cursor")
        if cursor is None or cursor.closed:
            cursor = info["xds.binary_cursor"] = connection.connection.driver_connection.cursor(
                binary=True, row_factory=namedtuple_row)
        return cursor.execute(sql, tuple(params)).fetchall()
    return list(connection.exec_driver_sql(sql, tuple(params)))


class ReadConnection:
    """One autocommit connection per thread, kept across requests, for one-statement reads.

    Checking a connection out of SQLAlchemy's pool and back (events, isolation level set and
    reset) costs about as much CPU as the lookup of an ITI-43 retrieval. A connection lost
    (the database restarted, an idle timeout) is dropped and the read tried once more on a new
    one: the work given to `run` must be a read, safe to repeat."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._local = threading.local()

    def run(self, work: Callable[[Connection], T]) -> T:
        for attempt in (1, 2):
            connection = self._connection()
            try:
                return work(connection)
            except (DBAPIError, psycopg.Error):
                if attempt == 2 or not _unusable(connection):
                    raise
                self.close()            # lost: try once more on a new connection
            finally:
                if not connection.closed and connection.in_transaction():
                    connection.rollback()   # ends SQLAlchemy's autobegun state; sends nothing
        raise AssertionError("unreachable")

    def _connection(self) -> Connection:
        # a connection the server dropped since is found by the read that fails on it
        connection: Connection | None = getattr(self._local, "connection", None)
        if connection is None or connection.closed or connection.invalidated:
            if connection is not None:
                self.close()
            connection = self._engine.connect()
            self._local.connection = connection
        return connection

    def close(self) -> None:
        """Give this thread's connection back (or discard it when it is broken)."""
        connection: Connection | None = getattr(self._local, "connection", None)
        self._local.connection = None
        if connection is None:
            return
        try:
            if _unusable(connection) and not connection.invalidated:
                connection.invalidate()
            connection.close()
        except Exception:   # closing a broken connection may fail again; it is gone anyway
            pass


def _unusable(connection: Connection) -> bool:
    if connection.closed or connection.invalidated:
        return True
    driver = connection.connection.driver_connection
    return bool(getattr(driver, "broken", False) or getattr(driver, "closed", False))
