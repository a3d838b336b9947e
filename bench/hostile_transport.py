"""The long variants of tests/test_hostile_transport.py, run by bench/hostile.py with the
default limits: slow readers of large answers (worker RSS, spool bytes, /health), a crowd of
trickling connections from one address and from many (/health p99 from another address), and
request bodies that would fill the spool."""

from __future__ import annotations

import contextlib
import resource
import socket
import time
from pathlib import Path

from trickle import Trickler, http_check, probe

from tests import hostile
from tests.conftest import start_server, stop_server

MIB = 1024 * 1024
PROBE_FROM = "127.0.0.250"      # the honest client: an address no attacker uses


def raise_open_files() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _sources(count: int) -> tuple[str, ...]:
    return tuple(f"127.0.0.{10 + i}" for i in range(count))


def _server(tmp: Path, name: str, workers: int, env: dict[str, str] | None = None):
    base = {"XDS_PROFILE": "ihe", "XDS_SECURITY": "none", "XDS_LOG_LEVEL": "INFO"}
    return start_server(tmp / name, {**base, **(env or {})}, workers)


def _health_ms(url: str) -> str:
    started = time.monotonic()
    try:
        status, _ = hostile.get_from(url, "/health", PROBE_FROM, timeout=5)
    except OSError as exc:
        return f"failed ({exc.__class__.__name__})"
    return f"{status} in {(time.monotonic() - started) * 1000:.0f} ms"


def slow_readers(tmp: Path, count: int, size: int, hold: float) -> None:
    """`count` clients (from 4 addresses) each ask an Echo answer of `size` bytes and read
    nothing; one worker, default limits."""
    process, url, log_path = _server(tmp, f"slow-{count}", 1)
    try:
        [worker] = hostile.worker_pids(process.pid)

        def state() -> str:
            return (f"RSS {hostile.memory_kib(worker, 'VmRSS') / 1024:6.0f} MiB, spool "
                    f"{hostile.spool_bytes(worker) / MIB:6.0f} MiB, /health {_health_ms(url)}")

        hostile.reset_peak(worker)
        print(f"  {count} slow readers of {size / 1e6:.0f} MB answers: before: {state()}")
        request = hostile.request(url, "/xds/registry", hostile.envelope_of(size))
        held: list[socket.socket] = []
        started = time.monotonic()
        for index in range(count):
            source = _sources(4)[index % 4]
            with contextlib.suppress(OSError):
                held += hostile.slow_readers(url, request, 1, source=source)
        print(f"    all sent after {time.monotonic() - started:5.1f} s: {state()}")
        for _ in range(int(hold // 5)):
            time.sleep(5)
            print(f"    +{time.monotonic() - started:5.1f} s: {state()}")
        statuses = []
        for sock in held:
            sock.settimeout(0.2)
            try:
                statuses.append(sock.recv(12).decode(errors="replace") or "closed")
            except OSError as exc:
                statuses.append(exc.__class__.__name__)
            sock.close()
        time.sleep(3)
        print(f"    closed: {state()}; peak RSS "
              f"{hostile.memory_kib(worker, 'VmHWM') / 1024:.0f} MiB")
        print(f"    first bytes the clients had: "
              f"{ {s: statuses.count(s) for s in sorted(set(statuses))} }")
        cut = log_path.read_text(errors="replace").count("not read in time")
        print(f"    answers cut for want of reading: {cut}")
    finally:
        stop_server(process)


def crowd(tmp: Path, connections: int, addresses: int, seconds: float) -> None:
    """`connections` trickling a head byte every 5 s, reopened as soon as cut or refused, from
    `addresses` loopback addresses; /health asked every 0.25 s from another one. Two workers."""
    process, url, _ = _server(tmp, f"crowd-{addresses}", 2)
    try:
        sources = _sources(addresses) if addresses > 1 else ("127.0.0.1",)
        trickler = Trickler(url, connections, 5.0, "headers", sources=sources)
        trickler.start(seconds)
        time.sleep(2)
        report = probe({"/health": http_check(url + "/health", timeout=5, source=PROBE_FROM)},
                       seconds - 3, every=0.25)
        trickler.join()
        latencies = report.latencies_ms["/health"]
        within = sum(1 for ms in latencies if ms < 1000) - report.failures.get("/health", 0)
        print(f"  {connections} trickling from {addresses} address(es), {seconds:.0f} s: /health "
              f"{len(latencies)} probes, {within} answered 200 within 1 s, p50 "
              f"{report.percentile('/health', 0.5):6.1f} ms, p99 "
              f"{report.percentile('/health', 0.99):6.1f} ms, max {max(latencies):6.1f} ms; "
              f"trickling connections opened {trickler.report.opened}, closed or refused by "
              f"the server {trickler.report.cut}")
    finally:
        stop_server(process)


def spool_filling(tmp: Path, count: int, declared: int) -> None:
    """`count` clients announce `declared`-byte bodies, send 2 MiB and stall: the worker's
    spool bytes, and how many were refused before their body was read. One worker."""
    process, url, _ = _server(tmp, "spool", 1)
    try:
        [worker] = hostile.worker_pids(process.pid)
        head = (f"POST /xds/repository HTTP/1.1\r\nHost: x\r\nContent-Type: {hostile.SOAP}\r\n"
                f"Content-Length: {declared}\r\n\r\n").encode()
        held, refused = [], 0
        for index in range(count):
            sock = hostile.connect_from(url, _sources(8)[index % 8], timeout=5)
            with contextlib.suppress(OSError):
                sock.sendall(head + b"<" * 2 * MIB)
            held.append(sock)
        time.sleep(1)
        for sock in held:
            sock.settimeout(0.1)
            with contextlib.suppress(OSError):
                refused += sock.recv(12) == b"HTTP/1.1 503"
        print(f"  {count} bodies of {declared / MIB:.0f} MiB announced (2 MiB sent each): "
              f"{refused} refused with 503 before their body, {count - refused} being received;"
              f" spool files {hostile.spool_bytes(worker) / MIB:.0f} MiB (room reserved for "
              f"{(count - refused) * declared / MIB:.0f} MiB of XDS_MAX_SPOOL_BYTES 1024 MiB); "
              f"/health {_health_ms(url)}")
        for sock in held:
            sock.close()
    finally:
        stop_server(process)


def run(tmp: Path, seconds: float) -> None:
    raise_open_files()
    print("\nslow readers of large answers (XDS_MAX_BUFFER_BYTES 64 MiB, XDS_MAX_SPOOL_BYTES "
          "1 GiB, XDS_MIN_SEND_RATE_BYTES 32 KiB/s after 20 s):")
    for count in (20, 200):
        slow_readers(tmp, count, 15_000_000, 30)
    print("\na crowd of trickling connections (XDS_MAX_CONNECTIONS 500, "
          "XDS_MAX_CONNECTIONS_PER_CLIENT 128, 2 workers):")
    for addresses in (1, 12):
        crowd(tmp, 1200, addresses, seconds)
    print("\nrequest bodies that would fill the spool:")
    spool_filling(tmp, 40, 60 * MIB)

