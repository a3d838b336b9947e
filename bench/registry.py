"""Benchmark of the document registry over HTTP, on PostgreSQL (default) or SQLite.

For each registry size (default 10,000 then 1,000,000 document entries, about 20 per patient,
loaded by bench/datagen.py) it serves the registry under gunicorn and measures, in the same run:

- the SOAP core's small action (diagnostic Echo): the baseline, requests/s;
- FindDocuments for one random patient, LeafClass: requests/s, p50 and p99 latency;

then ITI-42 registrations per second (one document each, fresh uniqueIds). Budgets (issue 3):
FindDocuments/Echo >= 0.5 at the largest size on PostgreSQL; p99 at the largest size within
1.5x of p99 at 10,000; ITI-42 >= 200/s on PostgreSQL.

    .venv/bin/python bench/registry.py [--database postgresql|sqlite] [--sizes 10000,1000000]
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lxml import etree
from sqlalchemy import create_engine, text

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from datagen import load, patient_id  # noqa: E402
from loadgen import LoadResult, http_request, run_load  # noqa: E402

from tests.conftest import start_server, stop_server  # noqa: E402
from tests.registry_data import single_document_submission, stored_query  # noqa: E402
from tests.soap_messages import echo_body, envelope  # noqa: E402
from xds_server.consumer.metadata import submit_objects_request  # noqa: E402
from xds_server.model import vocabulary as v  # noqa: E402
from xds_server.store.database import make_engine  # noqa: E402
from xds_server.store.schema import migrate  # noqa: E402

FIND_DOCUMENTS = "urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d"
CONTENT_TYPE = "application/soap+xml; charset=UTF-8"


def postgres_url(schema: str, reset: bool = True) -> str:
    base = subprocess.run(["sh", str(HERE.parent / "tests" / "postgres.sh")], capture_output=True,
                          text=True, check=True).stdout.strip()
    if not base:
        raise SystemExit("PostgreSQL is not available here; use --database sqlite")
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        if reset:
            connection.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        connection.execute(text(f"CREATE SCHEMA IF NOT EXISTS {schema}"))
    admin.dispose()
    separator = "&" if "?" in base else "?"
    return f"{base}{separator}options=-csearch_path%3D{schema}"


def find_requests(url: str, patients: int, count: int = 2000) -> list[bytes]:
    rng = random.Random(11)
    bodies = []
    for _ in range(count):
        query = stored_query(FIND_DOCUMENTS, {
            "$XDSDocumentEntryPatientId": patient_id(rng.randrange(patients)),
            "$XDSDocumentEntryStatus": [v.APPROVED]})
        body = envelope(etree.tostring(query).decode(),
                        action="urn:ihe:iti:2007:RegistryStoredQuery")
        bodies.append(http_request(url, body, CONTENT_TYPE))
    return bodies


def register_requests(url: str, patients: int, count: int) -> list[bytes]:
    rng = random.Random(13)
    bodies = []
    for _ in range(count):
        submission = single_document_submission(patient_id(rng.randrange(patients)))
        body = envelope(etree.tostring(submit_objects_request(submission)).decode(),
                        action="urn:ihe:iti:2007:RegisterDocumentSet-b")
        bodies.append(http_request(url, body, CONTENT_TYPE))
    return bodies


def merge(runs: list[LoadResult]) -> LoadResult:
    return LoadResult(sum(r.requests for r in runs), sum(r.errors for r in runs),
                      sum(r.seconds for r in runs), [x for r in runs for x in r.latencies_ms])


def summary(result: LoadResult) -> str:
    return (f"{result.rate:8.0f} req/s  p50 {result.percentile(0.5):6.2f} ms  "
            f"p99 {result.percentile(0.99):6.2f} ms  errors {result.errors}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--sizes", default="10000,1000000")
    parser.add_argument("--seconds", type=float, default=12.0, help="per measure, all rounds")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--registrations", type=int, default=3000)
    parser.add_argument("--schema", default="bench_registry", help="PostgreSQL schema used")
    parser.add_argument("--reuse", action="store_true",
                        help="keep a PostgreSQL registry loaded by an earlier run when it holds "
                             "exactly the sizes asked (saves the 1,000,000-entry load)")
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))

    with tempfile.TemporaryDirectory(prefix="bench-registry-") as tmp:
        url = postgres_url(args.schema, reset=not args.reuse) \
            if args.database == "postgresql" else f"sqlite:///{tmp}/registry.sqlite3"
        engine = make_engine(url)
        migrate(engine)
        with engine.connect() as connection:
            present = connection.exec_driver_sql(
                "SELECT count(*) FROM document_entries").scalar()
        if present and present < sizes[-1]:
            raise SystemExit(f"the bench registry holds {present} entries; run without --reuse")
        if present >= sizes[-1]:  # reused (plus earlier ITI-42s): only the largest is measured
            print(f"reusing the {present} entries already loaded", flush=True)
            sizes = sizes[-1:]
        loaded, next_patient, rows = 0, 0, []
        for size in sizes:
            started = time.perf_counter()
            if present >= size:
                next_patient = size // 20  # datagen puts 20 entries per patient
            else:
                next_patient = load(engine, size - loaded, first_patient=next_patient)
            loaded = size
            print(f"loaded {size} documents ({next_patient} patients) in "
                  f"{time.perf_counter() - started:.0f} s", flush=True)
            env = {"XDS_DATABASE_URL": url, "XDS_PROFILE": "ihe", "XDS_LOG_LEVEL": "WARNING"}
            process, base, _ = start_server(Path(tmp) / f"data-{size}", env, args.workers)
            try:
                endpoint = base + "/xds/registry"
                echo = http_request(endpoint, envelope(echo_body("ping")), CONTENT_TYPE)
                finds = find_requests(endpoint, next_patient)
                run_load(endpoint, finds, clients=args.clients, seconds=2)  # warm-up
                # alternate rounds, so both see the same machine (its load varies)
                echo_runs, find_runs = [], []
                for _ in range(args.rounds):
                    echo_runs.append(run_load(endpoint, echo, clients=args.clients,
                                              seconds=args.seconds / args.rounds))
                    find_runs.append(run_load(endpoint, finds, clients=args.clients,
                                              seconds=args.seconds / args.rounds))
                baseline, find = merge(echo_runs), merge(find_runs)
                rows.append((size, baseline, find))
                print(f"  echo          {summary(baseline)}", flush=True)
                print(f"  FindDocuments {summary(find)}", flush=True)
                if size == sizes[-1]:
                    registrations = register_requests(endpoint, next_patient, args.registrations)
                    register = run_load(endpoint, registrations, clients=args.clients,
                                        seconds=120, max_requests=len(registrations))
                    print(f"  ITI-42        {summary(register)}", flush=True)
            finally:
                stop_server(process)
        engine.dispose()

    print(f"\nRegistry benchmark on {args.database}: {args.workers} sync workers, "
          f"{args.clients} clients, {args.seconds:.0f} s per measure")
    print(f"{'entries':>10} {'echo/s':>8} {'find/s':>8} {'ratio':>6} {'p50 ms':>7} {'p99 ms':>7}")
    for size, baseline, find in rows:
        print(f"{size:>10} {baseline.rate:>8.0f} {find.rate:>8.0f} "
              f"{find.rate / baseline.rate:>6.2f} {find.percentile(0.5):>7.2f} "
              f"{find.percentile(0.99):>7.2f}")
    largest, smallest = rows[-1], rows[0]
    ratio = largest[2].rate / largest[1].rate
    growth = largest[2].percentile(0.99) / smallest[2].percentile(0.99)
    print(f"FindDocuments/echo at {largest[0]}: {ratio:.2f} (budget >= 0.5: "
          f"{'within' if ratio >= 0.5 else 'OVER'})")
    if len(rows) > 1:
        print(f"p99 at {largest[0]} / p99 at {smallest[0]}: {growth:.2f} (budget <= 1.5: "
              f"{'within' if growth <= 1.5 else 'OVER'})")
    print(f"ITI-42 registrations: {register.rate:.0f}/s (budget >= 200/s on PostgreSQL: "
          f"{'within' if register.rate >= 200 else 'OVER'})")


if __name__ == "__main__":
    main()
