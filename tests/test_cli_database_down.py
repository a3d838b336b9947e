"""Every command that opens the database says the same line when PostgreSQL cannot be used
(refused, silent, closing peer, wrong password, missing database): exit 2, "the database
cannot be used … (check XDS_DATABASE_URL …)", never "internal error … a bug" (outsider 18f F1:
`backup` opens the driver's connection itself, and psycopg's own error was not known)."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from .cli_run import run_in_process

INS = "285067512345639^^^&1.2.250.1.213.1.4.10&ISO^NH"
WORDS = "the database cannot be used: "
HINT = "(check XDS_DATABASE_URL and that the database is running)"


@pytest.fixture(scope="module")
def peers() -> Iterator[dict[str, int]]:
    """A port that refuses, one that never answers, one that closes on accept."""
    refusing = socket.socket()
    refusing.bind(("127.0.0.1", 0))
    silent = socket.create_server(("127.0.0.1", 0))
    closing = socket.create_server(("127.0.0.1", 0))
    closing.settimeout(0.2)
    stop = threading.Event()

    def close_each() -> None:
        while not stop.is_set():
            try:
                connection, _ = closing.accept()
            except (TimeoutError, OSError):
                continue
            connection.close()

    thread = threading.Thread(target=close_each, daemon=True)
    thread.start()
    yield {"refused": refusing.getsockname()[1], "silent": silent.getsockname()[1],
           "closing": closing.getsockname()[1]}
    stop.set()
    thread.join()
    for sock in (refusing, silent, closing):
        sock.close()


def _urls(peers: dict[str, int]) -> dict[str, str]:
    urls = {kind: f"postgresql+psycopg://nobody:pw@127.0.0.1:{port}/none?connect_timeout=2"
            for kind, port in peers.items()}
    real = os.environ.get("XDS_TEST_POSTGRES_URL")
    if real:        # a running PostgreSQL: a database it does not have, a wrong password
        base = real.rsplit("/", 1)[0]
        urls["missing database"] = f"{base}/xds_ops8_does_not_exist"
        name = real.rsplit("/", 1)[1]
        urls["wrong password"] = f"postgresql+psycopg://nobody:wrong@127.0.0.1/{name}"
    return urls


def _commands(tmp_path: Path) -> dict[str, list[str]]:
    return {"backup": ["backup", "--out", str(tmp_path / "b")],
            "db upgrade": ["db", "upgrade"], "db fill-forms": ["db", "fill-forms"],
            "patient add": ["patient", "add", INS], "patient list": ["patient", "list"],
            "patient close": ["patient", "close", INS],
            "patient forget": ["patient", "forget", INS],
            "audit show": ["audit", "show", "--patient", INS],
            "audit export": ["audit", "export", "--out", str(tmp_path / "a.xml")]}


def test_every_database_command_says_the_database_cannot_be_used(peers, tmp_path):
    data = tmp_path / "var"
    data.mkdir()
    for kind, url in _urls(peers).items():
        for name, args in _commands(tmp_path).items():
            if kind == "silent" and name not in ("backup", "patient list"):
                continue        # 2 s each: the class is shown by two
            result = run_in_process(*args, "--data-dir", str(data),
                                    env={"XDS_DATABASE_URL": url})
            said = result.stderr.strip()
            assert result.returncode == 2, (kind, name, said)
            assert said.startswith(f"Error: {WORDS}") and said.endswith(HINT), (kind, name, said)
            assert "\n" not in said and "internal error" not in said, (kind, name, said)
            assert ":pw@" not in said and "wrong" not in said.replace("wrong password", "")
