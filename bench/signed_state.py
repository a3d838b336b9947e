"""Benchmark of rule K (registry/signed_state.py): what XDS_REQUIRE_SUBMISSION_SIGNATURE adds
to an ITI-57 on a large signed record. Outsider 19d measured x7.2 over HTTP on a record of
2,000 documents (100 signed sets of 19 CDAs and a signature): rule K read the whole record
twice. Goal: the ratio ON/OFF of ITI-57 medians <= 1.5 on that record.

In process, through the registry actor (app.registry.update), two applications on the same
database: ON (the requirement on: rule K) and OFF (off), alternated rounds of ITI-57 title
updates, each a new version of a different CDA of the record. The record is written once by
the OFF application (fake signature entries: rule K reads metadata, not signatures' bytes).

    .venv/bin/python bench/signed_state.py [--database sqlite|postgresql] [--sets 100]
        [--rounds 6] [--per 20] [--folder N [--file]]

`--folder N` (outsider 19e, E8): N of the CDAs are filed in one folder (ITI-57
SubmitAssociation, by the OFF application) and each update is a new version of one of them
(its folder membership propagated: the folder among the ids the change touches); with
`--file`, each update files one more CDA into that folder (ITI-57 SubmitAssociation).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from tests.dsig_data import SealAuthority  # noqa: E402
from tests.registry_data import document, folder, new_patient, submission_set  # noqa: E402
from xds_server.app import create_app  # noqa: E402
from xds_server.config import load_settings  # noqa: E402
from xds_server.consumer.metadata import has_member, new_version  # noqa: E402
from xds_server.dsig.produce import signature_entry  # noqa: E402
from xds_server.model import vocabulary as v  # noqa: E402
from xds_server.model.metadata import Association, Submission  # noqa: E402
from xds_server.security.principal import SYSTEM  # noqa: E402
from xds_server.store.database import make_engine  # noqa: E402
from xds_server.store.schema import migrate  # noqa: E402


def signed_set(patient: str, size: int) -> Submission:
    """`size` documents and a (fake) signature of them, with its HasMember and `signs`."""
    package = submission_set(patient, f"urn:uuid:{uuid.uuid4()}")
    documents = [document(patient, f"urn:uuid:{uuid.uuid4()}",
                          content=uuid.uuid4().bytes) for _ in range(size)]
    submission = Submission(package, documents, associations=[
        has_member(package.entry_uuid, d.entry_uuid) for d in documents])
    signature = signature_entry(submission, f"2.25.{uuid.uuid4().int}",
                                f"urn:uuid:{uuid.uuid4()}", "1.2.840.10065.1.12.1.14",
                                dt.datetime.now(dt.UTC))
    signature.hash, signature.size = "0" * 40, "1"
    signature.repository_unique_id = documents[0].repository_unique_id
    submission.documents.append(signature)
    submission.associations += [
        has_member(package.entry_uuid, signature.entry_uuid),
        Association(f"urn:uuid:{uuid.uuid4()}", v.SIGNS, signature.entry_uuid,
                    package.entry_uuid)]
    return submission


def filing(patient: str, shelf: str, documents: list) -> Submission:
    """An ITI-57 filing `documents` into the folder `shelf` (SubmitAssociation)."""
    request = Submission(submission_set(patient, f"urn:uuid:{uuid.uuid4()}"), [])
    for entry in documents:
        link = has_member(shelf, entry.entry_uuid, status=None)
        request.associations += [link, Association(
            f"urn:uuid:{uuid.uuid4()}", v.SUBMIT_ASSOCIATION,
            request.submission_set.entry_uuid, link.entry_uuid)]
    return request


def file_into_folder(app, patient: str, documents: list) -> str:
    """A folder (in an unsigned set of its own), then `documents` filed into it, 200 a
    request; its entryUUID."""
    package = submission_set(patient, f"urn:uuid:{uuid.uuid4()}")
    shelf = folder(patient, f"urn:uuid:{uuid.uuid4()}")
    app.registry.register(Submission(package, [], folders=[shelf], associations=[
        has_member(package.entry_uuid, shelf.entry_uuid)]), SYSTEM)
    for start in range(0, len(documents), 200):
        app.registry.update(filing(patient, shelf.entry_uuid, documents[start:start + 200]),
                            SYSTEM)
    return shelf.entry_uuid


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--sets", type=int, default=100, help="signed sets of 19 CDAs + 1")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--per", type=int, default=20, help="ITI-57 a round and application")
    parser.add_argument("--folder", type=int, default=0,
                        help="CDAs filed in one folder; the updates are of those")
    parser.add_argument("--file", action="store_true",
                        help="with --folder: each update files one more CDA into it")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-signed-state-"))
    if args.database == "postgresql":
        name = f"bench_signed_state_{os.getpid()}"
        os.system(f"dropdb --if-exists {name} && createdb {name}")
        url = f"postgresql+psycopg:///{name}"
    else:
        url = f"sqlite:///{tmp}/registry.sqlite3"
    engine = make_engine(url)
    migrate(engine)
    engine.dispose()
    authority = SealAuthority.create(tmp / "pki")
    apps = {on: create_app(load_settings({
        "data_dir": str(tmp / f"var-{on}"), "profile": "ihe", "security": "none",
        "database_url": url, "require_submission_signature": on,
        "signature_trusted_certs": str(authority.trusted)}, environ={}))
        for on in (True, False)}
    patient = new_patient()
    apps[False].records.open(patient)
    started = time.perf_counter()
    cdas = []
    for _ in range(args.sets):
        submission = signed_set(patient, 19)
        apps[False].registry.register(submission, SYSTEM)
        cdas += [d for d in submission.documents if d.class_code.code != "urn:oid:"
                 "1.3.6.1.4.1.19376.1.2.1.1.1"]
    if args.folder:
        shelf = file_into_folder(apps[False], patient, cdas[:args.folder])
        cdas, rest = cdas[:args.folder], cdas[args.folder:]
    if args.database == "postgresql":
        # the statistics a registry in service has (autovacuum would take them a minute
        # later): without them the first minute plans the record's reads as scans
        with apps[False].database.engine.connect() as connection:
            connection.exec_driver_sql("ANALYZE")
            connection.commit()
    print(f"record: {args.sets} signed sets, {args.sets * 20} documents"
          f"{f', {args.folder} in one folder' if args.folder else ''}, written in "
          f"{time.perf_counter() - started:.1f} s", flush=True)
    times: dict[bool, list[float]] = {True: [], False: []}
    used = 0
    for round_number in range(args.rounds):
        for on in (True, False) if round_number % 2 == 0 else (False, True):
            got = []
            for _ in range(args.per):
                entry = cdas[used % len(cdas)]
                used += 1
                version = dataclasses.replace(entry, entry_uuid=f"urn:uuid:{uuid.uuid4()}",
                                              title=f"t{used}")
                request = filing(patient, shelf, [rest[used - 1]]) if args.file else \
                    new_version(submission_set(patient, f"urn:uuid:{uuid.uuid4()}"),
                                version, entry.entry_uuid, "1")
                begun = time.perf_counter()
                apps[on].registry.update(request, SYSTEM)
                got.append(time.perf_counter() - begun)
            times[on] += got
            print(f"round {round_number} {'ON ' if on else 'OFF'}: median "
                  f"{statistics.median(got) * 1000:.2f} ms", flush=True)
    medians = {on: statistics.median(t) * 1000 for on, t in times.items()}
    for on, t in times.items():
        print(f"{'ON ' if on else 'OFF'} n={len(t)} median {medians[on]:.2f} ms "
              f"p90 {sorted(t)[int(len(t) * 0.9)] * 1000:.2f} ms")
    print(f"ratio ON/OFF of medians {medians[True] / medians[False]:.2f}  "
          f"({args.database}, load {' '.join(f'{x:.2f}' for x in os.getloadavg())})")
    for app in apps.values():
        app.close()
    if args.database == "postgresql":
        os.system(f"dropdb {name}")


if __name__ == "__main__":
    main()
