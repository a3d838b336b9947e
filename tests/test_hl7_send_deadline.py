"""`hl7 send` has the SOAP commands' overall deadline, 10 times the timeout (outsider F2): a
peer that trickles one byte now and then never let a byte wait long enough for the timeout,
and `hl7 send --timeout 3` was still running when killed after 180 s."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time

import pytest

from xds_server.hl7v2.client import DEADLINE_FACTOR, MllpClient, MllpClientError

from .test_cli_errors import HL7


class _Trickler:
    """Accepts and sends one byte (never an ACK's end) every `every` seconds."""

    def __init__(self, every: float) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.every = every
        self.stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._trickle, args=(conn,), daemon=True).start()

    def _trickle(self, conn: socket.socket) -> None:
        with conn:
            conn.sendall(b"\x0b")
            while not self.stop.wait(self.every):
                try:
                    conn.sendall(b"M")
                except OSError:
                    return

    def close(self) -> None:
        self.stop.set()
        self.listener.close()


@pytest.fixture
def trickler():
    peer = _Trickler(0.1)
    yield peer
    peer.close()


def test_the_client_stops_a_trickled_ack_at_its_deadline(trickler):
    outcome: list[BaseException] = []

    def send() -> None:
        try:
            with MllpClient("127.0.0.1", trickler.port, timeout=0.3) as client:
                client.send(b"MSH|^~\\&|A|B|C|D|20250101||ADT^A28|1|P|2.5\r")
        except BaseException as exc:     # what the test asserts on
            outcome.append(exc)

    started = time.monotonic()
    worker = threading.Thread(target=send, daemon=True)
    worker.start()
    worker.join(0.3 * DEADLINE_FACTOR + 10)
    assert not worker.is_alive(), "still reading the trickle past the deadline"
    assert time.monotonic() - started < 0.3 * DEADLINE_FACTOR + 5
    assert outcome and isinstance(outcome[0], MllpClientError), outcome
    assert "did not complete within 3 s" in str(outcome[0])


def test_hl7_send_against_a_trickling_peer_ends_in_one_line_and_exit_2(trickler):
    try:
        done = subprocess.run([sys.executable, "-m", "xds_server.cli", "hl7", "send", str(HL7),
                               "--to", f"127.0.0.1:{trickler.port}", "--timeout", "0.2"],
                              capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail("hl7 send was still running after 60 s (its deadline is 2 s)")
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "did not complete within 2 s" in lines[0], done.stderr
    assert "Traceback" not in done.stderr
