"""Benchmark of CDA validation and of ITI-41 in the `cisis` profile.

- documents validated per second, in process, for a ~50 KB and a 1.5 MB ANS CDA: schema only
  (the project's built-in schema and the ANS kit's), schema + CI-SIS header rules, and with the
  kit's schematrons (minimal structure + the document's volet), plus the one-off cost of
  compiling the schematrons;
- ITI-41 submissions per second over HTTP for a ~50 KB CDA, profile `cisis` with validation on
  (schema + header rules + CDA ⇄ metadata consistency), against the same server with
  XDS_VALIDATE_CDA=false in the same run, both servers up and measured in alternated rounds
  (before issue 20: one after the other, so the machine's drift went into the ratio); budget
  >= 100/s with validation on.

What it models: a source sending ANS CDA documents one at a time, each its own id.

    .venv/bin/python bench/cda.py [--database postgresql|sqlite] [--seconds 8]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from loadgen import LoadResult, run_load, server_bench_arguments  # noqa: E402
from registry import merge, postgres_url  # noqa: E402
from repository import raw_request  # noqa: E402

from tests.cda_data import ANS_KIT, ANS_SAMPLES, TEST_INS, mutate, set_attribute  # noqa: E402
from tests.conftest import start_server, stop_server  # noqa: E402
from xds_server.cda.header_rules import RuleContext  # noqa: E402
from xds_server.cda.kit import install_kit  # noqa: E402
from xds_server.cda.schema import schema_for  # noqa: E402
from xds_server.cda.validator import CdaValidator  # noqa: E402
from xds_server.consumer.documents import PROVIDE, provide_request  # noqa: E402
from xds_server.consumer.sources import SourceOptions, submission_for_files  # noqa: E402
from xds_server.model.content import Attachment  # noqa: E402
from xds_server.records.actor import Records  # noqa: E402
from xds_server.store.database import Database  # noqa: E402
from xds_server.store.schema import migrate  # noqa: E402

SMALL = ANS_SAMPLES / "DLU-EHPAD-FLUDT_2022.01.xml"   # 52 KB
LARGE = ANS_SAMPLES / "IPS-FR_2024.01.xml"            # 1.5 MB


def per_second(action, seconds: float) -> float:
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        action()
        count += 1
    return count / (time.perf_counter() - started)


def validation_rates(kit_dir: Path, seconds: float) -> tuple[list[tuple], float]:
    from xds_server.cda.document import parse_cda
    from xds_server.cda.schematron import KitSchematrons

    builtin, schema = schema_for(None), schema_for(kit_dir)
    validator = CdaValidator(schema, RuleContext(accept_test_ins=True))
    schematrons = KitSchematrons(kit_dir)
    with_schematrons = CdaValidator(schema, RuleContext(accept_test_ins=True), schematrons)
    started = time.perf_counter()
    for path in (SMALL, LARGE):   # compiles each schematron once (to XSLT, then by Saxon)
        assert with_schematrons.validate(path.read_bytes()).report.valid
    compile_seconds = time.perf_counter() - started
    rows = []
    for path in (SMALL, LARGE):
        data = path.read_bytes()
        assert validator.validate(data).report.valid
        rows.append((f"{path.name} ({len(data) // 1024} KB)",
                     per_second(lambda d=data: builtin.check(parse_cda(d)), seconds),
                     per_second(lambda d=data: schema.check(parse_cda(d)), seconds),
                     per_second(lambda d=data: validator.validate(d), seconds),
                     per_second(lambda d=data: with_schematrons.validate(d), seconds)))
    return rows, compile_seconds


def provide_bodies(endpoint: str, count: int, tmp: Path) -> list[bytes]:
    """`count` ITI-41 requests, each with its own copy of SMALL (its own id and setId)."""
    bodies = []
    for index in range(count):
        root = f"1.2.250.1.999.42.{index + 1}"
        path = tmp / "doc.xml"
        path.write_bytes(mutate(SMALL, set_attribute("h:id", "root", root),
                                set_attribute("h:id", "extension", str(index + 1)),
                                set_attribute("h:setId", "root", root + ".0")))
        submission, _ = submission_for_files([path], TEST_INS, SourceOptions())
        payload, binaries = provide_request(submission, {
            "Document01": Attachment.from_bytes(path.read_bytes(), "text/xml")})
        bodies.append(raw_request(endpoint, PROVIDE, payload, binaries))
    return bodies


def submission_rates(urls: dict[bool, str], tmp: Path, args) -> dict[bool, LoadResult]:
    """Validation off and on, both servers up, in alternated rounds."""
    servers, bodies = {}, {}
    try:
        for validate, url in urls.items():
            env = {"XDS_DATABASE_URL": url, "XDS_PROFILE": "cisis",
                   "XDS_ACCEPT_TEST_INS": "true", "XDS_SECURITY": "none",
                   "XDS_REQUIRE_SUBMISSION_SIGNATURE": "false",   # bench/dsig.py measures it
                   "XDS_VALIDATE_CDA": "true" if validate else "false",
                   "XDS_LOG_LEVEL": "WARNING"}
            servers[validate] = start_server(tmp / f"var{int(validate)}", env, args.workers)
            endpoint = servers[validate][1] + "/xds/repository"
            bodies[validate] = provide_bodies(endpoint, args.submissions, tmp)
            run_load(endpoint, bodies[validate][:50], clients=args.clients, seconds=5,
                     max_requests=50)
        runs: dict[bool, list[LoadResult]] = {False: [], True: []}
        per_round = (args.submissions - 50) // args.rounds
        for n in range(args.rounds):
            for validate in (False, True):
                share = bodies[validate][50 + n * per_round:50 + (n + 1) * per_round]
                runs[validate].append(run_load(
                    servers[validate][1] + "/xds/repository", share, clients=args.clients,
                    seconds=args.seconds / args.rounds, max_requests=len(share)))
    finally:
        for process, _, _ in servers.values():
            stop_server(process)
    return {validate: merge(results) for validate, results in runs.items()}


def main() -> None:
    args = server_bench_arguments(__doc__.split("\n")[0], submissions=2000, rounds=4)

    with tempfile.TemporaryDirectory(prefix="bench-cda-") as name:
        tmp = Path(name)
        kit_dir = tmp / "var1" / "kit"   # the validation-on server's data dir
        install_kit(ANS_KIT, kit_dir)
        rates, compile_seconds = validation_rates(kit_dir, min(args.seconds, 3.0))
        urls = {}
        for validate in (False, True):
            urls[validate] = url = postgres_url(f"bench_cda_{int(validate)}") \
                if args.database == "postgresql" \
                else f"sqlite:///{tmp}/registry-{int(validate)}.sqlite3"
            database = Database.from_url(url)
            migrate(database.engine)
            Records(database).open(TEST_INS)
            database.dispose()
        results = submission_rates(urls, tmp, args)

    print("\nCDA validation (in process, one core):")
    for label, builtin, official, header, schematrons in rates:
        print(f"  {label}: schema only {builtin:.0f}/s built-in, {official:.0f}/s ANS kit "
              f"(ratio {builtin / official:.2f}); + CI-SIS header rules {header:.0f}/s; "
              f"+ schematrons {schematrons:.1f}/s")
    print(f"  schematrons compiled once per process (XSLT written beside the .sch, then "
          f"Saxon): {compile_seconds:.1f} s")
    off, on = results[False], results[True]
    print(f"\nITI-41, 50 KB CDA, profile cisis, {args.database}, {args.workers} workers, "
          f"{args.clients} clients, {args.rounds} alternated rounds:")
    print(f"  validation off: {off.rate:.0f} submissions/s (errors {off.errors})")
    print(f"  validation on:  {on.rate:.0f} submissions/s (errors {on.errors}), ratio "
          f"{on.rate / off.rate:.2f} (budget >= 100/s: "
          f"{'within' if on.rate >= 100 else 'OVER'})")


if __name__ == "__main__":
    main()
