"""Benchmark of the document registry over HTTP, on PostgreSQL (default) or SQLite.

What it models: consumers asking a registry fed over months (bench/datagen.py's interleaved
load) about patients mostly never asked about before, single client by default so latency is
the registry's, not the queue's. One server per registry size (default 10,000 and 1,000,000
entries, 20 per patient), all up at once, measured in alternated rounds in one run so every
ratio compares figures taken on the same machine state. Each round runs, on each size:

- Echo (the SOAP core's small action): the baseline every figure is divided by;
- FindDocuments of hot patients (200, cycled, queried during warm-up) and of cold ones (never
  queried before in the run: each request a new patient);
- FindDocuments by an event code and an author pattern (the multi-valued attributes' filters),
  GetDocuments by 10 uniqueIds and GetAll, all on cold patients.

It prints p50 and p99 of each, p50 as a multiple of Echo's p50, and p99 at the largest size
over p99 at the smallest, from the same rounds. Then ITI-42 (one document a submission, fresh
uniqueIds, `--clients-write` clients) at the smallest and the largest size, each against an
Echo of the same bytes (the same envelope under the Echo action: parse and answer, no
registry), the four alternated. Registrations are added to the registries measured.

Budgets: FindDocuments p50 <= 2x Echo p50 (was: rate >= 0.5x Echo's); cold p99 at the largest
size <= 1.5x cold p99 at 10,000; ITI-42 >= 200/s on PostgreSQL. Goals (issue 20): GetDocuments
x10 <= 3.5x Echo p50, GetAll <= 5x.

    .venv/bin/python bench/registry.py [--database postgresql|sqlite] [--sizes 10000,1000000]
    .venv/bin/python bench/registry.py --urls postgresql+psycopg:///xds_bench_10k,...  # kept
    cd /tmp && .../bench/registry.py --urls ... --baseline-code /path/to/older/checkout
"""

from __future__ import annotations

import argparse
import glob
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lxml import etree
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.exc import DBAPIError

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
GET_DOCUMENTS = "urn:uuid:5c4f972b-d56b-40ac-a5fc-c8ca9b40b9d4"
GET_ALL = "urn:uuid:10b545ea-725c-446d-9b95-8aeb444eddf3"
STORED_QUERY = "urn:ihe:iti:2007:RegistryStoredQuery"
REGISTER = "urn:ihe:iti:2007:RegisterDocumentSet-b"
CONTENT_TYPE = "application/soap+xml; charset=UTF-8"
HOT = 200


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


def query_request(url: str, query_id: str, params: dict) -> bytes:
    body = envelope(etree.tostring(stored_query(query_id, params)).decode(), STORED_QUERY)
    return http_request(url, body, CONTENT_TYPE)


def find_request(url: str, patient: str) -> bytes:
    return query_request(url, FIND_DOCUMENTS, {"$XDSDocumentEntryPatientId": patient,
                                               "$XDSDocumentEntryStatus": [v.APPROVED]})


def filtered_find_request(url: str, patient: str, n: int) -> bytes:
    """FindDocuments narrowed by the multi-valued attributes: an event code (one of the 100
    bench/datagen.py draws from) and an author name pattern (one of its 50 authors)."""
    return query_request(url, FIND_DOCUMENTS, {
        "$XDSDocumentEntryPatientId": patient, "$XDSDocumentEntryStatus": [v.APPROVED],
        "$XDSDocumentEntryEventCodeList": [f"ZZQK{n % 100:03d}^^1.2.250.1.215.300.1"],
        "$XDSDocumentEntryAuthorPerson": [f"%^NOM{n % 50}^%"]})


def get_all_request(url: str, patient: str) -> bytes:
    return query_request(url, GET_ALL, {
        "$patientId": patient, "$XDSDocumentEntryStatus": [v.APPROVED, v.DEPRECATED],
        "$XDSSubmissionSetStatus": [v.APPROVED], "$XDSFolderStatus": [v.APPROVED]})


def get_documents_request(url: str, unique_ids: list[str]) -> bytes:
    return query_request(url, GET_DOCUMENTS, {"$XDSDocumentEntryUniqueId": unique_ids})


def register_requests(url: str, patients: list[int], count: int, echo: bool) -> list[bytes]:
    """ITI-42 submissions for these patients, or (`echo`) the same envelopes under the Echo
    action: what the SOAP core does with the same bytes, without the registry."""
    rng = random.Random(13)
    bodies = []
    for _ in range(count):
        submission = single_document_submission(patient_id(rng.choice(patients)))
        request = etree.tostring(submit_objects_request(submission)).decode()
        body = envelope(echo_body(request)) if echo else envelope(request, action=REGISTER)
        bodies.append(http_request(url, body, CONTENT_TYPE))
    return bodies


def merge(runs: list[LoadResult]) -> LoadResult:
    return LoadResult(sum(r.requests for r in runs), sum(r.errors for r in runs),
                      sum(r.seconds for r in runs), [x for r in runs for x in r.latencies_ms])


def summary(result: LoadResult) -> str:
    return (f"{result.rate:8.0f} req/s  p50 {result.percentile(0.5):6.2f} ms  "
            f"p99 {result.percentile(0.99):6.2f} ms  n {result.requests}  errors {result.errors}")


class Registry:
    """One loaded registry served by its own server, with its pools of patients: hot ones,
    and cold ones each asked at most once in the run."""

    def __init__(self, size: int, url: str, patients: int, unique_ids: dict[int, list[str]],
                 code: str = "") -> None:
        self.size, self.url, self.patients = size, url, patients
        self.code = code        # another checkout's xds_server to serve with ("": this one)
        self.key = f"{size} ({Path(code).name})" if code else str(size)
        # the patients with documents: a registry loaded in part (datagen --part) has
        # numbers below its count whose first submission is still to come
        self.numbers = sorted(unique_ids)
        order = list(self.numbers)
        random.Random(size).shuffle(order)
        self.hot = order[:HOT]
        rest = order[HOT:]
        self.cold = {"FindDocuments": rest[0::4], "GetDocuments x10": rest[1::4],
                     "GetAll": rest[2::4], "FindDocuments coded": rest[3::4]}
        self.unique_ids = unique_ids
        self.quota: dict[str, int] = {}
        self.endpoint = ""
        self.process: subprocess.Popen | None = None
        self.log = Path()
        self.cached = "unknown"     # the page cache's share of its files at the start

    def share_cold(self, part: int, parts: int) -> None:
        """Keep one part of the cold patients: servers of one registry share none."""
        self.cold = {name: pool[part::parts] for name, pool in self.cold.items()}

    def requests(self, name: str, numbers: list[int]) -> list[bytes]:
        if name == "FindDocuments":
            return [find_request(self.endpoint, patient_id(n)) for n in numbers]
        if name == "FindDocuments coded":
            return [filtered_find_request(self.endpoint, patient_id(n), n) for n in numbers]
        if name == "GetAll":
            return [get_all_request(self.endpoint, patient_id(n)) for n in numbers]
        return [get_documents_request(self.endpoint, self.unique_ids[n][:10]) for n in numbers]

    def take_cold(self, name: str, count: int) -> list[bytes]:
        """`count` requests for patients never asked about before (fewer when none are left)."""
        pool = self.cold[name]
        numbers, self.cold[name] = pool[:count], pool[count:]
        return self.requests(name, numbers)


def unique_ids_of(url: str, patients: int) -> dict[int, list[str]]:
    engine = make_engine(url)
    # the rows carry the patient's key from 0011 on (a baseline may be older)
    keyed = "patient_key" in {c["name"] for c in inspect(engine).get_columns("document_entries")}
    with engine.connect() as connection:
        rows = connection.exec_driver_sql(
            "SELECT p.patient_id, d.unique_id FROM document_entries d JOIN patients p "
            "ON p.patient_key = d.patient_key" if keyed else
            "SELECT patient_id, unique_id FROM document_entries").fetchall()
    engine.dispose()
    wanted = {patient_id(n): n for n in range(patients)}
    found: dict[int, list[str]] = {}
    for patient, unique_id in rows:
        if patient in wanted:
            found.setdefault(wanted[patient], []).append(unique_id)
    return found


def registries(args: argparse.Namespace, tmp: str) -> list[Registry]:
    """The registries to measure: the databases given (`--urls`, loaded by bench/datagen.py
    and kept), or one per size, loaded here."""
    made = []
    urls = args.urls.split(",") if args.urls else []
    if not urls:
        for size in sorted(int(s) for s in args.sizes.split(",")):
            url = postgres_url(f"{args.schema}_{size}", reset=not args.reuse) \
                if args.database == "postgresql" else f"sqlite:///{tmp}/registry-{size}.sqlite3"
            urls.append(url)
            engine = make_engine(url)
            migrate(engine)
            with engine.connect() as connection:
                present = connection.exec_driver_sql(
                    "SELECT count(*) FROM patients").scalar() or 0
            if present == 0:
                started = time.perf_counter()
                load(engine, size, layout=args.layout)
                print(f"loaded {size} entries ({args.layout}) in "
                      f"{time.perf_counter() - started:.0f} s", flush=True)
            engine.dispose()
    for url in urls:
        cached = page_cache_share(url)   # before unique_ids_of reads the documents' heap
        engine = make_engine(url)
        with engine.connect() as connection:
            size = connection.exec_driver_sql("SELECT count(*) FROM document_entries").scalar()
            # patient numbers in use (datagen's keys are number + 1; a partial load has gaps)
            patients = connection.exec_driver_sql("SELECT max(patient_key) FROM patients"
                                                  ).scalar()
        engine.dispose()
        made.append(Registry(size, url, patients, unique_ids_of(url, patients)))
        made[-1].cached = cached
    return sorted(made, key=lambda r: r.size)


def page_cache_share(url: str) -> str:
    """How much of the registry's files the operating system's page cache holds (`fincore`,
    the database on this host, its files readable): at 10⁶ a cold Get* costs 2 ms with its
    pages there and 5-6 ms with them on disk (docs/benchmarks.md, branch getperf6), so a run
    says which it measured. "unknown" when it cannot tell."""
    if not url.startswith("postgresql") or shutil.which("fincore") is None:
        return "unknown"
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            root = connection.exec_driver_sql(
                "SELECT current_setting('data_directory')").scalar()
            files = [f"{root}/{path}" for (path,) in connection.exec_driver_sql(
                "SELECT pg_relation_filepath(oid) FROM pg_class WHERE relkind IN ('r', 'i', "
                "'t') AND pg_relation_filepath(oid) IS NOT NULL")]
    except DBAPIError:      # data_directory is for superusers and pg_read_all_settings
        return "unknown"
    finally:
        engine.dispose()
    segments = [name for path in files for name in glob.glob(path) + glob.glob(path + ".*")]
    if not segments:
        return "unknown"
    out = subprocess.run(["fincore", "--bytes", "--noheadings", "--output", "RES,SIZE",
                          *segments], capture_output=True, text=True).stdout.split()
    held, size = sum(int(x) for x in out[0::2]), sum(int(x) for x in out[1::2])
    return f"{held / 1e9:.2f} of {size / 1e9:.2f} GB" if size else "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--sizes", default="10000,1000000")
    parser.add_argument("--urls", default="", help="registries already loaded (kept), instead "
                        "of loading --sizes")
    parser.add_argument("--layout", choices=("interleaved", "clustered"), default="interleaved")
    parser.add_argument("--seconds", type=float, default=3.0, help="per measure and round")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--clients", type=int, default=1)
    parser.add_argument("--clients-write", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--registrations", type=int, default=1200)
    parser.add_argument("--schema", default="bench_registry", help="PostgreSQL schema prefix")
    parser.add_argument("--reuse", action="store_true",
                        help="keep registries loaded by an earlier run into the same schemas")
    parser.add_argument("--baseline-code", default="",
                        help="a checkout of another version (its root): the largest registry "
                             "is also served by that code, in the same alternated rounds, "
                             "each server asked about cold patients of its own")
    parser.add_argument("--baseline-url", default="",
                        help="with --baseline-code: the database that code serves (one loaded "
                             "by its own bench/datagen.py, the same size and arguments, when "
                             "the schemas differ); default the largest registry's")
    args = parser.parse_args()

    names = ("Echo", "FindDocuments hot", "FindDocuments", "FindDocuments coded",
             "GetDocuments x10", "GetAll")
    with tempfile.TemporaryDirectory(prefix="bench-registry-") as tmp:
        loaded = registries(args, tmp)
        servers = list(loaded)
        if args.baseline_code:
            if (Path.cwd() / "xds_server").is_dir():
                raise SystemExit("--baseline-code: run from a directory without xds_server/ "
                                 "(python -m would import it before the baseline's)")
            largest = loaded[-1]
            url = args.baseline_url or largest.url
            unique_ids = unique_ids_of(url, largest.patients) if args.baseline_url \
                else largest.unique_ids
            servers.append(Registry(largest.size, url, largest.patients, unique_ids,
                                    args.baseline_code))
            servers[-1].cached = page_cache_share(url) if args.baseline_url else largest.cached
            largest.share_cold(0, 2)
            servers[-1].share_cold(1, 2)
        for registry in servers:   # cold patients per round: their share, at most 4,000
            registry.quota = {name: min(4000, len(pool) // args.rounds)
                              for name, pool in registry.cold.items()}
        runs: dict[tuple[int, str], list[LoadResult]] = {}
        try:
            for number, registry in enumerate(servers):
                env = {"XDS_DATABASE_URL": registry.url, "XDS_PROFILE": "ihe",
                       "XDS_LOG_LEVEL": "WARNING", "XDS_SECURITY": "none"}
                if registry.code:    # found before this checkout (run from another directory)
                    env["PYTHONPATH"] = registry.code
                registry.process, base, registry.log = start_server(
                    Path(tmp) / f"data-{number}", env, args.workers)
                registry.endpoint = base + "/xds/registry"
                hot = registry.requests("FindDocuments", registry.hot)
                run_load(registry.endpoint, hot, clients=args.clients, seconds=2)  # warm-up
            for _ in range(args.rounds):       # alternated: sizes and queries see one machine
                for name in names:
                    for registry in servers:
                        if name == "Echo":
                            requests = [http_request(registry.endpoint,
                                                     envelope(echo_body("ping")), CONTENT_TYPE)]
                        elif name == "FindDocuments hot":
                            requests = registry.requests("FindDocuments", registry.hot)
                        else:
                            requests = registry.take_cold(name, registry.quota[name])
                        if not requests:
                            continue
                        cold = name not in ("Echo", "FindDocuments hot")
                        result = run_load(registry.endpoint, requests, clients=args.clients,
                                          seconds=args.seconds,
                                          max_requests=len(requests) if cold else 1_000_000)
                        runs.setdefault((registry.key, name), []).append(result)
            # ITI-42 at the smallest and the largest size, each against an Echo of the same
            # bytes, all four alternated: the rate at scale as a ratio of the rate at 10,000
            ends = [loaded[0], loaded[-1]] if len(loaded) > 1 else list(loaded)
            if args.baseline_code:      # and the baseline, the same submissions
                ends.append(servers[-1])
            writes = {(r.key, echo): register_requests(r.endpoint, r.numbers,
                                                       args.registrations, echo)
                      for r in ends for echo in (True, False)}
            write_runs: dict[tuple[int, bool], list[LoadResult]] = {k: [] for k in writes}
            per_round = args.registrations // args.rounds
            for n in range(args.rounds):
                for registry in ends:
                    for echo in (True, False):
                        share = writes[(registry.key, echo)][n * per_round:(n + 1) * per_round]
                        write_runs[(registry.key, echo)].append(run_load(
                            registry.endpoint, share, clients=args.clients_write, seconds=60,
                            max_requests=len(share)))
        finally:
            for registry in servers:
                if registry.process is not None:
                    stop_server(registry.process)
            for registry in servers:   # what the servers said about requests that failed
                lines = [line for line in registry.log.read_text(errors="replace").splitlines()
                         if " ERROR " in line or "Traceback" in line or " 50" in line]
                if lines:
                    print(f"server log at {registry.key}, errors:\n  " + "\n  ".join(lines[-8:]))

    print(f"\nRegistry benchmark on {args.database}: {args.workers} workers, {args.clients} "
          f"client(s), {args.rounds} alternated rounds x {args.seconds:.0f} s per measure")
    for registry in servers:
        echo = merge(runs[(registry.key, "Echo")])
        print(f"{registry.key:>10} entries ({len(registry.numbers)} patients; in the page "
              f"cache at the start: {registry.cached})")
        for name in names:
            if (registry.key, name) not in runs:
                continue
            result = merge(runs[(registry.key, name)])
            print(f"  {name:<18} {summary(result)}  p50/Echo p50 "
                  f"{result.percentile(0.5) / echo.percentile(0.5):5.2f}")
    if len(loaded) > 1:
        small, large = loaded[0], loaded[-1]
        for name in names[1:]:
            if (small.key, name) in runs and (large.key, name) in runs:
                ratio = merge(runs[(large.key, name)]).percentile(0.99) / \
                    merge(runs[(small.key, name)]).percentile(0.99)
                each = [b.percentile(0.99) / a.percentile(0.99) for a, b in
                        zip(runs[(small.key, name)], runs[(large.key, name)], strict=False)]
                print(f"p99 {name} at {large.size} / at {small.size}: {ratio:.2f} (rounds "
                      f"{min(each):.2f}-{max(each):.2f}; budget <= 1.5 for FindDocuments)")
        if (small.key, "FindDocuments hot") in runs and (large.key, "FindDocuments") in runs:
            ratio = merge(runs[(large.key, "FindDocuments")]).percentile(0.99) / \
                merge(runs[(small.key, "FindDocuments hot")]).percentile(0.99)
            print(f"p99 FindDocuments cold at {large.size} / hot at {small.size} (the budget's "
                  f"comparison before issue 20, done honestly): {ratio:.2f}")
    if args.baseline_code:
        ours, theirs = loaded[-1], servers[-1]
        print(f"this code against {theirs.key}, same rounds: p50 (as a multiple of each "
              "server's Echo p50) and p99, ours / theirs")
        for name in names[1:]:
            if (ours.key, name) not in runs or (theirs.key, name) not in runs:
                continue
            a, b = merge(runs[(ours.key, name)]), merge(runs[(theirs.key, name)])
            ea, eb = merge(runs[(ours.key, "Echo")]), merge(runs[(theirs.key, "Echo")])
            each = [x.percentile(0.5) / y.percentile(0.5) for x, y in
                    zip(runs[(ours.key, name)], runs[(theirs.key, name)], strict=False)]
            print(f"  {name:<18} p50 {a.percentile(0.5) / ea.percentile(0.5):5.2f}x vs "
                  f"{b.percentile(0.5) / eb.percentile(0.5):5.2f}x Echo; p50 ours/theirs "
                  f"{a.percentile(0.5) / b.percentile(0.5):.2f} (rounds {min(each):.2f}-"
                  f"{max(each):.2f}); p99 {a.percentile(0.99) / b.percentile(0.99):.2f}")
    rates = {}
    for registry in ends:
        echo_w = merge(write_runs[(registry.key, True)])
        iti42 = merge(write_runs[(registry.key, False)])
        rates[registry.key] = iti42.rate
        each = [b.rate / a.rate for a, b in zip(write_runs[(registry.key, True)],
                                                write_runs[(registry.key, False)], strict=True)]
        print(f"ITI-42 at {registry.key}, {args.clients_write} clients: {iti42.rate:.0f}/s "
              f"(p50 {iti42.percentile(0.5):.1f} ms, errors {iti42.errors}) vs Echo of the same "
              f"bytes {echo_w.rate:.0f}/s: {iti42.rate / echo_w.rate:.2f}x (rounds "
              f"{min(each):.2f}-{max(each):.2f}); budget >= 200/s: "
              f"{'within' if iti42.rate >= 200 else 'OVER'}")
    if len(loaded) > 1:
        small, large = loaded[0], loaded[-1]
        print(f"ITI-42 at {large.size} / at {small.size}: "
              f"{rates[large.key] / rates[small.key]:.2f} (goal >= 0.9)")
    if args.baseline_code:
        ours, theirs = loaded[-1], servers[-1]
        each = [(a.rate / ea.rate) / (b.rate / eb.rate) for a, ea, b, eb in zip(
            write_runs[(ours.key, False)], write_runs[(ours.key, True)],
            write_runs[(theirs.key, False)], write_runs[(theirs.key, True)], strict=True)]
        print(f"ITI-42 ours / {theirs.key}: {rates[ours.key] / rates[theirs.key]:.2f} "
              f"(each over its Echo, rounds {min(each):.2f}-{max(each):.2f})")

if __name__ == "__main__":
    main()
