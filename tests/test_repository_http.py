"""The repository over real HTTP: every reference CDA document provided and retrieved
byte-identical, and the crash test (SIGKILL at random moments during a stream of ITI-41)."""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from xds_server.consumer.documents import (
    PROVIDE,
    RETRIEVE,
    parse_retrieve,
    provide_request,
    retrieve_request,
)
from xds_server.consumer.transport import SoapClient, TransportError
from xds_server.model.content import Attachment
from xds_server.store import registry_store
from xds_server.store.blobs import FilesystemBlobStore
from xds_server.store.database import make_engine
from xds_server.store.tables import repository_documents

from .conftest import DATABASES, REFERENCE, database_for, start_server
from .registry_data import new_patient, single_document_submission

CDA_SAMPLES = sorted(p for p in (REFERENCE / "cda-samples").rglob("*") if p.is_file())
KILLS = int(os.environ.get("XDS_CRASH_KILLS", "50"))


def open_patient_at(database_url: str, patient: str) -> None:
    engine = make_engine(database_url)
    with engine.begin() as connection:
        registry_store.add_patient(connection, patient)
    engine.dispose()


def provide_one(client: SoapClient, patient: str, data: bytes, mime_type: str,
                mtom: bool = True) -> tuple[str, str]:
    submission = single_document_submission(patient, hash=None, size=None,
                                            repository_unique_id=None, mime_type=mime_type)
    payload, binaries = provide_request(submission, {"Document01": Attachment.from_bytes(
        data, mime_type)})
    reply = client.call(PROVIDE, payload, binaries=binaries, mtom=mtom)
    return reply.payload.get("status", "").rsplit(":", 1)[-1], submission.documents[0].unique_id


def test_every_reference_cda_document_round_trips(live_server):
    patient = new_patient()
    open_patient_at(live_server.database_url, patient)
    repository = SoapClient(live_server.url + "/xds/repository")
    repository_id = _repository_id(live_server)
    stored = {}
    for path in CDA_SAMPLES:
        data = path.read_bytes()
        status, unique_id = provide_one(repository, patient, data, "text/xml")
        assert status == "Success", path
        stored[unique_id] = (path, data)
    ids = list(stored)
    result = parse_retrieve(repository.call(RETRIEVE, retrieve_request(
        [(repository_id, uid) for uid in ids])))
    assert result.status == "Success"
    assert len(result.documents) == len(CDA_SAMPLES) >= 30
    for document in result.documents:
        path, data = stored[document.document_unique_id]
        assert document.data == data, path
        assert document.mime_type == "text/xml"


def _repository_id(server) -> str:
    from xds_server.config import load_settings

    return load_settings({"data_dir": str(server.data_dir)}, environ={}).repository_unique_id


@pytest.mark.parametrize("kind", DATABASES)
def test_sigkill_during_submissions_loses_nothing(kind, tmp_path):
    """Kill the server (SIGKILL, whole process group) at random moments while a source streams
    ITI-41 submissions; restart; every acknowledged document is retrievable byte for byte and
    every stored blob is registered."""
    rng = random.Random(20261123)
    data_dir = tmp_path / "var"
    with database_for(kind, tmp_path) as database_url:
        env = {"XDS_DATABASE_URL": database_url, "XDS_PROFILE": "ihe",
               "XDS_LOG_LEVEL": "WARNING", "XDS_SPOOL_THRESHOLD_BYTES": "4096"}
        patient = new_patient()
        acknowledged: dict[str, bytes] = {}
        for _ in range(KILLS):
            process, url, _ = start_server(data_dir, env, workers=1)
            open_patient_at(database_url, patient)
            stop = threading.Event()

            def stream(base: str = url, stop: threading.Event = stop) -> None:
                client = SoapClient(base + "/xds/repository", timeout=10)
                while not stop.is_set():
                    data = os.urandom(rng.choice((200, 5000, 60000)))
                    try:
                        status, unique_id = provide_one(client, patient, data,
                                                        "application/octet-stream")
                    except (TransportError, OSError, AttributeError):
                        return  # the server died under us: that request is not acknowledged
                    if status == "Success":
                        acknowledged[unique_id] = data

            thread = threading.Thread(target=stream)
            thread.start()
            time.sleep(rng.uniform(0.05, 0.6))
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
            stop.set()
            thread.join(timeout=30)

        process, url, _ = start_server(data_dir, env, workers=1)  # recovery runs at start
        try:
            client = SoapClient(url + "/xds/repository")
            repository_id = _repository_id_at(data_dir)
            ids = list(acknowledged)
            assert len(ids) > KILLS  # the stream did run between kills
            for start in range(0, len(ids), 50):
                batch = ids[start:start + 50]
                result = parse_retrieve(client.call(RETRIEVE, retrieve_request(
                    [(repository_id, uid) for uid in batch])))
                assert result.status == "Success", result.errors[:3]
                for document in result.documents:
                    assert document.data == acknowledged[document.document_unique_id]
            _assert_every_blob_registered(database_url, data_dir / "documents")
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=15)


def _repository_id_at(data_dir: Path) -> str:
    from xds_server.config import load_settings

    return load_settings({"data_dir": str(data_dir)}, environ={}).repository_unique_id


def _assert_every_blob_registered(database_url: str, root: Path) -> None:
    blobs = FilesystemBlobStore(root)
    engine = make_engine(database_url)
    with engine.connect() as connection:
        rows = {row.blob_key: row for row in connection.execute(select(repository_documents))}
        for key in blobs.final_keys():
            row = rows.get(key)
            assert row is not None and row.state == "committed", f"unregistered blob {key}"
            assert registry_store.find_by_unique_ids(connection, [row.unique_id], "document")
    engine.dispose()


def test_cli_submit_query_retrieve(live_server, tmp_path):
    from .test_conformance import run_cli

    patient = new_patient()
    open_patient_at(live_server.database_url, patient)
    sample = REFERENCE / "cda-samples" / "ans-ci-sis" / "BIO-CR-BIO_2024.01_TSH_1.xml"
    pdf = tmp_path / "courrier.pdf"
    pdf.write_bytes(b"%PDF-1.4\n" + os.urandom(5000) + b"\n%%EOF\n")
    submitted = run_cli("submit", str(sample), str(pdf), "--patient", patient, "--repository",
                        live_server.url + "/xds/repository")
    assert submitted.returncode == 0, submitted.stderr + submitted.stdout
    unique_ids = [line.split()[0] for line in submitted.stdout.splitlines()]
    assert len(unique_ids) == 2

    listed = run_cli("query", "--patient", patient, "--registry",
                     live_server.url + "/xds/registry")
    assert listed.returncode == 0, listed.stderr
    assert "2 document(s)" in listed.stdout
    assert all(uid in listed.stdout for uid in unique_ids)
    assert "courrier" in listed.stdout

    for unique_id, original in zip(unique_ids, (sample, pdf), strict=True):
        out = tmp_path / "out.bin"
        fetched = run_cli("retrieve", unique_id, "--out", str(out), "--repository",
                          live_server.url + "/xds/repository", "--registry",
                          live_server.url + "/xds/registry")
        assert fetched.returncode == 0, fetched.stderr
        assert out.read_bytes() == original.read_bytes()

    unknown = run_cli("retrieve", "1.2.3.404", "--out", str(tmp_path / "x"), "--registry",
                      live_server.url + "/xds/registry")
    assert unknown.returncode != 0 and "knows no document" in unknown.stderr
    refused = run_cli("submit", str(pdf), "--patient", new_patient(), "--repository",
                      live_server.url + "/xds/repository")
    assert refused.returncode != 0 and "XDSUnknownPatientId" in refused.stderr


def _worker_of(master: int) -> int:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    assert len(children) == 1
    return int(children[0])


def _memory_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


def _reset_peak(pid: int) -> int:
    """Reset the peak RSS of `pid` (Linux clear_refs 5); returns the current RSS in KiB."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")
    return _memory_kib(pid, "VmRSS")


def test_100_mb_document_is_stored_and_served_in_bounded_memory(tmp_path):
    import hashlib

    size = 100 * 1024 * 1024
    big = tmp_path / "big.bin"
    digest = hashlib.sha1()
    with open(big, "wb") as handle:
        for _ in range(size // (4 * 1024 * 1024)):
            block = os.urandom(4 * 1024 * 1024)
            digest.update(block)
            handle.write(block)
    data_dir = tmp_path / "var"
    with database_for("sqlite", tmp_path) as database_url:
        env = {"XDS_DATABASE_URL": database_url, "XDS_PROFILE": "ihe",
               "XDS_MAX_REQUEST_BYTES": str(size + 16 * 1024 * 1024),
               "XDS_MAX_DOCUMENT_BYTES": str(size), "XDS_LOG_LEVEL": "WARNING"}
        process, url, _ = start_server(data_dir, env, workers=1)
        try:
            patient = new_patient()
            open_patient_at(database_url, patient)
            client = SoapClient(url + "/xds/repository", spool_dir=tmp_path,
                                spool_threshold=1024 * 1024)
            worker = _worker_of(process.pid)
            provide_one(client, patient, b"warm-up", "text/plain")  # imports, caches

            base = _reset_peak(worker)
            submission = single_document_submission(patient, hash=None, size=None,
                                                    repository_unique_id=None,
                                                    mime_type="application/octet-stream")
            payload, binaries = provide_request(submission, {"Document01": Attachment(
                "application/octet-stream", "", path=big, size=size, sha1=digest.hexdigest())})
            reply = client.call(PROVIDE, payload, binaries=binaries)
            assert reply.payload.get("status").endswith("Success")
            storing = (_memory_kib(worker, "VmHWM") - base) * 1024

            base = _reset_peak(worker)
            reply = client.call(RETRIEVE, retrieve_request(
                [(_repository_id_at(data_dir), submission.documents[0].unique_id)]))
            serving = (_memory_kib(worker, "VmHWM") - base) * 1024
            [part] = reply.attachments.values()
            assert (part.size, part.sha1) == (size, digest.hexdigest())
            reply.close()
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=15)
    print(f"100 MiB document: worker peak grew by {storing / 2**20:.1f} MiB storing, "
          f"{serving / 2**20:.1f} MiB serving")
    assert storing < 2.5 * size
    assert serving < 1.5 * size
