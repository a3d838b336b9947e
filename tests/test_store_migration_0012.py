"""Migration 0012 (issue 18 R3): the repository's rows keep who stored each document; a row
stored before it keeps empty values (an administrator's alone to remove, security/access.py),
and comes back unchanged from a downgrade."""

from __future__ import annotations

import datetime as dt

from alembic import command
from sqlalchemy import column, insert, inspect, table

from xds_server.model.held import HeldDocument
from xds_server.store import repository_store, schema
from xds_server.store.database import Database, make_engine

OLD_ROW = {"unique_id": "1.2.3.11", "blob_key": "k" * 40, "size": 3, "hash": "a" * 40,
           "mime_type": "text/plain", "state": "committed",
           "stored_at": dt.datetime(2026, 1, 1, tzinfo=dt.UTC)}


def test_0012_keeps_old_rows_with_no_submitter(database_url):
    engine = make_engine(database_url)
    schema.migrate_to(engine, "0011")
    with engine.begin() as connection:
        connection.execute(insert(table("repository_documents",
                                        *(column(name) for name in OLD_ROW))), [OLD_ROW])
    schema.migrate(engine)       # to head: the rows are read with every later column
    database = Database(engine)
    with database.transaction() as uow:
        held = repository_store.documents(uow, ["1.2.3.11"])
    assert held == {"1.2.3.11": HeldDocument("1.2.3.11", "k" * 40, 3, "a" * 40, "text/plain")}
    assert (held["1.2.3.11"].patient_id, held["1.2.3.11"].submitter) == ("", "")
    config = schema._config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0011")
    names = {c["name"] for c in inspect(engine).get_columns("repository_documents")}
    assert not names & {"patient_id", "submitter", "organisation", "source_id"}
