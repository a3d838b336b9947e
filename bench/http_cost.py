"""Benchmark of the per-request HTTP cost (issue 20): the server's CPU per Echo and per
FindDocuments answer, with a new connection per request (`Connection: close`) and with one kept
connection per client (`Connection: keep-alive`; a server that closes anyway is reconnected).

The CPU is read from /proc for every process of the server (master and workers) before and after
each measure, so it is the server's own work whatever the load generator costs; requests/s and
p50 are printed beside it. On PostgreSQL, a registry of 10,000 entries (bench/datagen.py).

    .venv/bin/python bench/http_cost.py [--database postgresql|sqlite] [--seconds 6]
                                        [--clients 4] [--rounds 2]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import socket
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from datagen import load, patient_id  # noqa: E402
from lxml import etree  # noqa: E402
from registry import CONTENT_TYPE, FIND_DOCUMENTS, postgres_url  # noqa: E402

from tests.conftest import start_server, stop_server  # noqa: E402
from tests.registry_data import stored_query  # noqa: E402
from tests.soap_messages import echo_body, envelope  # noqa: E402
from xds_server.model import vocabulary as v  # noqa: E402
from xds_server.store.database import make_engine  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def server_cpu(master: int) -> float:
    """CPU seconds (user + system) of `master` and its children, from /proc."""
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid, ppid = int(entry), int(fields[1])
        if pid == master or ppid == master:
            total += (int(fields[11]) + int(fields[12])) / TICK
    return total


def request_bytes(url: str, body: bytes, keep_alive: bool) -> bytes:
    parts = urlsplit(url)
    connection = "keep-alive" if keep_alive else "close"
    return (f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: "
            f"{CONTENT_TYPE}\r\nContent-Length: {len(body)}\r\nConnection: {connection}\r\n\r\n"
            ).encode() + body


def read_response(sock: socket.socket, buffer: bytearray) -> tuple[bytes, bool]:
    """One response (Content-Length framed) from `sock`; returns (status line, server closes)."""
    while b"\r\n\r\n" not in buffer:
        block = sock.recv(65536)
        if not block:
            raise ConnectionError("closed before the head")
        buffer += block
    head, _, _ = bytes(buffer).partition(b"\r\n\r\n")
    del buffer[:len(head) + 4]
    lines = head.split(b"\r\n")
    headers = {k.strip().lower(): val.strip() for k, _, val in
               (line.partition(b":") for line in lines[1:])}
    length = int(headers.get(b"content-length", b"0"))
    while len(buffer) < length:
        block = sock.recv(65536)
        if not block:
            raise ConnectionError("closed inside the body")
        buffer += block
    del buffer[:length]
    closes = headers.get(b"connection", b"").lower() == b"close" or lines[0].startswith(
        b"HTTP/1.0")
    return lines[0], closes


def _client(address, requests: list[bytes], seconds: float, keep_alive: bool, queue) -> None:
    latencies, errors, sent = [], 0, 0
    sock, buffer = None, bytearray()
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        request = requests[sent % len(requests)]
        sent += 1
        started = time.perf_counter()
        try:
            if sock is None:
                sock, buffer = socket.create_connection(address, timeout=10), bytearray()
            sock.sendall(request)
            status, closes = read_response(sock, buffer)
            if status.split()[1] == b"200":
                latencies.append((time.perf_counter() - started) * 1000)
            else:
                errors += 1
            if closes or not keep_alive:
                sock.close()
                sock = None
        except OSError:
            errors += 1
            if sock is not None:
                sock.close()
            sock = None
    if sock is not None:
        sock.close()
    queue.put((latencies, errors))


def measure(url: str, requests: list[bytes], master: int, clients: int, seconds: float,
            keep_alive: bool) -> tuple[int, int, float, float, float]:
    parts = urlsplit(url)
    address = (parts.hostname, parts.port)
    queue: multiprocessing.Queue = multiprocessing.Queue()
    shares = [requests[i::clients] or requests for i in range(clients)]
    before = server_cpu(master)
    started = time.perf_counter()
    processes = [multiprocessing.Process(target=_client, args=(address, share, seconds,
                                                               keep_alive, queue))
                 for share in shares]
    for process in processes:
        process.start()
    results = [queue.get(timeout=seconds + 60) for _ in processes]
    for process in processes:
        process.join(timeout=10)
    elapsed = time.perf_counter() - started
    cpu = server_cpu(master) - before
    latencies = sorted(x for lat, _ in results for x in lat)
    count = len(latencies)
    p50 = latencies[count // 2] if latencies else float("nan")
    return count, sum(e for _, e in results), elapsed, cpu, p50


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--seconds", type=float, default=6.0, help="per measure and round")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    documents = 10_000
    with tempfile.TemporaryDirectory(prefix="bench-http-cost-") as tmp:
        url = postgres_url("bench_http_cost") if args.database == "postgresql" \
            else f"sqlite:///{tmp}/registry.sqlite3"
        engine = make_engine(url)
        patients = load(engine, documents)
        engine.dispose()
        env = {"XDS_DATABASE_URL": url, "XDS_PROFILE": "ihe", "XDS_LOG_LEVEL": "WARNING",
               "XDS_SECURITY": "none"}
        process, base, _ = start_server(Path(tmp) / "data", env, args.workers)
        endpoint = base + "/xds/registry"
        rng = random.Random(5)
        finds = [envelope(etree.tostring(stored_query(FIND_DOCUMENTS, {
            "$XDSDocumentEntryPatientId": patient_id(rng.randrange(patients)),
            "$XDSDocumentEntryStatus": [v.APPROVED]})).decode(),
            action="urn:ihe:iti:2007:RegistryStoredQuery") for _ in range(2000)]
        bodies = {"Echo": [envelope(echo_body("ping"))], "FindDocuments": finds}
        totals: dict[tuple[str, bool], list[float]] = {}
        try:
            for keep_alive in (False, True):   # warm-up
                measure(endpoint, [request_bytes(endpoint, b, keep_alive) for b in finds],
                        process.pid, args.clients, 1.5, keep_alive)
            for _ in range(args.rounds):
                for name, messages in bodies.items():
                    for keep_alive in (False, True):
                        requests = [request_bytes(endpoint, b, keep_alive) for b in messages]
                        count, errors, elapsed, cpu, p50 = measure(
                            endpoint, requests, process.pid, args.clients, args.seconds,
                            keep_alive)
                        row = totals.setdefault((name, keep_alive), [0, 0, 0.0, 0.0, 0.0])
                        row[0] += count
                        row[1] += errors
                        row[2] += elapsed
                        row[3] += cpu
                        row[4] = max(row[4], p50)
        finally:
            stop_server(process)
    print(f"\nPer-request HTTP cost on {args.database}: {args.workers} workers, "
          f"{args.clients} clients, {args.rounds} x {args.seconds:.0f} s per line")
    print(f"{'request':<14} {'connection':<11} {'req/s':>7} {'CPU ms/req':>11} {'p50 ms':>7} "
          f"{'errors':>6}")
    for (name, keep_alive), (count, errors, elapsed, cpu, p50) in totals.items():
        print(f"{name:<14} {'keep-alive' if keep_alive else 'close':<11} {count / elapsed:>7.0f} "
              f"{1000 * cpu / max(count, 1):>11.3f} {p50:>7.2f} {errors:>6}")


if __name__ == "__main__":
    main()
