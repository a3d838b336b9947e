"""The database URL goes through the one URL rule, and a database that never answers is given
up on (issue 18, outsider minors 2-4): postgres:// was an internal error (no such module),
port 0 went to 5432 silently, a line break split the error over two lines, and a database that
accepted the connection and never answered held every command and `serve` for ever."""

from __future__ import annotations

import socket
import time

import pytest
from sqlalchemy.exc import OperationalError

from xds_server.config_values import parse_database_url
from xds_server.store import database


@pytest.mark.parametrize("url, said", [
    ("postgres://x", "a postgres database is not supported: give sqlite:///PATH or "
                     "postgresql+psycopg://"),
    ("postgres+psycopg://u@h/x", "not supported"),
    ("postgresql+psycopg://root@127.0.0.1:0/t", "the port is not a number between 1 and 65535"),
    ("postgresql+psycopg://root@127.0.0.1:70000/t", "the port is not a number"),
    ("postgresql+psycopg:///t\nro", "line break"),
    ("postgresql://u@bad_host!/t", "is not a valid name"),
])
def test_a_bad_database_url_is_refused_in_one_line(url, said):
    with pytest.raises(ValueError) as refused:
        parse_database_url(url)
    assert said in str(refused.value) and "\n" not in str(refused.value)


def test_good_database_urls_pass():
    assert parse_database_url("postgresql://u@db.example:5433/x") == \
        "postgresql+psycopg://u@db.example:5433/x"
    assert parse_database_url("sqlite:///:memory:") == "sqlite:///:memory:"


@pytest.fixture
def silent_database():
    """A listener that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    yield f"postgresql+psycopg://root@127.0.0.1:{listener.getsockname()[1]}/x"
    listener.close()


def test_a_silent_database_is_given_up_on(silent_database, monkeypatch):
    monkeypatch.setattr(database, "CONNECT_TIMEOUT", 1)
    engine = database.make_engine(silent_database)
    started = time.monotonic()
    with pytest.raises(OperationalError, match="timeout"):
        engine.connect()
    assert time.monotonic() - started < 10
    assert database.connect_timeout(silent_database + "?connect_timeout=3") == {}
    assert database.connect_timeout("sqlite:///x.db") == {}


def test_the_installation_look_is_given_up_on_too(silent_database, monkeypatch):
    from xds_server.cli_settings import installed

    monkeypatch.setattr(database, "CONNECT_TIMEOUT", 1)

    class Settings:
        database_url = silent_database
        data_dir = None

    monkeypatch.setattr("xds_server.cli_settings.database_file", lambda _settings: None)
    started = time.monotonic()
    with pytest.raises(OperationalError):
        installed(Settings())
    assert time.monotonic() - started < 10
