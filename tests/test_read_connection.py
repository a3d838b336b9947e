"""The kept read connection: one per thread, reused across requests, and replaced (the read
tried once more) when the database dropped it."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from xds_server.store.database import ReadConnection, fetch, fetch_several, make_engine

from .conftest import DATABASES, database_for


@pytest.mark.parametrize("kind", DATABASES)
def test_the_connection_is_kept_across_reads(kind, tmp_path):
    with database_for(kind, tmp_path) as url:
        engine = make_engine(url)
        reads = ReadConnection(engine)
        first = reads.run(lambda c: c.connection.driver_connection)
        assert reads.run(lambda c: c.execute(text("SELECT 1")).scalar()) == 1
        assert reads.run(lambda c: c.connection.driver_connection) is first
        reads.close()
        engine.dispose()


@pytest.mark.skipif("postgresql" not in DATABASES, reason="needs the PostgreSQL server")
def test_a_connection_the_server_dropped_is_replaced(tmp_path):
    with database_for("postgresql", tmp_path) as url:
        engine = make_engine(url)
        reads = ReadConnection(engine)
        backend = reads.run(lambda c: c.execute(text("SELECT pg_backend_pid()")).scalar())
        with engine.connect() as admin:
            admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend})
            admin.commit()
        again = reads.run(lambda c: c.execute(text("SELECT pg_backend_pid()")).scalar())
        assert again != backend
        with engine.connect() as admin:     # the hot-path reads go to the driver directly
            admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": again})
            admin.commit()
        third = reads.run(lambda c: fetch(c, "SELECT pg_backend_pid()", [])[0][0])
        assert third not in (backend, again)
        reads.close()
        engine.dispose()


def test_an_error_of_the_query_itself_is_not_retried(tmp_path):
    with database_for("sqlite", tmp_path) as url:
        engine = make_engine(url)
        reads = ReadConnection(engine)
        calls = []

        def bad(connection):
            calls.append(1)
            return connection.execute(text("SELECT * FROM no_such_table")).all()

        with pytest.raises(Exception, match="no_such_table"):
            reads.run(bad)
        assert calls == [1]
        assert reads.run(lambda c: c.execute(text("SELECT 2")).scalar()) == 2
        reads.close()
        engine.dispose()


@pytest.mark.parametrize("kind", DATABASES)
def test_reads_sent_together_answer_as_one_by_one(kind, tmp_path):
    """fetch_several (a pipeline on PostgreSQL): each read's rows, in order, as fetch gives
    them; a failing read fails the call and leaves the connection usable, and so does a
    dropped connection (the read is tried once more on a new one)."""
    mark = "%s" if kind == "postgresql" else "?"
    statements = [(f"SELECT {mark} + 1", [1]), ("SELECT 10 UNION ALL SELECT 20", []),
                  (f"SELECT {mark}", ["x"])]
    with database_for(kind, tmp_path) as url:
        engine = make_engine(url)
        reads = ReadConnection(engine)
        for _ in range(7):             # past psycopg's threshold: the prepared statements too
            together = reads.run(lambda c: fetch_several(c, statements))
            assert together == reads.run(lambda c: [fetch(c, s, p) for s, p in statements])
            assert together == [[(2,)], [(10,), (20,)], [("x",)]]
        with pytest.raises(Exception, match="no_such_table"):
            reads.run(lambda c: fetch_several(c, [statements[0],
                                                  ("SELECT * FROM no_such_table", [])]))
        assert reads.run(lambda c: fetch_several(c, statements))[2] == [("x",)]
        if kind == "postgresql":
            backend = reads.run(lambda c: fetch(c, "SELECT pg_backend_pid()", [])[0][0])
            with engine.connect() as admin:
                admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend})
                admin.commit()
            assert reads.run(lambda c: fetch_several(c, statements))[1] == [(10,), (20,)]
        reads.close()
        engine.dispose()
