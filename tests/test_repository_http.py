"""The repository over real HTTP: every reference CDA document provided and retrieved
byte-identical, and the crash test (SIGKILL at random moments during a stream of ITI-41)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from xds_server.consumer.documents import (
    PROVIDE,
    RETRIEVE,
    parse_retrieve,
    provide_request,
    retrieve_request,
)
from xds_server.consumer.transport import SoapClient
from xds_server.model.content import Attachment

from .conftest import DATABASES, REFERENCE, database_for, start_server
from .crash import open_patient_at, provide_one, repository_id_at, run_crash_campaign
from .registry_data import new_patient, single_document_submission

CDA_SAMPLES = sorted(p for p in (REFERENCE / "cda-samples").rglob("*") if p.is_file())
# Kills a database: each costs a server start (most of the test's time). Six a database, at
# moments of their own (a seed a database), are 12 kill moments over the shared file-side
# path and six over each database's commits; a loss is a window in every request, so it shows
# within a few kills: with the rename into place moved before the registration (the order
# actor.py forbids), 3 kills a database already left an unregistered file on both. The long
# campaigns are bench/crash.py's (--kills 200).
KILLS = int(os.environ.get("XDS_CRASH_KILLS", "6"))


def test_every_reference_cda_document_round_trips(live_server):
    patient = new_patient()
    open_patient_at(live_server.database_url, patient)
    repository = SoapClient(live_server.url + "/xds/repository")
    repository_id = repository_id_at(live_server.data_dir)
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


@pytest.mark.http
@pytest.mark.parametrize("kind", DATABASES)
def test_sigkill_during_submissions_loses_nothing(kind, tmp_path):
    """Kill the server (SIGKILL, whole process group) at random moments while a source streams
    ITI-41 submissions; restart; every acknowledged document is retrievable byte for byte and
    every stored blob is registered."""
    with database_for(kind, tmp_path) as database_url:
        report = run_crash_campaign(database_url, tmp_path / "var", KILLS,
                                    seed=20261123 + DATABASES.index(kind))
    print(f"{kind}: {report.kills} kills, {report.acknowledged} acknowledged documents, "
          f"{report.seconds:.0f} s")
    assert report.kills == KILLS
    assert report.acknowledged > KILLS  # the stream did run between kills
    assert (report.lost, report.altered, report.unregistered) == ([], [], [])


def test_cli_submit_query_retrieve(live_server, tmp_path):
    from .cli_run import run_in_process as run_cli  # shells: test_cli_client.py

    patient = new_patient()
    open_patient_at(live_server.database_url, patient)
    sample = REFERENCE / "cda-samples" / "ans-ci-sis" / "BIO-CR-BIO_2024.01_TSH_1.xml"
    pdf = tmp_path / "courrier.pdf"
    pdf.write_bytes(b"%PDF-1.4\n" + os.urandom(5000) + b"\n%%EOF\n")
    submitted = run_cli("submit", str(sample), str(pdf), "--patient", patient, "--repository",
                        live_server.url + "/xds/repository",
                        env={"XDS_PROFILE": "ihe"})   # an IHE server: a bare PDF goes
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
                      live_server.url + "/xds/repository", env={"XDS_PROFILE": "ihe"})
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


@pytest.mark.http
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
                [(repository_id_at(data_dir), submission.documents[0].unique_id)]))
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
