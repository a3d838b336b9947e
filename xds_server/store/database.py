"""Database engines: one place that knows how SQLite and PostgreSQL are set up, and the only
face of them the actors see: a `Database` that hands out units of work.

SQLite runs in WAL mode with foreign keys on and a busy timeout, so several gunicorn workers can
share the embedded database; PostgreSQL uses a pre-pinged pool. The actors never hold a
connection or a row: they open a `UnitOfWork` (one transaction, or one read) and pass it to the
store's functions, which take and return model objects. A database that is down or refuses a
write reaches them as `StoreUnavailable` or `StoreConflict`, whatever the driver.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import psycopg
from psycopg.rows import tuple_row
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

T = TypeVar("T")


LOCK_WAIT = 30.0


CONNECT_TIMEOUT = 10     # seconds: a PostgreSQL connection made, or "cannot reach the database"


def connect_timeout(url: str) -> dict[str, object]:
    """A PostgreSQL connection's time limit, unless the URL sets one: a database that accepts
    the connection and never answers held `serve` and every command for ever (issue 18, m4);
    libpq's connect_timeout bounds the whole connection, start-up answer included."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql" or "connect_timeout" in parsed.query:
        return {}
    return {"connect_timeout": CONNECT_TIMEOUT}


def make_engine(url: str, lock_wait: float = LOCK_WAIT) -> Engine:
    """`lock_wait`: the seconds a statement waits for a lock another writer holds (SQLite's
    busy timeout; PostgreSQL's lock_timeout when not the default) before StoreUnavailable."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": lock_wait})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(connection: Connection) -> None:
            # A writer's transaction begins IMMEDIATE (store/locks.py): it holds the database
            # from its first read, where sqlite3 would begin only at the first write, after
            # the checks had read a state another writer could change before this one writes.
            if connection.get_execution_options().get("sqlite_begin") == "IMMEDIATE":
                connection.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    connect_args: dict[str, object] = connect_timeout(url)
    if lock_wait != LOCK_WAIT:     # added to the URL's own options (a search_path, …)
        given = parsed.query.get("options", "")
        given = " ".join(given) if isinstance(given, tuple) else given
        connect_args["options"] = f"{given} -c lock_timeout=" \
                                  f"{max(1, int(lock_wait * 1000))}".strip()
    return create_engine(url, pool_pre_ping=False, pool_size=5, max_overflow=5,
                         connect_args=connect_args)


@contextlib.contextmanager
def wal_files_held(url: str) -> Iterator[None]:
    """SQLite: one connection open for as long as the server runs (its master holds it). SQLite
    deletes the -wal and -shm files when the last connection closes, and a worker whose first
    connection came after the disk filled could not make them again: every query answered
    'busy' on a full disk. Held open, they stay, and reads go on (issue 18)."""
    import sqlite3

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        yield
        return
    connection = sqlite3.connect(parsed.database)
    try:
        connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
        yield
    finally:
        connection.close()


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


def fetch(connection: Connection, sql: str, params: Sequence[object]) -> list[tuple]:
    """The rows, as plain tuples, of a hot-path query written as SQL text.

    On PostgreSQL the rows come in binary format: the stored XML arrives as bytes, not as hex
    text to decode (a third of a FindDocuments' CPU on 130 KB of LeafClass)."""
    if connection.dialect.name == "postgresql":
        # one binary cursor per database connection, kept in the pool's per-connection info
        # (making one for each query cost ~15 us of a 60 us lookup)
        info = connection.connection.info
        cursor = info.get("xds.binary_cursor")
        if cursor is None or cursor.closed:
            cursor = info["xds.binary_cursor"] = connection.connection.driver_connection.cursor(
                binary=True, row_factory=tuple_row)
        return cursor.execute(sql, tuple(params)).fetchall()
    return connection.exec_driver_sql(sql, tuple(params)).fetchall()


def fetch_several(connection: Connection,
                  statements: Sequence[tuple[str, Sequence[object]]]) -> list[list[tuple]]:
    """The rows of several independent reads, in their order, as `fetch` gives them.

    On PostgreSQL they go in one pipeline: the server runs each while the client still reads
    the one before, and a GetAll's four reads cost one wait for an answer instead of four
    (each wait a chance to lose the core on a busy machine). On an autocommit connection
    each statement keeps its own snapshot, as when sent one by one."""
    if connection.dialect.name != "postgresql" or len(statements) < 2:
        return [fetch(connection, sql, params) for sql, params in statements]
    driver = connection.connection.driver_connection
    info = connection.connection.info
    cursors: list[Any] = [c for c in info.get("xds.pipeline_cursors", []) if not c.closed]
    while len(cursors) < len(statements):   # one cursor a result, kept like fetch's
        cursors.append(driver.cursor(binary=True, row_factory=tuple_row))
    info["xds.pipeline_cursors"] = cursors
    used = cursors[:len(statements)]
    with driver.pipeline():
        for cursor, (sql, params) in zip(used, statements, strict=True):
            cursor.execute(sql, tuple(params))
    return [cursor.fetchall() for cursor in used]


class Read(NamedTuple):
    """One read a caller may send with others (`read_together`): its SQL in the driver's
    style, its parameters, and what makes its rows into the caller's records."""

    sql: str
    params: Sequence[object]
    make: Callable[[list[tuple]], Any]


def read_together(uow: UnitOfWork, reads: Sequence[Read]) -> list[Any]:
    """Each read's records, the statements sent together (`fetch_several`)."""
    rows = fetch_several(uow.connection, [(read.sql, read.params) for read in reads])
    return [read.make(found) for read, found in zip(reads, rows, strict=True)]


@contextlib.contextmanager
def pipelined(uow: UnitOfWork) -> Iterator[None]:
    """On PostgreSQL (psycopg 3), send the writes of a transaction without waiting for each
    answer: one round trip instead of one per statement. Elsewhere, nothing changes."""
    driver = uow.connection.connection.driver_connection
    pipeline = getattr(driver, "pipeline", None)
    if uow.dialect != "postgresql" or pipeline is None:
        yield
        return
    with pipeline():
        yield


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


_COUNTED = "xds_counted_in_use"     # a pool record's mark: its checkout was counted (watch_pool)


class StoreUnavailable(Exception):
    """The database cannot be reached or gave up (down, restarting, out of connections)."""


class StoreFull(StoreUnavailable):
    """The database's disk is full (SQLITE_FULL, PostgreSQL disk_full): not a moment's
    unavailability but the operator's to fix, so it is told apart (an ERROR, not 'busy')."""

    disk_full = True     # model/errors.is_disk_full: every front answers "storage full"


# SQLite's SQLITE_FULL primary code; PostgreSQL's disk_full SQLSTATE
_SQLITE_FULL = 13
_PG_DISK_FULL = "53100"


def _disk_full(exc: BaseException) -> bool:
    original = getattr(exc, "orig", None) or exc
    if getattr(original, "sqlite_errorcode", None) is not None:
        return original.sqlite_errorcode & 0xFF == _SQLITE_FULL
    if getattr(original, "sqlstate", None) == _PG_DISK_FULL:
        return True
    return "database or disk is full" in str(original)


class StoreConflict(Exception):
    """A write collided with another one (a key written concurrently)."""


class UnitOfWork:
    """One transaction, or one read, as the store's functions take it. Opaque to the actors:
    what is inside is the store's business."""

    __slots__ = ("connection", "forward_audits", "written")

    def __init__(self, connection: Connection, forward_audits: bool = False) -> None:
        self.connection = connection
        self.forward_audits = forward_audits    # audit records written here queue for ATNA
        # while a check needs to know it (registry/signed_state.py): each registry object the
        # store's writes insert, change or delete here (store/signed_reads.py: Written)
        self.written: list[Any] | None = None

    @property
    def dialect(self) -> str:
        return self.connection.dialect.name


@contextlib.contextmanager
def _translated() -> Iterator[None]:
    """The driver's failures as the store's own exceptions."""
    try:
        yield
    except IntegrityError as exc:
        raise StoreConflict(str(exc.orig)) from exc
    except (OperationalError, psycopg.OperationalError) as exc:
        if _disk_full(exc):
            raise StoreFull(str(exc)) from exc
        raise StoreUnavailable(str(exc)) from exc


class Database:
    """The registry's database: units of work for the actors, and one kept autocommit
    connection per thread for one-statement reads (shared by every actor of a process)."""

    def __init__(self, engine: Engine, forward_audits: bool = False) -> None:
        """`forward_audits`: the audit records written through this database are queued for
        the audit record repository (XDS_ATNA_URL), in the transaction that writes them."""
        self.engine = engine
        self.forward_audits = forward_audits
        self._reads = ReadConnection(engine)
        self._writes = engine.execution_options(sqlite_begin="IMMEDIATE")

    @classmethod
    def from_url(cls, url: str, forward_audits: bool = False,
                 lock_wait: float = LOCK_WAIT) -> Database:
        return cls(make_engine(url, lock_wait), forward_audits)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[UnitOfWork]:
        """One transaction: committed when the block ends, rolled back if it raises. On SQLite
        it holds the database from its first statement (writers take turns: store/locks.py)."""
        with _translated(), self._writes.begin() as connection:
            yield UnitOfWork(connection, self.forward_audits)

    @contextlib.contextmanager
    def reading(self) -> Iterator[UnitOfWork]:
        """Several reads that see one state of the database."""
        with _translated(), self.engine.connect() as connection:
            yield UnitOfWork(connection)

    def read(self, work: Callable[[UnitOfWork], T]) -> T:
        """One read on the kept connection: no pool checkout, no BEGIN; `work` must be safe to
        run twice (it is, once, if the connection turns out lost)."""
        with _translated():
            return self._reads.run(lambda connection: work(UnitOfWork(connection)))

    def read_several(self, work: Callable[[UnitOfWork], T]) -> T:
        """Reads of several statements (the Get* stored queries). On PostgreSQL, on the kept
        connection like `read`: a READ COMMITTED transaction gave every statement its own
        snapshot anyway, so the transaction bought nothing but a pool checkout and its BEGIN
        and ROLLBACK round trips (a third of a GetDocuments). On SQLite, where a transaction
        is one snapshot, a transaction (`reading`). `work` must be safe to run twice."""
        if self.engine.dialect.name == "postgresql":
            return self.read(work)
        with self.reading() as uow:
            return work(uow)

    def check(self) -> tuple[bool, str]:
        return check_database(self.engine)

    def watch_pool(self, in_use: Callable[[int], None], capacity: Callable[[int], None]
                   ) -> None:
        """Report connections checked out (+1, -1 as they come and go) and the pool's capacity
        (the metrics): SQLAlchemy's pool events, so every actor's use counts."""
        pool = self.engine.pool
        size = getattr(pool, "size", None)
        overflow = getattr(pool, "_max_overflow", 0)
        if callable(size):
            capacity(size() + max(overflow, 0))
            self._capacity_watch = capacity     # back to 0 when disposed
        # a connection checked out before these listeners were set (the ATNA forwarder's
        # thread, this process's kept reads) was checked in as -1 it never added: the gauge
        # went negative (issue 18, m17). Only what was counted out is counted back.

        def checked_out(_dbapi: object, record: Any, _proxy: object) -> None:
            record.info[_COUNTED] = True
            in_use(1)

        def checked_in(_dbapi: object, record: Any) -> None:
            if record.info.pop(_COUNTED, False):
                in_use(-1)

        event.listen(pool, "checkout", checked_out)
        event.listen(pool, "checkin", checked_in)

    def dispose(self) -> None:
        self._reads.close()
        self.engine.dispose()
        # a disposed pool opens nothing: `serve`'s master, which recovers the repository with
        # an application of its own and lives on, counted its pool in xds_db_connections_max
        if (watch := getattr(self, "_capacity_watch", None)) is not None:
            watch(0)
