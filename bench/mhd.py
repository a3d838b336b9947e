"""Benchmark of the FHIR front against the SOAP one, over HTTP, in the same run, in alternated
rounds (both see the same machine):

- ITI-67 (GET /fhir/DocumentReference?patient.identifier=…&status=current) against ITI-18
  FindDocuments (LeafClass) for the same random patients of a registry of --size entries
  (bench/datagen.py: about 20 per patient): requests/s ratio, goal >= 0.8. Measured twice:
  "warm", the same 2,000 requests cycled (the workers keep the FHIR form of what they wrote
  once, fhir/forms.py), and "cold", patients never asked before, each once (every
  DocumentReference decoded from its registered form and written);
- ITI-65 (a transaction Bundle: SubmissionSet List, DocumentReference, Binary) against ITI-41
  (MTOM) with the same 50 KB CDA, one document per submission: requests/s ratio, goal >= 0.8.

With --in-process N, N submissions a side are also given to the WSGI application in process
(bench/mhd_in_process.py: thread CPU per submission, alternated rounds, before the server
starts; --profile adds a cProfile of the ITI-65 calls); --submissions-only leaves the searches
out (a small --size then suffices: the submissions go to a patient of their own). --lists
adds ITI-66 (code=submissionset) against FindSubmissionSets, the same patients' 2,000
requests cycled (no goal: ITI-66 answers are written from the decoded objects, no kept form).

The profile is ihe on both sides (no CDA validation: the ratio measures the fronts, the actors
being the same). Security off (XDS_SECURITY=none) on both.

    .venv/bin/python bench/mhd.py [--database postgresql|sqlite] [--size 100000]
    .venv/bin/python bench/mhd.py --submissions-only --size 10000 --in-process 400
    createdb -T xds_bench_1m xds_mhd_1m && \
        .venv/bin/python bench/mhd.py --url postgresql+psycopg:///xds_mhd_1m; dropdb xds_mhd_1m

With --url (a registry loaded by bench/datagen.py and kept, e.g. the 10^6 entries of
xds_bench_1m), only the searches are measured, and no document is added to it: the
submissions (ITI-65 / ITI-41) are left out (measure them with --size). The server still
upgrades the schema of what it serves and audits the searches: point it at a copy of a shared
registry, as above. The cold patients are asked in alternated rounds too.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from datagen import load, patient_id  # noqa: E402
from loadgen import http_request, run_load  # noqa: E402
from mhd_in_process import measure  # noqa: E402
from registry import find_request, merge, postgres_url, query_request, summary  # noqa: E402
from repository import CDA_50K, provide_requests  # noqa: E402

from tests.conftest import start_server, stop_server  # noqa: E402
from tests.fhir_data import provide_bundle  # noqa: E402
from tests.registry_data import document, new_patient, submission_set  # noqa: E402
from xds_server.model import vocabulary as v  # noqa: E402
from xds_server.model.stored_queries import FindSubmissionSets  # noqa: E402
from xds_server.records.actor import Records  # noqa: E402
from xds_server.store.database import Database, make_engine  # noqa: E402
from xds_server.store.schema import migrate  # noqa: E402


def get_request(url: str) -> bytes:
    host = url.split("/")[2]
    path = "/" + url.split("/", 3)[3]
    return (f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: application/fhir+json\r\n"
            "Connection: close\r\n\r\n").encode()


def find_requests_for(url: str, numbers: list[int]) -> list[bytes]:
    return [find_request(url, patient_id(number)) for number in numbers]


def search_requests(base: str, numbers: list[int]) -> list[bytes]:
    requests = []
    for number in numbers:
        value, _, rest = patient_id(number).partition("^^^&")
        authority = rest.split("&")[0]
        requests.append(get_request(f"{base}/fhir/DocumentReference?patient.identifier="
                                    f"urn:oid:{authority}%7C{value}&status=current"))
    return requests


def list_requests(base: str, numbers: list[int]) -> tuple[list[bytes], list[bytes]]:
    """ITI-66 (submission sets: bench/datagen.py makes no folder) and the equivalent ITI-18
    FindSubmissionSets (LeafClass), for the same patients."""
    fhir, soap = [], []
    for number in numbers:
        value, _, rest = patient_id(number).partition("^^^&")
        authority = rest.split("&")[0]
        fhir.append(get_request(f"{base}/fhir/List?patient.identifier=urn:oid:{authority}"
                                f"%7C{value}&code=submissionset&status=current"))
        soap.append(query_request(base + "/xds/registry", FindSubmissionSets.ID, {
            "$XDSSubmissionSetPatientId": patient_id(number),
            "$XDSSubmissionSetStatus": [v.APPROVED]}))
    return fhir, soap


def bundle_requests(base: str, patient: str, count: int) -> list[bytes]:
    requests = []
    for _ in range(count):
        entry = document(patient, f"urn:uuid:{uuid.uuid4()}", content=CDA_50K,
                         mime_type="text/xml", repository_unique_id=None)
        bundle = provide_bundle(submission_set(patient, f"urn:uuid:{uuid.uuid4()}"),
                                [(entry, CDA_50K)])
        requests.append(http_request(f"{base}/fhir", json.dumps(bundle).encode(),
                                     "application/fhir+json"))
    return requests


def alternate(url_a, requests_a, url_b, requests_b, rounds, seconds, clients, limit=None):
    """Rounds of A then B; with `limit` (submissions: each sent once), each round sends its own
    slice of the requests."""
    runs_a, runs_b = [], []
    for number in range(rounds):
        a = requests_a[number::rounds] if limit else requests_a
        b = requests_b[number::rounds] if limit else requests_b
        runs_a.append(run_load(url_a, a, clients=clients, seconds=seconds / rounds,
                               **({"max_requests": len(a)} if limit else {})))
        runs_b.append(run_load(url_b, b, clients=clients, seconds=seconds / rounds,
                               **({"max_requests": len(b)} if limit else {})))
    return merge(runs_a), merge(runs_b)


def searches(args, base: str, patients: int):
    """ITI-67 against FindDocuments: the same 2,000 requests cycled, then patients never
    asked (each once), in alternated rounds."""
    registry = base + "/xds/registry"
    rng = random.Random(11 + args.seed)  # 2,000 patients, the same on both sides
    asked = [rng.randrange(patients) for _ in range(2000)]
    finds = find_requests_for(registry, asked)
    fhir_searches = search_requests(base, asked)
    run_load(registry, finds, clients=args.clients, seconds=2)      # warm-up
    run_load(base + "/fhir", fhir_searches, clients=args.clients, seconds=2)
    find, search = alternate(registry, finds, base + "/fhir", fhir_searches, args.rounds,
                             args.seconds, args.clients)
    print(f"  FindDocuments (ITI-18) {summary(find)}", flush=True)
    print(f"  ITI-67                 {summary(search)}", flush=True)
    warm = set(asked)
    fresh = [n for n in random.Random(23 + args.seed).sample(range(patients),
                                                 min(patients, len(warm) + 4000))
             if n not in warm][:4000]
    half = len(fresh) // 2
    # each patient asked once, in alternated rounds (a slice of each side per round)
    cold_find = cold_search = None
    if half >= args.rounds:     # a registry of a few patients has none left cold
        cold_find, cold_search = alternate(
            registry, find_requests_for(registry, fresh[:half]), base + "/fhir",
            search_requests(base, fresh[half:]), args.rounds, 240.0, args.clients,
            half)
        print(f"  FindDocuments, cold    {summary(cold_find)}", flush=True)
        print(f"  ITI-67, cold           {summary(cold_search)}", flush=True)
    return find, search, cold_find, cold_search


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=12.0, help="per measure, all rounds")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--submissions", type=int, default=1500)
    parser.add_argument("--schema", default="bench_mhd")
    parser.add_argument("--seed", type=int, default=0, help="another seed asks other patients "
                        "(runs one after the other on one kept registry each see cold ones)")
    parser.add_argument("--url", default="", help="a registry loaded by bench/datagen.py and "
                        "kept (searches only: no submission is measured nor added)")
    parser.add_argument("--in-process", type=int, default=0, metavar="N",
                        help="also N submissions a side in process (CPU per submission)")
    parser.add_argument("--profile", action="store_true", help="with --in-process: cProfile "
                        "of the ITI-65 calls")
    parser.add_argument("--submissions-only", action="store_true",
                        help="measure ITI-65 / ITI-41 only (no searches)")
    parser.add_argument("--lists", action="store_true", help="also ITI-66 against "
                        "FindSubmissionSets (2,000 patients' requests cycled)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-mhd-") as tmp:
        if args.url:
            url = args.url
            engine = make_engine(url)
            with engine.connect() as connection:
                args.size = connection.exec_driver_sql(
                    "SELECT count(*) FROM document_entries").scalar()
                patients = connection.exec_driver_sql("SELECT count(*) FROM patients").scalar()
            engine.dispose()
            args.database = url.split(":")[0].split("+")[0]
            print(f"kept registry: {args.size} documents ({patients} patients)", flush=True)
        else:
            url = postgres_url(args.schema) if args.database == "postgresql" \
                else f"sqlite:///{tmp}/registry.sqlite3"
            engine = make_engine(url)
            migrate(engine)
            started = time.perf_counter()
            patients = load(engine, args.size)
            engine.dispose()
            print(f"loaded {args.size} documents ({patients} patients) in "
                  f"{time.perf_counter() - started:.0f} s", flush=True)
        data_dir = Path(tmp) / "data"
        env = {"XDS_DATABASE_URL": url, "XDS_PROFILE": "ihe", "XDS_SECURITY": "none",
               "XDS_LOG_LEVEL": "WARNING"}
        patient = new_patient()
        if not args.url:
            database = Database.from_url(url)
            Records(database).open(patient)
            database.dispose()
        in_process = None
        if args.in_process and not args.url:
            provides, _ = provide_requests("http://x/xds/repository", patient,
                                           args.in_process + 5, CDA_50K, "text/xml")
            in_process = measure(url, Path(tmp) / "in-process", provides,
                                 bundle_requests("http://x", patient, args.in_process + 5),
                                 args.rounds, args.profile)
            print(f"  in process, CPU per submission: ITI-41 {in_process[0]:.2f} ms, "
                  f"ITI-65 {in_process[1]:.2f} ms", flush=True)
            print(in_process[2], flush=True)
        process, base, _ = start_server(data_dir, env, args.workers)
        find = search = cold_find = cold_search = None
        lists_measured = (None, None)
        try:
            if not args.submissions_only:
                find, search, cold_find, cold_search = searches(args, base, patients)
            if args.lists:
                asked = random.Random(31 + args.seed).choices(range(patients), k=2000)
                fhir_lists, soap_lists = list_requests(base, asked)
                run_load(base + "/fhir", fhir_lists, clients=args.clients, seconds=2)
                find_sets, iti66 = alternate(base + "/xds/registry", soap_lists,
                                             base + "/fhir", fhir_lists, args.rounds,
                                             args.seconds, args.clients)
                print(f"  FindSubmissionSets     {summary(find_sets)}", flush=True)
                print(f"  ITI-66                 {summary(iti66)}", flush=True)
                lists_measured = (find_sets, iti66)
            iti41 = iti65 = None
            if not args.url and args.submissions:     # --submissions 0: none
                repository = base + "/xds/repository"
                provides, _ = provide_requests(repository, patient, args.submissions, CDA_50K,
                                               "text/xml")
                bundles = bundle_requests(base, patient, args.submissions)
                per_round = args.submissions // (2 * args.rounds)
                iti41, iti65 = alternate(repository, provides, base + "/fhir", bundles,
                                         args.rounds, args.seconds, args.clients, per_round)
                print(f"  ITI-41                 {summary(iti41)}", flush=True)
                print(f"  ITI-65                 {summary(iti65)}", flush=True)
        finally:
            stop_server(process)
    report(args, find, search, cold_find, cold_search, iti41, iti65, in_process,
           lists_measured)


def report(args, find, search, cold_find, cold_search, iti41, iti65, in_process,
           lists_measured=(None, None)) -> None:
    print(f"\nMHD benchmark on {args.database}, {args.size} entries: {args.workers} workers, "
          f"{args.clients} clients, {args.seconds:.0f} s per measure in {args.rounds} "
          "alternated rounds")
    for name, baseline, measured in (("ITI-67 / FindDocuments, warm", find, search),
                                     ("ITI-67 / FindDocuments, cold", cold_find, cold_search),
                                     ("ITI-65 / ITI-41 (50 KB CDA)", iti41, iti65),
                                     ("ITI-66 / FindSubmissionSets", *lists_measured)):
        if baseline is None:
            continue
        ratio = measured.rate / baseline.rate if baseline.rate else 0.0
        print(f"{name:<28} {measured.rate:>7.0f}/s vs {baseline.rate:>7.0f}/s = {ratio:.2f} "
              f"(goal >= 0.8: {'met' if ratio >= 0.8 else 'NOT MET'}); errors "
              f"{measured.errors}/{baseline.errors}")
    if in_process is not None:      # submissions/s in CPU terms: the inverse of the costs
        soap, fhir, _ = in_process
        print(f"{'ITI-65 / ITI-41 in process':<28} {fhir:>6.2f} ms vs {soap:>6.2f} ms of CPU "
              f"= {soap / fhir:.2f} (submissions/s ratio)")


if __name__ == "__main__":
    main()
