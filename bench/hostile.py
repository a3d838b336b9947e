"""Benchmark of the server under hostile load (issue 13), with the default limits:

- 100 connections that trickle a request one byte every 5 s (headers, then body; a connection
  the server cuts is reopened at once) for --seconds each, while a probe asks /health and a
  FindDocuments (10,000 entries, PostgreSQL) every 0.25 s: p50, p99, max and failures
  (budget: /health p99 < 1 s; FindDocuments answered within 1 s throughout);
- the peak RSS growth of a worker for the largest requests the limits admit (envelope,
  elements, attributes, an MTOM part at the document limit): budget 256 MB;
- the transport under the second attack (bench/hostile_transport.py): worker RSS and spool
  bytes under 20 and 200 slow readers of 15 MB answers, /health p99 under 1,200 trickling
  connections from one address and from 12, and request bodies that would fill the spool.

    .venv/bin/python bench/hostile.py [--database postgresql|sqlite] [--seconds 60]
                                      [--connections 100] [--only trickle|transport]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import hostile_transport  # noqa: E402
from datagen import load, patient_id  # noqa: E402
from lxml import etree  # noqa: E402
from registry import CONTENT_TYPE, FIND_DOCUMENTS, postgres_url  # noqa: E402
from trickle import Trickler, http_check, probe  # noqa: E402

from tests import hostile  # noqa: E402
from tests.conftest import start_server, stop_server  # noqa: E402
from tests.registry_data import stored_query  # noqa: E402
from tests.soap_messages import binary_element, echo_body, envelope, mtom  # noqa: E402
from xds_server.config import load_settings  # noqa: E402
from xds_server.model import vocabulary as v  # noqa: E402
from xds_server.store.database import make_engine  # noqa: E402

MIB = 1024 * 1024


def largest_admitted() -> dict[str, tuple[bytes, str]]:
    """The largest request of each kind the default limits admit."""
    defaults = load_settings(environ={})
    markup, attributes = defaults.max_xml_markup - 100, defaults.max_xml_attributes - 100
    part = os.urandom(defaults.max_document_bytes - MIB)
    return {
        "envelope at XDS_MAX_ENVELOPE_BYTES (text)":
            (hostile.envelope_of(defaults.max_envelope_bytes - 4096), CONTENT_TYPE),
        f"{markup} empty elements": (hostile.element_flood(markup), CONTENT_TYPE),
        f"{attributes} attributes on one element":
            (hostile.attribute_flood(attributes), CONTENT_TYPE),
        f"{markup} elements with {attributes} attributes":
            (envelope(echo_body('<a b=""/>' * min(markup, attributes))), CONTENT_TYPE),
        f"MTOM part of {len(part) // MIB} MiB":
            mtom(envelope(echo_body(binary_element("p@x"))),
                 [("p@x", part, "application/octet-stream")]),
    }


def peak_growth(url: str, master: int, body: bytes, content_type: str) -> tuple[int, float]:
    workers = hostile.worker_pids(master)
    before = {pid: hostile.reset_peak(pid) for pid in workers}
    status, _ = hostile.post(url, "/xds/registry", body, content_type)
    growth = max(hostile.memory_kib(pid, "VmHWM") - before[pid] for pid in workers)
    return status, growth / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--only", choices=("trickle", "transport"), default=None)
    args = parser.parse_args()
    if args.only != "transport":
        trickle_and_memory(args)
    if args.only != "trickle":
        with tempfile.TemporaryDirectory(prefix="bench-transport-") as tmp:
            hostile_transport.run(Path(tmp), args.seconds)


def trickle_and_memory(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-hostile-") as tmp:
        url = postgres_url("bench_hostile") if args.database == "postgresql" \
            else f"sqlite:///{tmp}/registry.sqlite3"
        engine = make_engine(url)
        patients = load(engine, 10_000)
        engine.dispose()
        env = {"XDS_DATABASE_URL": url, "XDS_PROFILE": "ihe", "XDS_SECURITY": "none",
               "XDS_LOG_LEVEL": "WARNING"}
        process, base, _ = start_server(Path(tmp) / "data", env, args.workers)
        rng = random.Random(3)
        finds = [envelope(etree.tostring(stored_query(FIND_DOCUMENTS, {
            "$XDSDocumentEntryPatientId": patient_id(rng.randrange(patients)),
            "$XDSDocumentEntryStatus": [v.APPROVED]})).decode(),
            action="urn:ihe:iti:2007:RegistryStoredQuery") for _ in range(50)]
        checks = {"/health": http_check(base + "/health", timeout=5),
                  "FindDocuments": _rotating([http_check(base + "/xds/registry", body,
                                                         CONTENT_TYPE, timeout=5)
                                              for body in finds])}
        try:
            print(f"{args.connections} connections trickling one byte every 5 s, "
                  f"{args.seconds:.0f} s each, {args.workers} workers:")
            for mode in ("headers", "body"):
                trickler = Trickler(base, args.connections, 5.0, mode)
                trickler.start(args.seconds)
                report = probe(checks, args.seconds - 1, every=0.25)
                trickler.join()
                for name in checks:
                    count = len(report.latencies_ms[name])
                    print(f"  {mode:<7} {name:<13} {count:>4} probes, failed "
                          f"{report.failures.get(name, 0)}, p50 "
                          f"{report.percentile(name, 0.5):7.1f} ms, p99 "
                          f"{report.percentile(name, 0.99):7.1f} ms, max "
                          f"{max(report.latencies_ms[name]):7.1f} ms")
                r = trickler.report
                print(f"  {mode:<7} trickling connections opened {r.opened}, cut by the "
                      f"server {r.cut}, refused {r.refused}")
            print("\npeak RSS growth of a worker, largest requests the default limits admit "
                  "(budget 256 MB):")
            for name, (body, content_type) in largest_admitted().items():
                status, growth = peak_growth(base, process.pid, body, content_type)
                print(f"  {name:<48} {len(body) / MIB:7.1f} MiB sent, HTTP {status}, "
                      f"peak +{growth:6.1f} MiB")
        finally:
            stop_server(process)


def _rotating(checks):
    state = {"next": 0}

    def check() -> bool:
        state["next"] = (state["next"] + 1) % len(checks)
        return checks[state["next"]]()

    return check


if __name__ == "__main__":
    main()
