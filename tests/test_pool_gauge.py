"""xds_db_connections_in_use never goes negative (issue 18, outsider minor 17): a connection
checked out before the pool was watched (the ATNA forwarder's thread at start-up) was counted
back in as -1 it never added."""

from __future__ import annotations

from xds_server.store.database import Database


def test_a_connection_out_before_the_watch_is_not_counted_back(tmp_path):
    database = Database.from_url(f"sqlite:///{tmp_path / 'db.sqlite'}")
    early = database.engine.connect()          # out before the metrics watch the pool
    counted: list[int] = []
    database.watch_pool(counted.append, lambda _capacity: None)
    later = database.engine.connect()
    early.close()
    later.close()
    assert sum(counted) == 0 and counted == [1, -1]
    database.dispose()
