"""Benchmark of the document repository over HTTP (PostgreSQL by default, durable commits).

What it models: sources submitting one 50 KB CDA at a time, and consumers retrieving many
different 1 MB documents (not the same one again and again), each against a baseline measured
in the same run in alternated rounds, so both sides see the same machine:

- ITI-41: submissions per second, one 50 KB CDA per submission, MTOM (budget >= 150/s on
  PostgreSQL), against an Echo of the same bytes (the same MTOM request, its payload under the
  Echo action: the SOAP core's parse and answer, without the repository and its durable
  writes);
- ITI-43: MB/s retrieving `--documents` different 1 MB documents (MTOM), against a bare WSGI
  handler serving the same files the way the product does (the file wrapper: sendfile) under
  gunicorn (budget >= 0.7x its MB/s, over all rounds; the handler before issue 20 read the
  file through Python and always the same file, a slower baseline);
- the same retrieval in process (no HTTP, no load generator on the cores): the CPU the WSGI
  app spends on an answer, the file's bytes (the kernel's work under gunicorn) excluded;
- memory: the worker's peak RSS growth storing and serving one 100 MB document.

    .venv/bin/python bench/repository.py [--database postgresql|sqlite] [--seconds 8]
                                         [--rounds 4]
"""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from lxml import etree

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from loadgen import (  # noqa: E402
    LoadResult,
    http_request,
    run_load,
    server_bench_arguments,
    start_bare_gunicorn,
)
from registry import merge, postgres_url  # noqa: E402

from tests.conftest import start_server, stop_server  # noqa: E402
from tests.registry_data import new_patient, single_document_submission  # noqa: E402
from tests.test_repository_http import _memory_kib, _reset_peak, _worker_of  # noqa: E402
from xds_server.config import load_settings  # noqa: E402
from xds_server.consumer.documents import PROVIDE, RETRIEVE, provide_request, retrieve_request  # noqa: E402  # noqa: E402
from xds_server.consumer.transport import SoapClient, encode_request  # noqa: E402
from xds_server.model.content import Attachment  # noqa: E402
from xds_server.records.actor import Records  # noqa: E402
from xds_server.soap.namespaces import XDSSRV  # noqa: E402
from xds_server.store.database import Database  # noqa: E402
from xds_server.store.documents import blob_key  # noqa: E402
from xds_server.transactions.echo import ECHO, ECHO_ACTION  # noqa: E402

CDA_50K = (b'<?xml version="1.0" encoding="UTF-8"?>\n<ClinicalDocument xmlns="urn:hl7-org:v3">'
           + b"<component><nonXMLBody><text>" + b"A" * 51000
           + b"</text></nonXMLBody></component></ClinicalDocument>\n")


def raw_request(url: str, action: str, payload, binaries) -> bytes:
    encoded = encode_request(url, action, payload, binaries=binaries, mtom=True)
    return http_request(url, b"".join(encoded.chunks), encoded.content_type)


def provide_requests(url: str, patient: str, count: int, content: bytes,
                     mime: str) -> tuple[list[bytes], list[str]]:
    bodies, unique_ids = [], []
    for _ in range(count):
        submission = single_document_submission(patient, hash=None, size=None,
                                                 repository_unique_id=None, mime_type=mime)
        payload, binaries = provide_request(submission, {
            "Document01": Attachment.from_bytes(content, mime)})
        bodies.append(raw_request(url, PROVIDE, payload, binaries))
        unique_ids.append(submission.documents[0].unique_id)
    return bodies, unique_ids


def echo_requests(url: str, patient: str, count: int, content: bytes, mime: str) -> list[bytes]:
    """The ITI-41 requests' bytes with their payload under the Echo action (MTOM kept)."""
    bodies = []
    for _ in range(count):
        submission = single_document_submission(patient, hash=None, size=None,
                                                 repository_unique_id=None, mime_type=mime)
        payload, binaries = provide_request(submission, {
            "Document01": Attachment.from_bytes(content, mime)})
        echo = etree.Element(ECHO, nsmap={"xds": XDSSRV})
        echo.append(payload)
        bodies.append(raw_request(url, ECHO_ACTION, echo, binaries))
    return bodies


def start_bare_file_server(listing: Path, workers: int) -> tuple[subprocess.Popen, str]:
    return start_bare_gunicorn("bare_file_wsgi:app", workers,
                               lambda url: urllib.request.urlopen(url, timeout=2).read(),
                               "/file/0", {"BENCH_FILES": str(listing)})


def main() -> None:
    args = server_bench_arguments(__doc__.split("\n")[0], submissions=2500, rounds=4,
                                  documents=100)

    with tempfile.TemporaryDirectory(prefix="bench-repository-") as tmp:
        url = postgres_url("bench_repository") if args.database == "postgresql" \
            else f"sqlite:///{tmp}/registry.sqlite3"
        data_dir = Path(tmp) / "var"
        env = {"XDS_DATABASE_URL": url, "XDS_PROFILE": "ihe", "XDS_LOG_LEVEL": "WARNING",
               "XDS_MAX_REQUEST_BYTES": str(160 * 2**20),
               "XDS_MAX_DOCUMENT_BYTES": str(128 * 2**20)}
        process, base, _ = start_server(data_dir, env, args.workers)
        patient = new_patient()
        database = Database.from_url(url)
        Records(database).open(patient)
        repository_id = load_settings({"data_dir": str(data_dir)}, environ={}
                                      ).repository_unique_id
        endpoint = base + "/xds/repository"
        try:
            # ITI-41, 50 KB, against an Echo of the same bytes, alternated
            bodies, _ = provide_requests(endpoint, patient, args.submissions, CDA_50K,
                                         "text/xml")
            echoes = echo_requests(endpoint, patient, 200, CDA_50K, "text/xml")
            run_load(endpoint, bodies[:100], clients=args.clients, seconds=5,
                     max_requests=100)
            run_load(endpoint, echoes, clients=args.clients, seconds=1)
            per_round = (len(bodies) - 100) // args.rounds
            provide_rounds: list[tuple[LoadResult, LoadResult]] = []
            for n in range(args.rounds):
                share = bodies[100 + n * per_round:100 + (n + 1) * per_round]
                provide_rounds.append((
                    run_load(endpoint, echoes, clients=args.clients,
                             seconds=args.seconds / args.rounds),
                    run_load(endpoint, share, clients=args.clients,
                             seconds=args.seconds / args.rounds, max_requests=len(share))))

            # ITI-43, many different 1 MB documents, against a bare handler serving the same
            # stored files with sendfile
            stored, unique_ids = [], []
            for _ in range(args.documents):
                request, ids = provide_requests(endpoint, patient, 1, os.urandom(2**20),
                                                "application/octet-stream")
                stored += request
                unique_ids += ids
            run_load(endpoint, stored, clients=1, seconds=120, max_requests=len(stored))
            megabyte = os.urandom(2**20)     # the in-process measure's document
            store_root = data_dir / "documents"
            listing = Path(tmp) / "files.txt"
            listing.write_text("\n".join(str(store_root / k[:2] / k[2:4] / k) for k in
                                         (blob_key(u) for u in unique_ids)))
            retrievals = [raw_request(endpoint, RETRIEVE,
                                      retrieve_request([(repository_id, u)]), [])
                          for u in unique_ids]
            bare_process, bare_url = start_bare_file_server(listing, args.workers)
            bare_requests = [f"GET /file/{n} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                             .encode() for n in range(len(unique_ids))]
            try:
                run_load(bare_url, bare_requests, clients=args.clients, seconds=2)
                run_load(endpoint, retrievals, clients=args.clients, seconds=2)
                rounds: list[tuple[LoadResult, LoadResult]] = []
                for _ in range(args.rounds):   # alternated: the machine's load drifts
                    rounds.append((
                        run_load(bare_url, bare_requests, clients=args.clients,
                                 seconds=args.seconds / 2),
                        run_load(endpoint, retrievals, clients=args.clients,
                                 seconds=args.seconds / 2)))
            finally:
                stop_server(bare_process)

        finally:
            stop_server(process)
        in_process = in_process_us(url, Path(tmp) / "in-process", patient, megabyte)
        # memory, 100 MB, on a one-worker server (the peak is read from that worker)
        process, base, _ = start_server(data_dir, env, 1)
        try:
            memory = measure_100mb(base + "/xds/repository", patient, repository_id, Path(tmp),
                                   process.pid)
        finally:
            stop_server(process)
            database.dispose()

    print(f"\nRepository benchmark on {args.database}: {args.workers} sync workers, "
          f"{args.clients} clients")
    echo, submissions = (merge([r[i] for r in provide_rounds]) for i in (0, 1))
    each41 = [b.rate / a.rate for a, b in provide_rounds]
    print(f"ITI-41 (50 KB CDA, MTOM): {submissions.rate:.0f} submissions/s, p50 "
          f"{submissions.percentile(0.5):.1f} ms, p99 {submissions.percentile(0.99):.1f} ms, "
          f"errors {submissions.errors} (budget >= 150/s: "
          f"{'within' if submissions.rate >= 150 else 'OVER'}); Echo of the same bytes "
          f"{echo.rate:.0f}/s, p50 {echo.percentile(0.5):.1f} ms: "
          f"{submissions.rate / echo.rate:.2f}x (rounds {min(each41):.2f}-{max(each41):.2f})")
    bare, ours = merge([b for b, _ in rounds]), merge([o for _, o in rounds])
    ratio = ours.rate / bare.rate
    each = [o.rate / b.rate for b, o in rounds]
    print(f"ITI-43 (1 MB, MTOM, {args.documents} documents): {ours.rate:.0f} MB/s against "
          f"a bare sendfile handler {bare.rate:.0f} MB/s: {ratio:.2f} (rounds "
          f"{min(each):.2f}-{max(each):.2f}, errors {ours.errors}; "
          f"budget >= 0.7: {'within' if ratio >= 0.7 else 'OVER'})")
    print(f"ITI-43 in process: the application spends {in_process:.0f} us of CPU an answer "
          "(the file's bytes excluded)")
    print(memory)


def in_process_us(url: str, data_dir: Path, patient: str, content: bytes,
                  answers: int = 5000) -> float:
    """CPU the WSGI app spends on one ITI-43 answer, the file's bytes excluded (under gunicorn
    the kernel sends them): what the application adds to the bare handler's work."""
    from tests.conftest import call_wsgi
    from xds_server.app import create_app
    from xds_server.soap import endpoint

    app = create_app(load_settings({"data_dir": str(data_dir), "profile": "ihe",
                                    "security": "none", "database_url": url}, environ={}))
    submission = single_document_submission(patient, hash=None, size=None,
                                            repository_unique_id=None,
                                            mime_type="application/octet-stream")
    payload, binaries = provide_request(submission, {
        "Document01": Attachment.from_bytes(content, "application/octet-stream")})
    provide = encode_request("http://x/xds/repository", PROVIDE, payload, binaries=binaries)
    call_wsgi(app, "POST", "/xds/repository", b"".join(provide.chunks), provide.content_type)
    request = encode_request("http://x/xds/repository", RETRIEVE, retrieve_request(
        [(app.settings.repository_unique_id, submission.documents[0].unique_id)]), mtom=True)
    body = b"".join(request.chunks)
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/xds/repository", "QUERY_STRING": "",
               "SERVER_NAME": "x", "SERVER_PORT": "80", "wsgi.url_scheme": "http",
               "CONTENT_TYPE": request.content_type, "CONTENT_LENGTH": str(len(body)),
               "HTTP_HOST": "x"}
    kernel_file_sender = endpoint.kernel_file_sender
    endpoint.kernel_file_sender = lambda _environ: lambda _segment: None   # the kernel's part
    try:
        def answer() -> None:
            answered = app({**environ, "wsgi.input": io.BytesIO(body)}, lambda *_: None)
            for _chunk in answered:
                pass
            answered.close()

        for _ in range(500):
            answer()
        started = time.process_time()
        for _ in range(answers):
            answer()
        spent = time.process_time() - started
    finally:
        endpoint.kernel_file_sender = kernel_file_sender
        app.close()
    return spent / answers * 1e6


def measure_100mb(endpoint: str, patient: str, repository_id: str, tmp: Path,
                  master: int) -> str:
    size = 100 * 2**20
    big = tmp / "big.bin"
    digest = hashlib.sha1()
    with open(big, "wb") as handle:
        for _ in range(25):
            block = os.urandom(4 * 2**20)
            digest.update(block)
            handle.write(block)
    worker = _worker_of(master)
    client = SoapClient(endpoint, spool_dir=tmp, spool_threshold=2**20)
    submission = single_document_submission(patient, hash=None, size=None,
                                            repository_unique_id=None,
                                            mime_type="application/octet-stream")
    payload, binaries = provide_request(submission, {"Document01": Attachment(
        "application/octet-stream", "", path=big, size=size, sha1=digest.hexdigest())})
    base = _reset_peak(worker)
    client.call(PROVIDE, payload, binaries=binaries)
    storing = (_memory_kib(worker, "VmHWM") - base) / 1024
    base = _reset_peak(worker)
    reply = client.call(RETRIEVE, retrieve_request(
        [(repository_id, submission.documents[0].unique_id)]))
    serving = (_memory_kib(worker, "VmHWM") - base) / 1024
    reply.close()
    return (f"memory, 100 MiB document: worker peak RSS grew {storing:.1f} MiB storing "
            f"(budget < 250), {serving:.1f} MiB serving (budget < 150)")


if __name__ == "__main__":
    main()
