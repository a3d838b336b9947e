"""A stop is quick and clean (issue 18 R15): `xds-server serve` with keep-alive HTTP, FHIR and
MLLP connections open exits 0 on SIGTERM with no traceback in its log (the time it took is
printed, not asserted: a loaded machine makes any bound flaky); the MLLP listener's close
answers the message in flight, closes the idle connections, and leaves no connection task for
the event loop to cancel."""

from __future__ import annotations

import asyncio
import http.client
import logging
import os
import signal
import socket
import subprocess
import threading
import time

import pytest

from xds_server.hl7v2.mllp import MllpLimits, MllpServer, frame

from .conftest import free_port, start_server
from .test_hl7v2_mllp import _listener, wait_for_port

MESSAGE = b"MSH|^~\\&|A|B|C|D|20250101000000||ADT^A28^ADT_A05|1|P|2.5\r"


def _keep_alive(port: int, path: str) -> http.client.HTTPConnection:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", path)
    answer = connection.getresponse()
    answer.read()
    assert answer.status == 200 and not answer.will_close
    return connection


@pytest.mark.http
def test_sigterm_with_open_connections_exits_0_without_traceback(tmp_path):
    mllp_port = free_port()
    process, url, log_path = start_server(tmp_path / "var", {
        "XDS_PROFILE": "ihe", "XDS_MLLP_PORT": str(mllp_port)}, workers=2)
    try:
        wait_for_port(mllp_port)
        port = int(url.rsplit(":", 1)[1])
        held = [_keep_alive(port, "/health"), _keep_alive(port, "/fhir/metadata")]
        idle = socket.create_connection(("127.0.0.1", mllp_port))
        time.sleep(0.3)                      # the MLLP connection is accepted
        started = time.monotonic()
        os.kill(process.pid, signal.SIGTERM)
        code = process.wait(timeout=30)
        print(f"SIGTERM -> exit with keep-alive HTTP, FHIR and MLLP connections open: "
              f"{time.monotonic() - started:.2f} s")
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    log = log_path.read_text(errors="replace")
    assert code == 0, log[-3000:]
    assert "Traceback" not in log and "CancelledError" not in log, log[-3000:]
    idle.settimeout(5)
    assert idle.recv(1) == b""               # closed by the server, not left open
    for connection in held:
        connection.close()
    idle.close()


def test_the_mllp_close_answers_the_message_in_flight_and_closes_the_idle(caplog):
    """close(): the message being worked on is answered, the idle connection is closed at
    once, no new message is taken, and no connection task is cancelled (nothing logged)."""
    started, release = threading.Event(), threading.Event()

    def handler(message: bytes, peer, request_id: str) -> bytes:
        started.set()
        release.wait(10)
        return b"MSH|^~\\&|ACK\rMSA|AA|1\r"

    async def scenario() -> tuple[bytes, bytes, float]:
        server = MllpServer(handler, MllpLimits(workers=2))
        await server.start("127.0.0.1", 0)
        port = server.port
        busy_reader, busy_writer = await asyncio.open_connection("127.0.0.1", port)
        idle_reader, idle_writer = await asyncio.open_connection("127.0.0.1", port)
        busy_writer.write(frame(MESSAGE))
        await busy_writer.drain()
        await asyncio.get_running_loop().run_in_executor(None, started.wait, 10)
        closing = asyncio.create_task(server.close(grace=5))
        idle_end = await asyncio.wait_for(idle_reader.read(), 5)     # closed at once
        clock = time.monotonic()
        release.set()                                              # the work finishes
        answer = await asyncio.wait_for(busy_reader.read(), 5)      # answer, then closed
        await asyncio.wait_for(closing, 10)
        with pytest.raises(OSError):                               # nothing new is taken
            await asyncio.open_connection("127.0.0.1", port)
        for writer in (busy_writer, idle_writer):
            writer.close()
        return idle_end, answer, time.monotonic() - clock

    with caplog.at_level(logging.DEBUG):
        idle_end, answer, _ = asyncio.run(scenario())
    assert idle_end == b""
    assert answer.startswith(b"\x0b") and b"MSA|AA|1" in answer
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], \
        [r.getMessage() for r in caplog.records]
    assert not any("CancelledError" in (r.exc_text or "") + r.getMessage()
                   for r in caplog.records)


@pytest.mark.http
def test_the_mllp_listener_process_stops_cleanly_with_a_connection_open(tmp_path):
    """`xds-server mllp` on SIGTERM with a sender connected: exit 0, no traceback."""
    process, port = _listener(tmp_path / "var", {"XDS_PROFILE": "ihe"})
    sender = socket.create_connection(("127.0.0.1", port))
    time.sleep(0.3)
    process.send_signal(signal.SIGTERM)
    try:
        code = process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()
        code = process.wait()
    text = (tmp_path / "var" / "mllp.log").read_text(errors="replace")
    assert code == 0, text[-2000:]
    assert "Traceback" not in text and "CancelledError" not in text, text[-2000:]
    sender.settimeout(5)
    assert sender.recv(1) == b""
    sender.close()
