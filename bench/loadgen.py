"""A small closed-loop HTTP load generator for loopback benchmarks (no dependency but stdlib).

Each client process sends a pre-built request, reads the reply to the end (gunicorn sync workers
close the connection), and records the latency. Bounded by time and count; stops by itself.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit


@dataclass
class LoadResult:
    requests: int
    errors: int
    seconds: float
    latencies_ms: list[float]

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, fraction: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]

    @property
    def median_ms(self) -> float:
        return statistics.median(self.latencies_ms) if self.latencies_ms else float("nan")


def http_request(url: str, body: bytes, content_type: str) -> bytes:
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    head = (f"POST {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
    return head + body


def _client(address: tuple[str, int], requests: list[bytes], seconds: float, max_requests: int,
            queue: multiprocessing.Queue) -> None:
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    sent = 0
    while time.perf_counter() < deadline and sent < max_requests:
        request = requests[sent % len(requests)]
        sent += 1
        started = time.perf_counter()
        try:
            with socket.create_connection(address, timeout=10) as sock:
                sock.sendall(request)
                first = sock.recv(65536)
                while sock.recv(65536):
                    pass
            if (first.startswith((b"HTTP/1.1 200", b"HTTP/1.0 200"))
                    and b"ResponseStatusType:Failure" not in first):
                latencies.append((time.perf_counter() - started) * 1000)
            else:
                errors += 1
        except OSError:
            errors += 1
    queue.put((latencies, errors))


def run_load(url: str, request: bytes | list[bytes], *, clients: int, seconds: float,
             max_requests: int = 1_000_000) -> LoadResult:
    """Closed loop: each client sends its share of `request` (cycled) until time or count."""
    parts = urlsplit(url)
    address = (parts.hostname or "127.0.0.1", parts.port or 80)
    requests = request if isinstance(request, list) else [request]
    queue: multiprocessing.Queue = multiprocessing.Queue()
    shares = [requests[i::clients] or requests for i in range(clients)]
    processes = [multiprocessing.Process(target=_client,
                                         args=(address, share, seconds,
                                               max_requests // clients, queue))
                 for share in shares]
    started = time.perf_counter()
    for process in processes:
        process.start()
    results = [queue.get(timeout=seconds + 60) for _ in processes]
    for process in processes:
        process.join(timeout=10)
    elapsed = time.perf_counter() - started
    latencies = [value for lat, _ in results for value in lat]
    return LoadResult(len(latencies), sum(e for _, e in results), elapsed, latencies)


def start_bare_gunicorn(app: str, workers: int, probe: Callable[[str], None],
                        path: str = "/", env: dict[str, str] | None = None
                        ) -> tuple[subprocess.Popen, str]:
    """A baseline WSGI app of bench/ under gunicorn on a free loopback port, once `probe(url)`
    succeeds. Stop it with tests.conftest.stop_server."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--chdir", str(Path(__file__).parent), "-w",
         str(workers), "-k", "sync", "-b", f"127.0.0.1:{port}", "--log-level", "warning",
         "--no-control-socket", app], env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}{path}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            probe(url)
            return process, url
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"{app} did not start")


def server_bench_arguments(description: str, submissions: int,
                           rounds: int | None = None,
                           documents: int | None = None,
                           baseline: bool = False) -> argparse.Namespace:
    """The options every server benchmark takes: database, duration, clients, workers, how
    many requests to prepare and in how many alternated rounds to measure."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--database", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--submissions", type=int, default=submissions)
    if rounds is not None:   # a benchmark that compares two servers
        parser.add_argument("--rounds", type=int, default=rounds,
                            help="alternated rounds, each --seconds/2 a side")
    if documents is not None:   # a benchmark that retrieves stored documents
        parser.add_argument("--documents", type=int, default=documents,
                            help="different documents retrieved, cycled")
    if baseline:   # a benchmark that can serve an older checkout in the same rounds
        parser.add_argument("--baseline-code", default="",
                            help="a checkout of older code, served beside this one in the same "
                                 "rounds (run from a directory without xds_server/)")
    return parser.parse_args()
