"""Where a signed submission set's extra time goes: ITI-41 of one ~50 KB CDA, signed and
verified against the same submission unsigned, called in process (the WSGI application, no
HTTP), alternated one by one; wall and CPU time per request, and the functions whose cumulative
time grows the most between the two (cProfile). bench/dsig.py gives the throughput ratio over
HTTP; this says what makes it.

    .venv/bin/python bench/dsig_profile.py [--database postgresql|sqlite] [--count 300]
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from dsig import submission  # noqa: E402
from registry import postgres_url  # noqa: E402

from tests.cda_data import TEST_INS  # noqa: E402
from tests.conftest import call_wsgi  # noqa: E402
from tests.dsig_data import SealAuthority  # noqa: E402
from xds_server.app import XdsApplication  # noqa: E402
from xds_server.config import load_settings  # noqa: E402
from xds_server.consumer.documents import PROVIDE, provide_request  # noqa: E402
from xds_server.consumer.transport import encode_request  # noqa: E402
from xds_server.records.actor import Records  # noqa: E402
from xds_server.registry import register as register_module  # noqa: E402
from xds_server.store import repository_store  # noqa: E402
from xds_server.store.database import make_engine  # noqa: E402
from xds_server.store.schema import migrate  # noqa: E402
from xds_server.transactions import iti41  # noqa: E402

KINDS = ("unsigned", "signed, not verified", "signed")


def application(kind: str, tmp: Path, database: str, authority: SealAuthority) -> XdsApplication:
    url = postgres_url(f"bench_dsig_profile_{KINDS.index(kind)}") if database == "postgresql" \
        else f"sqlite:///{tmp}/profile-{KINDS.index(kind)}.sqlite3"
    engine = make_engine(url)
    migrate(engine)
    engine.dispose()
    signed = kind == "signed"
    settings = load_settings({
        "data_dir": str(tmp / f"var-{KINDS.index(kind)}"), "database_url": url, "profile": "cisis",
        "security": "none", "accept_test_ins": "true",
        "require_submission_signature": "true" if signed else "false",
        **({"signature_trusted_certs": str(authority.trusted)} if signed else {})}, environ={})
    app = XdsApplication(settings)
    Records(app.database).open(TEST_INS)
    return app


def request(index: int, tmp: Path, seal) -> tuple[bytes, str]:
    payload, binaries = provide_request(*submission(index, tmp, seal))
    encoded = encode_request("http://testserver/xds/repository", PROVIDE, payload,
                             binaries=binaries, mtom=True)
    return b"".join(encoded.chunks), encoded.content_type


class Phases:
    """Thread CPU and wall time spent in named phases of a request, per kind (the timed pass:
    no profiler, so these are the real costs). Phases nest: an indented one is part of the
    one above it."""

    def __init__(self) -> None:
        self.kind = ""
        self.spent: dict[tuple[str, str], list[float]] = {}
        self.order: list[str] = []
        self._wrapped: set[tuple[int, str]] = set()
        self._collecting = 0.0
        gc.callbacks.append(self._collection)

    def _collection(self, phase: str, info: dict) -> None:
        """The garbage collector's pauses, a phase of their own (they land in whichever phase
        allocated last; their cost grows with the process's heap)."""
        if phase == "start":
            self._collecting = time.perf_counter()
            return
        spent = self.spent.setdefault((self.kind, "garbage collections (any phase)"),
                                      [0.0, 0.0])
        pause = time.perf_counter() - self._collecting
        spent[0] += pause
        spent[1] += pause

    def wrap(self, owner: object, attribute: str, label: str) -> None:
        """Time `owner.attribute` (once: modules and shared objects are seen by every app)."""
        if label not in self.order:
            self.order.append(label)
        if (id(owner), attribute) in self._wrapped:
            return
        self._wrapped.add((id(owner), attribute))
        inner = getattr(owner, attribute)

        def timed(*args, **kwargs):
            started, started_cpu = time.perf_counter(), time.thread_time()
            try:
                return inner(*args, **kwargs)
            finally:
                spent = self.spent.setdefault((self.kind, label), [0.0, 0.0])
                spent[0] += time.thread_time() - started_cpu
                spent[1] += time.perf_counter() - started

        setattr(owner, attribute, timed)

    def instrument(self, app: XdsApplication) -> None:
        """The phases of an ITI-41, on this application's objects (and the modules they call)."""
        repository, writer = app.repository, app.registry.writer
        self.wrap(iti41, "decode_submission", "metadata decoded (ebRIM -> model)")
        if repository.content_check is not None:
            self.wrap(repository, "content_check", "CDA checks (schema, CI-SIS rules)")
        if repository.submission_check is not None:
            check = repository.submission_check
            self.wrap(repository, "submission_check", "signature verified, audit queued")
            self.wrap(check.verifier, "verify", "  the signed set's verification")
            self.wrap(check.cda, "check_bytes", "  the CDA's own signature looked for")
            self.wrap(check, "audit", "  the verification's audit record queued")
        self.wrap(app.document_store, "stage_all", "documents staged (written, fsynced)")
        self.wrap(app.registry, "register", "registration (one transaction, commit)")
        self.wrap(writer.profile, "check", "  metadata profile (ihe + cisis rules)")
        self.wrap(writer, "_check_against_registry", "  checks against the registry")
        self.wrap(writer.stored_form, "registered", "  registered forms (ebRIM, packed)")
        self.wrap(register_module.store, "register", "  registry rows")
        self.wrap(repository_store, "add_documents", "  repository rows")
        self.wrap(app.document_store, "commit", "documents made visible (rename)")
        self.order.append("garbage collections (any phase)")

    def report(self, count: int) -> None:
        print(f"\nphases (ms a request, thread CPU / wall; {count} requests each):")
        print(f"  {'':<44}" + "".join(f"{kind:>24}" for kind in KINDS))
        for label in dict.fromkeys(self.order):
            cells = [self.spent.get((kind, label), [0.0, 0.0]) for kind in KINDS]
            print(f"  {label:<44}" + "".join(
                f"{cpu / count * 1000:>14.2f} /{wall / count * 1000:>7.2f}" for cpu, wall in cells))


def send(app: XdsApplication, body: bytes, content_type: str) -> None:
    answer = call_wsgi(app, "POST", "/xds/repository", body, content_type)
    if answer.status != 200 or b"ResponseStatusType:Failure" in answer.body:
        raise SystemExit(f"refused: {answer.body[:2000]!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--dump", type=Path, help="write each kind's profile there (pstats)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-dsig-profile-") as name:
        tmp = Path(name)
        authority = SealAuthority.create(tmp / "pki")
        seal = authority.seal()
        apps = {kind: application(kind, tmp, args.database, authority) for kind in KINDS}
        bodies = {kind: [request(n, tmp, seal if kind != "unsigned" else None)
                         for n in range(args.count + 20)] for kind in KINDS[:2]}
        bodies["signed"] = bodies["signed, not verified"]      # the same requests
        print("request bytes: " + ", ".join(f"{k} {len(bodies[k][0][0])}" for k in KINDS))
        phases = Phases()
        for app in apps.values():
            phases.instrument(app)
        for n in range(20):                         # warm-up: caches, connections
            for kind in KINDS:
                send(apps[kind], *bodies[kind][n])
        wall: dict[str, list[float]] = {kind: [] for kind in KINDS}
        cpu: dict[str, list[float]] = {kind: [] for kind in KINDS}
        profiles = {kind: cProfile.Profile() for kind in KINDS}
        half = args.count // 2
        for n in range(20, args.count + 20):        # alternated, one by one
            profiled = n >= 20 + half               # the first half timed, the second profiled
            for kind in KINDS:
                phases.kind = "" if profiled else kind
                started, started_cpu = time.perf_counter(), time.process_time()
                if profiled:
                    profiles[kind].enable()
                send(apps[kind], *bodies[kind][n])
                if profiled:
                    profiles[kind].disable()
                else:
                    wall[kind].append((time.perf_counter() - started) * 1000)
                    cpu[kind].append((time.process_time() - started_cpu) * 1000)
        for app in apps.values():
            app.close()
    print(f"\nITI-41 in process, one 50 KB CDA, cisis, {args.database}, {half} each "
          "timed, then as many profiled:")
    for kind in KINDS:
        print(f"  {kind + ':':<22}wall median {statistics.median(wall[kind]):6.2f} ms, "
              f"CPU median {statistics.median(cpu[kind]):6.2f} ms")
    for what, times in (("wall", wall), ("CPU", cpu)):
        median = {kind: statistics.median(times[kind]) for kind in KINDS}
        print(f"  {what}: unsigned/signed {median['unsigned'] / median['signed']:.2f} (the "
              f"throughput ratio if {what} bounds it); unsigned/signed-not-verified "
              f"{median['unsigned'] / median['signed, not verified']:.2f}")
    phases.report(half)
    if args.dump is not None:
        for kind in KINDS:
            profiles[kind].dump_stats(args.dump / f"dsig-{kind}.prof")
    cumulative = {kind: _cumulative(profiles[kind]) for kind in KINDS}
    grown = sorted(((cumulative["signed"].get(f, 0.0) - cumulative["unsigned"].get(f, 0.0), f)
                    for f in cumulative["signed"]), reverse=True)
    print("\nfunctions whose cumulative time grows most (ms a request, signed - unsigned):")
    per = 1000 / (args.count - half)
    for delta, function in grown[:args.top]:
        print(f"  {delta * per:7.3f}  "
              f"(unsigned {cumulative['unsigned'].get(function, 0.0) * per:6.3f})"
              f"  {function}")


def _cumulative(profile: cProfile.Profile) -> dict[str, float]:
    stats = pstats.Stats(profile, stream=io.StringIO())
    return {f"{Path(file).name}:{line} {name}": row[3]
            for (file, line, name), row in stats.stats.items()}   # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
