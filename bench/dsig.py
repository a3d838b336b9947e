"""Benchmark of signed submission sets: ITI-41 with one ~50 KB CDA, profile cisis (CDA
validation on), signed and verified (IHE DSG XAdES: xmlsec core validation, chain at the
signing time, Manifest digests, audit record) against the same submission unsigned on a server
that does not require signatures, in the same run, in alternated rounds (goal: ratio >= 0.8).

A third server takes the same signed sets without verifying them (no trusted authorities, the
requirement off): what a signed set costs besides its verification (a second document stored
and registered, its HasMember and `signs` associations). And the verification alone, in process.

    .venv/bin/python bench/dsig.py [--database postgresql|sqlite] [--seconds 8] [--rounds 4]

With --baseline-code DIR (a checkout of older code; run from a directory without xds_server/,
e.g. `cd /tmp && /path/.venv/bin/python /path/bench/dsig.py ...`), two more servers run that code,
unsigned and signed, on the same requests in the same rounds: the ratio before and after a
change from one run, where two runs minutes apart on a shared machine do not compare.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from cda import SMALL  # noqa: E402
from loadgen import LoadResult, run_load, server_bench_arguments  # noqa: E402
from registry import merge, postgres_url  # noqa: E402
from repository import raw_request  # noqa: E402

from tests.cda_data import TEST_INS, mutate, set_attribute  # noqa: E402
from tests.conftest import start_server, stop_server  # noqa: E402
from tests.dsig_data import SealAuthority  # noqa: E402
from xds_server.consumer.documents import PROVIDE, provide_request  # noqa: E402
from xds_server.consumer.sources import SourceOptions, submission_for_files  # noqa: E402
from xds_server.dsig.produce import sign_submission  # noqa: E402
from xds_server.dsig.trust import TrustStore  # noqa: E402
from xds_server.dsig.verify import SubmissionSignatureVerifier  # noqa: E402
from xds_server.model.content import Attachment  # noqa: E402
from xds_server.records.actor import Records  # noqa: E402
from xds_server.store.database import Database, make_engine  # noqa: E402
from xds_server.store.schema import migrate  # noqa: E402


def submission(index: int, tmp: Path, seal=None):
    """One ITI-41 of its own copy of SMALL (own id and setId), signed when `seal` is given."""
    root = f"1.2.250.1.999.43.{index + 1}.{int(seal is not None)}"
    path = tmp / "doc.xml"
    path.write_bytes(mutate(SMALL, set_attribute("h:id", "root", root),
                            set_attribute("h:id", "extension", str(index + 1)),
                            set_attribute("h:setId", "root", root + ".0")))
    built, _ = submission_for_files([path], TEST_INS, SourceOptions())
    documents = {"Document01": Attachment.from_bytes(path.read_bytes(), "text/xml")}
    if seal is not None:
        entry, content = sign_submission(built, documents, seal)
        documents[entry.entry_uuid] = Attachment.from_bytes(content, "text/xml")
    return built, documents


def verification_ms(authority: SealAuthority, tmp: Path, count: int = 200) -> float:
    """The verifier alone (parse, shape, xmlsec, chain, Manifest digests), per submission."""
    verifier = SubmissionSignatureVerifier(TrustStore.from_path(authority.trusted))
    cases = [submission(10_000 + n, tmp, authority.seal()) for n in range(count)]
    for built, documents in cases[:20]:
        assert verifier.verify(built, documents).valid
    started = time.perf_counter()
    for built, documents in cases:
        verifier.verify(built, documents)
    return (time.perf_counter() - started) / count * 1000


@dataclass(frozen=True)
class Kind:
    """One server of the run: the requests it takes (signed or not), whether it verifies
    them, and the code it runs ("": this checkout; else --baseline-code)."""

    name: str
    signed: bool
    verified: bool
    code: str = ""


def kinds_of(baseline_code: str) -> list[Kind]:
    kinds = [Kind("unsigned", False, False), Kind("signed, not verified", True, False),
             Kind("signed", True, True)]
    if baseline_code:       # the same requests on the older code, in the same rounds
        kinds += [Kind("baseline unsigned", False, False, baseline_code),
                  Kind("baseline signed", True, True, baseline_code)]
    return kinds


def start(kind: Kind, number: int, args, tmp: Path, authority: SealAuthority):
    url = postgres_url(f"bench_dsig_{number}") if args.database == "postgresql" \
        else f"sqlite:///{tmp}/registry-{number}.sqlite3"
    engine = make_engine(url)
    migrate(engine)
    Records(Database(engine)).open(TEST_INS)
    engine.dispose()
    env = {"XDS_DATABASE_URL": url, "XDS_PROFILE": "cisis", "XDS_SECURITY": "none",
           "XDS_ACCEPT_TEST_INS": "true", "XDS_LOG_LEVEL": "WARNING",
           "XDS_REQUIRE_SUBMISSION_SIGNATURE": "true" if kind.verified else "false",
           **({"XDS_SIGNATURE_TRUSTED_CERTS": str(authority.trusted)} if kind.verified else {}),
           **({"PYTHONPATH": kind.code} if kind.code else {})}
    return start_server(tmp / f"var-{number}", env, args.workers)


def main() -> None:
    args = server_bench_arguments(__doc__.split("\n")[0], submissions=2500, rounds=4,
                                  baseline=True)
    if args.baseline_code and (Path.cwd() / "xds_server").is_dir():
        raise SystemExit("--baseline-code: run from a directory without xds_server/ "
                         "(python -m would import it before the baseline's)")
    kinds = kinds_of(args.baseline_code)
    with tempfile.TemporaryDirectory(prefix="bench-dsig-") as name:
        tmp = Path(name)
        authority = SealAuthority.create(tmp / "pki")
        seal = authority.seal()
        verify_ms = verification_ms(authority, tmp)
        servers, bodies = {}, {}
        built: dict[bool, list[bytes]] = {}     # the same requests for every server of a kind
        try:
            for number, kind in enumerate(kinds):
                servers[kind] = start(kind, number, args, tmp, authority)
                endpoint = servers[kind][1] + "/xds/repository"
                if kind.signed not in built:
                    started = time.perf_counter()
                    built[kind.signed] = [raw_request(endpoint, PROVIDE, *provide_request(
                        *submission(n, tmp, seal if kind.signed else None)))
                        for n in range(args.submissions)]
                    print(f"{'signed' if kind.signed else 'unsigned'}: {args.submissions} "
                          f"requests built in {time.perf_counter() - started:.1f} s",
                          flush=True)
                bodies[kind] = built[kind.signed]
                warm = run_load(endpoint, bodies[kind][:50], clients=args.clients, seconds=5,
                                max_requests=50)
                assert warm.errors == 0, f"warm-up errors ({kind.name})"
            runs: dict[Kind, list[LoadResult]] = {kind: [] for kind in kinds}
            offset, share = 50, (args.submissions - 50) // args.rounds
            load_before = os.getloadavg()
            for round_ in range(args.rounds):   # alternated: the machine's load drifts
                # and each round starts with the next kind: a burst leaves work behind (the
                # disk's writeback of its files, the database's) that the kind after it pays
                first = round_ % len(kinds)
                for kind in kinds[first:] + kinds[:first]:
                    chunk = bodies[kind][offset:offset + share]
                    runs[kind].append(run_load(
                        servers[kind][1] + "/xds/repository", chunk, clients=args.clients,
                        seconds=args.seconds / args.rounds, max_requests=len(chunk)))
                offset += share
            load_after = os.getloadavg()
        finally:
            for process, _, _ in servers.values():
                stop_server(process)
    report(args, kinds, runs, load_before, load_after, verify_ms)


def report(args, kinds: list[Kind], runs: dict[Kind, list[LoadResult]],
           load_before: tuple[float, ...], load_after: tuple[float, ...],
           verify_ms: float) -> None:
    results = {kind.name: merge(runs[kind]) for kind in kinds}
    rounds = {kind.name: runs[kind] for kind in kinds}
    print(f"\nITI-41, one 50 KB CDA, profile cisis (CDA validation on), {args.database}, "
          f"{args.workers} workers, {args.clients} clients, {args.rounds} alternated rounds; "
          f"load average {load_before[0]:.1f} before, {load_after[0]:.1f} after:")
    for name, result in results.items():
        print(f"  {name + ':':<22}{result.rate:5.0f} submissions/s, p50 "
              f"{result.percentile(0.5):5.1f} ms (errors {result.errors})")
    for prefix in ("", "baseline ") if args.baseline_code else ("",):
        plain, signed = results[prefix + "unsigned"], results[prefix + "signed"]
        per_round = [s.rate / p.rate for p, s in zip(rounds[prefix + "unsigned"],
                                                     rounds[prefix + "signed"], strict=True)]
        ratio = signed.rate / plain.rate
        print(f"  {prefix}ratio signed/unsigned {ratio:.2f} (rounds: "
              f"{', '.join(f'{r:.2f}' for r in per_round)}, median "
              f"{statistics.median(per_round):.2f}; goal >= 0.8: "
              f"{'met' if ratio >= 0.8 else 'NOT MET'})")
    unverified, plain = results["signed, not verified"], results["unsigned"]
    print(f"  of which the verification: signed/signed-not-verified "
          f"{results['signed'].rate / unverified.rate:.2f}; the signature document's storage "
          f"and registration: signed-not-verified/unsigned {unverified.rate / plain.rate:.2f}")
    if args.baseline_code:
        print(f"  this code / baseline, same rounds: unsigned "
              f"{plain.rate / results['baseline unsigned'].rate:.2f}, signed "
              f"{results['signed'].rate / results['baseline signed'].rate:.2f}")
    print(f"  the verification alone, in process: {verify_ms:.2f} ms a submission")


if __name__ == "__main__":
    main()
