"""Benchmark of the HL7 v2 front: ORU^R01 messages each carrying a ~60 KB CDA (its own id),
sent over MLLP by 4 senders (one connection each, each waiting for its ACK), against ITI-41
submissions of the same CDA to the same server and database, in the same run, in alternated
rounds (goal: ORU/ITI-41 >= 0.8). Profile cisis, CDA validation on, in both. The document is
the ANS's VSM sample (64 KB, the 50 KB class: the smaller DLU-EHPAD has a template whose
formatCode the CI-SIS mapping does not name, so an HL7 v2 message cannot carry it). Then
ADT^A31 updates/s (4 senders, each message changing a patient's consent).

    .venv/bin/python bench/hl7v2.py [--database postgresql|sqlite] [--seconds 8] [--rounds 4]
"""

from __future__ import annotations

import base64
import multiprocessing
import socket
import sys
import tempfile
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from loadgen import LoadResult, run_load, server_bench_arguments  # noqa: E402
from registry import merge, postgres_url  # noqa: E402
from repository import raw_request  # noqa: E402

from tests.cda_data import ANS_SAMPLES, TEST_INS, mutate, set_attribute  # noqa: E402
from tests.conftest import free_port, start_server, stop_server  # noqa: E402
from tests.hl7v2_data import ORU_INIT, adt, load, nir, senders_file, set_field  # noqa: E402
from xds_server.cda.document import parse_cda  # noqa: E402
from xds_server.cda.header import read_header  # noqa: E402
from xds_server.consumer.documents import PROVIDE, provide_request  # noqa: E402
from xds_server.consumer.sources import SourceOptions, submission_for_files  # noqa: E402
from xds_server.model.content import Attachment  # noqa: E402
from xds_server.records.actor import Records  # noqa: E402
from xds_server.store.database import Database, make_engine  # noqa: E402
from xds_server.store.schema import migrate  # noqa: E402

VT, END = b"\x0b", b"\x1c\x0d"
DOCUMENT = ANS_SAMPLES / "VSM_1.4_2022.01.xml"


def document(index: int) -> bytes:
    """Its own copy of the document (own id and setId)."""
    root = f"1.2.250.1.999.44.{index + 1}"
    return mutate(DOCUMENT, set_attribute("h:id", "root", root),
                  set_attribute("h:setId", "root", root + ".0"))


def submission(index: int, tmp: Path):
    """The ITI-41 of document(index), its metadata from its header (the consumer's)."""
    path = tmp / "doc.xml"
    path.write_bytes(document(index))
    built, _ = submission_for_files([path], TEST_INS, SourceOptions())
    return built, {"Document01": Attachment.from_bytes(path.read_bytes(), "text/xml")}


def sender_table(directory: Path) -> Path:
    """The ADT and the lab of the messages, the lab acting for the document's organisation."""
    header = read_header(parse_cda(DOCUMENT.read_bytes()))
    organisations = sorted({i.extension for a in header.authors for i in a.organization_ids
                            if i.extension})
    return senders_file(directory, f"""
[[sender]]
application = "GAM"
facility = "CHU-Y"
messages = ["ADT"]
networks = ["127.0.0.0/8"]

[[sender]]
application = "SIL-Y"
facility = "labo"
messages = ["ORU"]
organisations = {organisations!r}
networks = ["127.0.0.0/8"]
""".replace("'", '"'))


def oru_messages(count: int, first: int) -> list[bytes]:
    """ORU^R01 (the ANS first transmission) each with its own copy of the document and its
    own control id."""
    template = load(ORU_INIT / "message_ORU_CR_Bio_INIT_N3_SEGUR.hl7")
    before, _, after = template.partition(b"^TEXT^XML^Base64^")
    after = after[after.index(b"|"):]
    messages = []
    for index in range(first, first + count):
        message = before + b"^TEXT^XML^Base64^" + base64.b64encode(document(index)) + after
        messages.append(set_field(message, "MSH", 10, f"B{index}"))
    return messages


def _sender(port: int, messages: list[bytes], seconds: float, queue) -> None:
    latencies, errors = [], 0
    deadline = time.perf_counter() + seconds
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        for message in messages:
            if time.perf_counter() >= deadline:
                break
            started = time.perf_counter()
            sock.sendall(VT + message + END)
            answer = b""
            while END not in answer:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                answer += chunk
            if b"MSA|AA|" in answer:
                latencies.append((time.perf_counter() - started) * 1000)
            else:
                errors += 1
                if errors == 1:
                    print(answer.decode(errors="replace")[:600], file=sys.stderr)
    queue.put((latencies, errors))


def run_mllp(port: int, messages: list[bytes], senders: int, seconds: float) -> LoadResult:
    queue: multiprocessing.Queue = multiprocessing.Queue()
    processes = [multiprocessing.Process(target=_sender,
                                         args=(port, messages[i::senders], seconds, queue))
                 for i in range(senders)]
    started = time.perf_counter()
    for process in processes:
        process.start()
    results = [queue.get(timeout=seconds + 120) for _ in processes]
    for process in processes:
        process.join(timeout=10)
    elapsed = time.perf_counter() - started
    latencies = [value for lat, _ in results for value in lat]
    return LoadResult(len(latencies), sum(e for _, e in results), elapsed, latencies)


def main() -> None:
    args = server_bench_arguments(__doc__.split("\n")[0], submissions=2000, rounds=4)
    with tempfile.TemporaryDirectory(prefix="bench-hl7v2-") as name:
        tmp = Path(name)
        url = postgres_url("bench_hl7v2") if args.database == "postgresql" \
            else f"sqlite:///{tmp}/registry.sqlite3"
        engine = make_engine(url)
        migrate(engine)
        engine.dispose()
        database = Database.from_url(url)
        Records(database).open(TEST_INS)
        database.dispose()
        port = free_port()
        env = {"XDS_DATABASE_URL": url, "XDS_PROFILE": "cisis", "XDS_SECURITY": "none",
               "XDS_ACCEPT_TEST_INS": "true", "XDS_LOG_LEVEL": "WARNING",
               "XDS_REQUIRE_SUBMISSION_SIGNATURE": "false", "XDS_MLLP_PORT": str(port),
               "XDS_MLLP_WORKERS": str(args.clients),
               "XDS_MLLP_SENDERS": str(sender_table(tmp))}
        process, http, _ = start_server(tmp / "var", env, args.workers)
        try:
            endpoint = http + "/xds/repository"
            started = time.perf_counter()
            iti41 = [raw_request(endpoint, PROVIDE, *provide_request(*submission(n, tmp)))
                     for n in range(args.submissions)]
            oru = oru_messages(args.submissions, 100_000)
            print(f"{2 * args.submissions} requests built in "
                  f"{time.perf_counter() - started:.1f} s", flush=True)
            warm = run_load(endpoint, iti41[:50], clients=args.clients, seconds=5,
                            max_requests=50)
            assert warm.errors == 0, "ITI-41 warm-up errors"
            warm = run_mllp(port, oru[:50], args.clients, 30)
            assert warm.errors == 0, "ORU warm-up errors"
            runs: dict[str, list[LoadResult]] = {"ITI-41": [], "ORU": []}
            offset, share = 50, (args.submissions - 50) // args.rounds
            for _ in range(args.rounds):        # alternated: the machine's load drifts
                chunk = iti41[offset:offset + share]
                runs["ITI-41"].append(run_load(endpoint, chunk, clients=args.clients,
                                               seconds=args.seconds / args.rounds,
                                               max_requests=len(chunk)))
                runs["ORU"].append(run_mllp(port, oru[offset:offset + share], args.clients,
                                            args.seconds / args.rounds))
                offset += share
            patients = [nir() for _ in range(200)]
            creations = [adt("A28", ins, control_id=uuid.uuid4().hex[:16]) for ins in patients]
            assert run_mllp(port, creations, args.clients, 60).errors == 0
            updates = [adt("A31", patients[n % len(patients)],
                           control_id=uuid.uuid4().hex[:16],
                           zfa=f"ZFA|ACTIF||||||||{'IO' if n % 2 else 'INO'}||NA|")
                       for n in range(args.submissions)]
            a31 = run_mllp(port, updates, args.clients, args.seconds)
        finally:
            stop_server(process)
    iti, oru_result = merge(runs["ITI-41"]), merge(runs["ORU"])
    per_round = [o.rate / i.rate for i, o in zip(runs["ITI-41"], runs["ORU"], strict=True)]
    ratio = oru_result.rate / iti.rate
    print(f"\nOne 64 KB CDA per request, profile cisis (CDA validation on), {args.database}, "
          f"{args.workers} HTTP workers, {args.clients} senders, {args.rounds} alternated "
          "rounds:")
    for label, result in (("ITI-41 over HTTP", iti), ("ORU^R01 over MLLP", oru_result)):
        print(f"  {label + ':':<20}{result.rate:6.1f} messages/s, p50 "
              f"{result.percentile(0.5):6.1f} ms (errors {result.errors})")
    print(f"  ratio ORU/ITI-41 {ratio:.2f} (rounds: "
          f"{', '.join(f'{r:.2f}' for r in per_round)}; goal >= 0.8: "
          f"{'met' if ratio >= 0.8 else 'NOT MET'})")
    print(f"  ADT^A31 consent updates over MLLP: {a31.rate:.0f} messages/s, p50 "
          f"{a31.percentile(0.5):.1f} ms (errors {a31.errors})")


if __name__ == "__main__":
    main()
