"""Benchmark: the SOAP core on a small action against a bare lxml WSGI handler, same run.

What it models: the fixed cost of the SOAP core on every request, the part no transaction
avoids. Over HTTP: the server (its event-loop worker) and the bare handler (gunicorn's sync
worker) on loopback with the same number of workers, a closed-loop load generator driving each
in turn, alternated rounds. Prints requests/s, median and p99 latency of each, and the ratio
core/bare (budget: >= 0.8). In process too: the same two WSGI apps called directly, alternated,
CPU per request; the fixed cost of HTTP (connection, head, the load generator on the same cores)
hides the core's own cost over HTTP, so both figures are printed.

    .venv/bin/python bench/soap_core.py [--seconds 5] [--rounds 3] [--clients 4] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from loadgen import http_request, run_load, start_bare_gunicorn  # noqa: E402

from tests.conftest import start_server, stop_server  # noqa: E402
from tests.soap_messages import echo_body, envelope  # noqa: E402

BUDGET = 0.8


def start_bare(workers: int) -> tuple[subprocess.Popen, str]:
    body = envelope(echo_body("ping"))

    def probe(url: str) -> None:
        request = urllib.request.Request(url, body, {"Content-Type": "application/soap+xml"})
        urllib.request.urlopen(request, timeout=2).read()

    return start_bare_gunicorn("bare_wsgi:app", workers, probe, "/xds/registry")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="per round and server")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", type=int, default=4, help="concurrent client processes")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers per server")
    args = parser.parse_args()

    body = envelope(echo_body("ping"))
    content_type = "application/soap+xml; charset=UTF-8"
    with tempfile.TemporaryDirectory(prefix="bench-soap-") as tmp:
        core_process, core_base, _ = start_server(
            Path(tmp) / "core", {"XDS_LOG_LEVEL": "WARNING", "XDS_SECURITY": "none",
                                  "XDS_PROFILE": "ihe"},
            workers=args.workers)
        bare_process, bare_url = start_bare(args.workers)
        core_url = core_base + "/xds/registry"
        try:
            results: dict[str, list] = {"bare": [], "core": []}
            for url in (bare_url, core_url):  # warm-up
                run_load(url, http_request(url, body, content_type), clients=args.clients,
                         seconds=1.0)
            for _ in range(args.rounds):
                for name, url in (("bare", bare_url), ("core", core_url)):
                    results[name].append(run_load(url, http_request(url, body, content_type),
                                                  clients=args.clients, seconds=args.seconds))
        finally:
            stop_server(core_process)
            stop_server(bare_process)

    print(f"SOAP core benchmark: Echo, {len(body)} B request, {args.workers} sync workers, "
          f"{args.clients} clients, {args.rounds} x {args.seconds:.0f} s per server, "
          f"{os.cpu_count()} cores")
    print(f"{'server':<6} {'req/s':>9} {'median ms':>10} {'p99 ms':>8} {'errors':>7}")
    summary = {}
    for name, runs in results.items():
        rate = sum(r.requests for r in runs) / sum(r.seconds for r in runs)
        latencies = [x for r in runs for x in r.latencies_ms]
        merged = type(runs[0])(len(latencies), sum(r.errors for r in runs), 1.0, latencies)
        summary[name] = rate
        print(f"{name:<6} {rate:>9.0f} {merged.median_ms:>10.2f} {merged.percentile(0.99):>8.2f} "
              f"{merged.errors:>7}")
    ratio = summary["core"] / summary["bare"]
    verdict = "within" if ratio >= BUDGET else "OVER"
    print(f"ratio core/bare: {ratio:.2f} (budget >= {BUDGET}: {verdict} budget)")
    costs = in_process_us(body, content_type, args.rounds)
    print(f"in process, CPU per Echo: core {costs['core']:.1f} us, bare {costs['bare']:.1f} us, "
          f"core/bare {costs['core'] / costs['bare']:.2f}x")


def in_process_us(body: bytes, content_type: str, rounds: int,
                  calls: int = 5000) -> dict[str, float]:
    """CPU per request of each WSGI app called directly, alternated rounds."""
    import bare_wsgi

    from tests.conftest import call_wsgi
    from xds_server.app import create_app
    from xds_server.config import load_settings

    with tempfile.TemporaryDirectory(prefix="bench-soap-inproc-") as tmp:
        core = create_app(load_settings({"data_dir": tmp, "security": "none", "profile": "ihe"},
                                        environ={}))
        apps = {"bare": bare_wsgi.app, "core": core}
        spent = {"bare": 0.0, "core": 0.0}
        for app in apps.values():    # warm
            for _ in range(500):
                call_wsgi(app, "POST", "/xds/registry", body, content_type)
        for _ in range(rounds):
            for name, app in apps.items():
                started = time.process_time()
                for _ in range(calls):
                    call_wsgi(app, "POST", "/xds/registry", body, content_type)
                spent[name] += time.process_time() - started
        core.close()
    return {name: seconds / (calls * rounds) * 1e6 for name, seconds in spent.items()}


if __name__ == "__main__":
    main()
