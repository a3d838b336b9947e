"""Benchmark of the cost of security on ITI-18: FindDocuments (LeafClass, one patient, about 20
documents) by an authorised professional with a signed VIHF (signature verified with xmlsec,
access policy applied, the read audited) against the same query with XDS_SECURITY=none, same
data, same run. Budget (issue 6): at most 1.3x the cost (secured rate >= unsecured / 1.3).

    .venv/bin/python bench/security.py [--database postgresql|sqlite] [--seconds 8]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from lxml import etree

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from datagen import load, patient_id  # noqa: E402
from loadgen import LoadResult, http_request, run_load  # noqa: E402
from registry import CONTENT_TYPE, merge, postgres_url  # noqa: E402

from tests.conftest import start_server, stop_server  # noqa: E402
from tests.registry_data import stored_query  # noqa: E402
from tests.soap_messages import envelope  # noqa: E402
from tests.vihf_data import SigningAuthority, assertion, security_header  # noqa: E402
from xds_server.model import vocabulary as v  # noqa: E402
from xds_server.model.hl7 import patient_key  # noqa: E402
from xds_server.store import records_store  # noqa: E402
from xds_server.store.database import Database  # noqa: E402

FIND_DOCUMENTS = "urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d"
STORED_QUERY = "urn:ihe:iti:2007:RegistryStoredQuery"
PROFESSIONAL = "810101234567"


def bodies(url: str, patients: int, authority: SigningAuthority | None) -> list[bytes]:
    requests = []
    for n in range(patients):
        patient = patient_id(n)
        query = etree.tostring(stored_query(FIND_DOCUMENTS, {
            "$XDSDocumentEntryPatientId": patient,
            "$XDSDocumentEntryStatus": [v.APPROVED]})).decode()
        header = ""
        if authority is not None:
            signed = authority.sign(assertion(patient + "^NH", subject=PROFESSIONAL))
            header = etree.tostring(security_header(signed)).decode()
        requests.append(http_request(url, envelope(query, STORED_QUERY, extra_headers=header),
                                     CONTENT_TYPE))
    return requests


def in_process_ms(url: str, tmp: Path, authority: SigningAuthority, patients: int,
                  rounds: int = 3000) -> dict[bool, float]:
    """Server-side time per request, without HTTP or the load generator sharing the cores."""
    from tests.conftest import call_wsgi
    from xds_server.app import create_app
    from xds_server.config import load_settings

    apps, requests = {}, {}
    for secured in (False, True):
        apps[secured] = create_app(load_settings({
            "data_dir": str(tmp / f"inproc-{int(secured)}"), "profile": "ihe",
            "security": "vihf" if secured else "none",
            "vihf_trusted_certs": str(authority.trusted), "database_url": url}, environ={}))
        requests[secured] = [r.split(b"\r\n\r\n", 1)[1] for r in
                             bodies("http://x/xds/registry", patients,
                                    authority if secured else None)]
        for body in requests[secured]:                     # warm: caches, prepared plans
            call_wsgi(apps[secured], "POST", "/xds/registry", body, CONTENT_TYPE)
    spent = {False: 0.0, True: 0.0}
    for _ in range(3):                                      # alternated, as over HTTP
        for secured in (False, True):
            started = time.perf_counter()
            for n in range(rounds // 3):
                call_wsgi(apps[secured], "POST", "/xds/registry",
                          requests[secured][n % len(requests[secured])], CONTENT_TYPE)
            spent[secured] += time.perf_counter() - started
    for app in apps.values():
        app.close()
    return {secured: seconds / (rounds // 3 * 3) * 1000 for secured, seconds in spent.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--seconds", type=float, default=12.0, help="per measure, all rounds")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--patients", type=int, default=200)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-security-") as name:
        tmp = Path(name)
        url = postgres_url("bench_security") if args.database == "postgresql" \
            else f"sqlite:///{tmp}/registry.sqlite3"
        database = Database.from_url(url)
        load(database.engine, 20 * args.patients)
        with database.transaction() as uow:
            for n in range(args.patients):
                records_store.grant(uow, patient_key(patient_id(n)), PROFESSIONAL)
        database.dispose()
        authority = SigningAuthority.create(tmp / "ca")
        server_ms = in_process_ms(url, tmp, authority, min(args.patients, 50))
        servers, requests = {}, {}
        try:
            for secured in (False, True):
                env = {"XDS_DATABASE_URL": url, "XDS_PROFILE": "ihe", "XDS_LOG_LEVEL": "WARNING",
                       "XDS_SECURITY": "vihf" if secured else "none",
                       "XDS_VIHF_TRUSTED_CERTS": str(authority.trusted)}
                servers[secured] = start_server(tmp / f"data-{int(secured)}", env, args.workers)
                endpoint = servers[secured][1] + "/xds/registry"
                requests[secured] = bodies(endpoint, args.patients,
                                           authority if secured else None)
                run_load(endpoint, requests[secured], clients=args.clients, seconds=2)  # warm
            # both servers up, rounds alternated: both see the same machine (its load varies)
            runs: dict[bool, list[LoadResult]] = {False: [], True: []}
            for _ in range(args.rounds):
                for secured in (False, True):
                    runs[secured].append(run_load(
                        servers[secured][1] + "/xds/registry", requests[secured],
                        clients=args.clients, seconds=args.seconds / args.rounds))
        finally:
            for process, _, _ in servers.values():
                stop_server(process)
        rates = {secured: merge(result) for secured, result in runs.items()}
        for secured, (_, _, log) in servers.items():
            if rates[secured].errors:
                print(f"errors with XDS_SECURITY={'vihf' if secured else 'none'}; server log "
                      "ends:\n" + "\n".join(log.read_text().splitlines()[-8:]))

    plain, secured = rates[False], rates[True]
    ratio = plain.rate / secured.rate if secured.rate else float("inf")
    print(f"\nITI-18 FindDocuments, LeafClass, ~20 documents, {args.database}, "
          f"{args.workers} workers, {args.clients} clients:")
    for label, result in (("none", plain), ("vihf", secured)):
        print(f"  XDS_SECURITY={label}: {result.rate:.0f} req/s, "
              f"p50 {result.percentile(0.5):.1f} ms (errors {result.errors})")
    print(f"  in process (server only): {server_ms[False]:.3f} ms vs {server_ms[True]:.3f} ms "
          f"per request, {server_ms[True] / server_ms[False]:.2f}x")
    print(f"  over HTTP, signature, policy and audit cost {ratio:.2f}x "
          f"(budget <= 1.3x: {'within' if ratio <= 1.3 else 'OVER'})")


if __name__ == "__main__":
    main()
