"""Slow clients on loopback: connections that trickle a request one byte at a time, and a probe
that measures how fast the server still answers everyone else meanwhile.

An attacker who is cut reconnects, so a trickling connection the server closes is opened again
at once: the pressure stays at `connections` for the whole run. Bounded by time and count.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

HEAD = (b"POST /xds/registry HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/soap+xml"
        b"\r\nX-Padding: " + b"p" * 200 + b"\r\n")
BODY_HEAD = (b"POST /xds/registry HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
             b"application/soap+xml\r\nContent-Length: 1000000\r\n\r\n")


@dataclass
class TrickleReport:
    opened: int = 0
    cut: int = 0           # closed by the server (or answered), then reopened
    refused: int = 0       # connect failed or reset at once
    bytes_sent: int = 0


@dataclass
class ProbeReport:
    latencies_ms: dict[str, list[float]] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)

    def percentile(self, name: str, fraction: float) -> float:
        values = sorted(self.latencies_ms.get(name, []))
        if not values:
            return float("nan")
        return values[min(len(values) - 1, int(fraction * len(values)))]


class Trickler:
    """`connections` sockets, each sending one byte of `mode`'s request every `interval` s."""

    def __init__(self, url: str, connections: int, interval: float = 5.0,
                 mode: str = "headers", sources: tuple[str, ...] = ()) -> None:
        """`sources`: loopback addresses the connections come from, in turn (127.0.0.2, …: as
        many clients to the server); none: the system's choice (127.0.0.1)."""
        parts = urlsplit(url)
        self.address = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.connections = connections
        self.interval = interval
        self.mode = mode
        self.sources = sources
        self._next_source = 0
        self.report = TrickleReport()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _open(self) -> tuple[socket.socket, int] | None:
        source = None
        if self.sources:
            source = (self.sources[self._next_source % len(self.sources)], 0)
            self._next_source += 1
        try:
            sock = socket.create_connection(self.address, timeout=2, source_address=source)
        except OSError:
            self.report.refused += 1
            return None
        sock.setblocking(False)
        self.report.opened += 1
        offset = 0
        if self.mode == "body":      # the whole head at once, then the body a byte at a time
            with contextlib.suppress(OSError):
                sock.send(BODY_HEAD)
            offset = len(BODY_HEAD)
        return sock, offset

    def _payload(self) -> bytes:
        return HEAD if self.mode == "headers" else BODY_HEAD + b"x" * 1_000_000

    def run(self, seconds: float) -> None:
        payload = self._payload()
        selector = selectors.DefaultSelector()
        sockets: dict[socket.socket, int] = {}
        for _ in range(self.connections):
            opened = self._open()
            if opened:
                sockets[opened[0]] = opened[1]
                selector.register(opened[0], selectors.EVENT_READ)
        deadline = time.monotonic() + seconds
        next_tick = time.monotonic()
        while time.monotonic() < deadline and not self._stop.is_set():
            timeout = max(0.0, min(next_tick, deadline) - time.monotonic())
            for key, _ in selector.select(timeout):
                sock = key.fileobj
                try:
                    data = sock.recv(65536)
                except OSError:
                    data = b""
                if not data:   # cut by the server: reconnect, as an attacker would
                    selector.unregister(sock)
                    sock.close()
                    sockets.pop(sock, None)
                    self.report.cut += 1
                    opened = self._open()
                    if opened:
                        sockets[opened[0]] = opened[1]
                        selector.register(opened[0], selectors.EVENT_READ)
            if time.monotonic() >= next_tick:
                for sock, offset in list(sockets.items()):
                    with contextlib.suppress(OSError):
                        sock.send(payload[offset % len(payload):offset % len(payload) + 1])
                        self.report.bytes_sent += 1
                    sockets[sock] = offset + 1
                while len(sockets) < self.connections:
                    opened = self._open()
                    if not opened:
                        break
                    sockets[opened[0]] = opened[1]
                    selector.register(opened[0], selectors.EVENT_READ)
                next_tick += self.interval
        for sock in sockets:
            sock.close()
        selector.close()

    def start(self, seconds: float) -> None:
        self._thread = threading.Thread(target=self.run, args=(seconds,), daemon=True)
        self._thread.start()

    def join(self) -> None:
        if self._thread is not None:
            self._thread.join()


def probe(checks: dict[str, Callable[[], bool]], seconds: float, every: float = 0.25,
          ) -> ProbeReport:
    """Run each check every `every` s for `seconds`; a check's time is its latency, a False or
    an exception a failure (recorded with its time too, so a p99 sees it)."""
    report = ProbeReport()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        started = time.monotonic()
        for name, check in checks.items():
            began = time.perf_counter()
            try:
                ok = check()
            except Exception:
                ok = False
            elapsed = (time.perf_counter() - began) * 1000
            report.latencies_ms.setdefault(name, []).append(elapsed)
            if not ok:
                report.failures[name] = report.failures.get(name, 0) + 1
        time.sleep(max(0.0, every - (time.monotonic() - started)))
    return report


def http_check(url: str, body: bytes | None = None, content_type: str = "",
               timeout: float = 5.0, expect: bytes = b" 200 ", source: str = "",
               ) -> Callable[[], bool]:
    """A check that sends one request on a new connection (from `source` when given) and
    reads the whole answer."""
    parts = urlsplit(url)
    address = (parts.hostname or "127.0.0.1", parts.port or 80)
    method = "GET" if body is None else "POST"
    head = f"{method} {parts.path or '/'} HTTP/1.1\r\nHost: {parts.netloc}\r\nConnection: close\r\n"
    if body is not None:
        head += f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
    request = head.encode() + b"\r\n" + (body or b"")

    def check() -> bool:
        with socket.create_connection(address, timeout=timeout,
                                      source_address=(source, 0) if source else None) as sock:
            sock.settimeout(timeout)
            sock.sendall(request)
            chunks = []
            while block := sock.recv(65536):
                chunks.append(block)
        answer = b"".join(chunks)
        return expect in answer.split(b"\r\n", 1)[0] + b" "

    return check
