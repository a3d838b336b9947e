"""`conformance run` against an endpoint that accepts and never answers stops after one
--timeout, not two (outsider F9): the preflight's probe timed out, then the clean-up of the
probe's patient asked the same silent endpoint again and waited as long."""

from __future__ import annotations

import socket
import threading
import time

from .cli_run import run_in_process
from .test_conformance import TESTKIT


class _Silent:
    """Accepts, reads, never answers; counts the connections that sent a request."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.requests = 0
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.held.append(conn)
            threading.Thread(target=self._read, args=(conn,), daemon=True).start()

    def _read(self, conn: socket.socket) -> None:
        try:
            if conn.recv(65536):
                self.requests += 1
        except OSError:
            pass

    def close(self) -> None:
        self.listener.close()
        for conn in self.held:
            conn.close()


def test_a_silent_registry_is_asked_once_and_the_run_stops_after_one_timeout():
    silent = _Silent()
    try:
        url = f"http://127.0.0.1:{silent.port}"
        started = time.monotonic()
        done = run_in_process("conformance", "run", "--nist-testkit", str(TESTKIT / "ITI-18"),
                              "--registry", url + "/xds/registry",
                              "--repository", url + "/xds/repository", "--timeout", "1.5")
        elapsed = time.monotonic() - started
    finally:
        silent.close()
    assert done.returncode == 2, done.stderr
    assert "timed out" in done.stderr and "nothing was run" in done.stderr, done.stderr
    assert silent.requests == 1, (silent.requests, done.stderr)   # the probe, nothing after it
    assert "xds-server conformance clean" in done.stderr             # the way to remove it
    print(f"stopped after {elapsed:.1f} s with --timeout 1.5")
