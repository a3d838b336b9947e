"""`retrieve --out` writes a file whole or not at all (a temporary file renamed into place),
but a device or a pipe is written to, never replaced: renaming over one made /dev/full a
regular file when run as root (outsider, issue 18 re-test)."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from xds_server.cli_errors import Unusable, write_whole


def test_a_regular_file_is_replaced_whole(tmp_path: Path) -> None:
    target = tmp_path / "document.xml"
    target.write_bytes(b"old")
    write_whole(target, b"new content")
    assert target.read_bytes() == b"new content"
    assert [p.name for p in tmp_path.iterdir()] == ["document.xml"]


def test_a_pipe_is_written_to_not_replaced(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    write_whole(fifo, b"document bytes")
    reader.join(timeout=10)
    assert received == [b"document bytes"]
    assert stat.S_ISFIFO(fifo.stat().st_mode)


def test_a_device_stays_a_device() -> None:
    write_whole(Path("/dev/null"), b"document bytes")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_a_device_that_refuses_is_said_and_stays() -> None:
    with pytest.raises(Unusable, match="cannot write /dev/full"):
        write_whole(Path("/dev/full"), b"document bytes")
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)
