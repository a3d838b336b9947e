"""The crash campaign, shared by the suite (6 kills a database) and bench/crash.py (more): a
source streams ITI-41 submissions while the server is killed with SIGKILL (whole process
group) at random moments and restarted; then every acknowledged document must come back byte
for byte and every stored file must be registered."""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select

from xds_server.config import load_settings
from xds_server.consumer.documents import (
    PROVIDE,
    RETRIEVE,
    parse_retrieve,
    provide_request,
    retrieve_request,
)
from xds_server.consumer.transport import SoapClient, TransportError
from xds_server.model.content import Attachment
from xds_server.records.actor import Records
from xds_server.store import registry_store
from xds_server.store.database import Database, UnitOfWork, make_engine
from xds_server.store.documents import FilesystemDocumentStore
from xds_server.store.tables import repository_documents

from .conftest import start_server, stop_server
from .registry_data import new_patient, single_document_submission


@dataclass
class CrashReport:
    kills: int = 0
    acknowledged: int = 0
    lost: list[str] = field(default_factory=list)          # acknowledged, not retrievable
    altered: list[str] = field(default_factory=list)       # retrieved with other bytes
    unregistered: list[str] = field(default_factory=list)  # stored files nobody registered
    seconds: float = 0.0


def open_patient_at(database_url: str, patient: str) -> None:
    database = Database.from_url(database_url)
    Records(database).open(patient)
    database.dispose()


def provide_one(client: SoapClient, patient: str, data: bytes, mime_type: str,
                mtom: bool = True) -> tuple[str, str]:
    submission = single_document_submission(patient, hash=None, size=None,
                                            repository_unique_id=None, mime_type=mime_type)
    payload, binaries = provide_request(submission, {"Document01": Attachment.from_bytes(
        data, mime_type)})
    reply = client.call(PROVIDE, payload, binaries=binaries, mtom=mtom)
    return reply.payload.get("status", "").rsplit(":", 1)[-1], submission.documents[0].unique_id


def repository_id_at(data_dir: Path) -> str:
    return load_settings({"data_dir": str(data_dir)}, environ={}).repository_unique_id


def run_crash_campaign(database_url: str, data_dir: Path, kills: int,
                       seed: int = 20261123) -> CrashReport:
    rng = random.Random(seed)
    started = time.monotonic()
    env = {"XDS_DATABASE_URL": database_url, "XDS_PROFILE": "ihe", "XDS_LOG_LEVEL": "WARNING",
           "XDS_SPOOL_THRESHOLD_BYTES": "4096"}
    patient = new_patient()
    acknowledged: dict[str, bytes] = {}
    report = CrashReport()
    for _ in range(kills):
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
        report.kills += 1

    process, url, _ = start_server(data_dir, env, workers=1)  # recovery runs at start
    try:
        client = SoapClient(url + "/xds/repository")
        repository_id = repository_id_at(data_dir)
        ids = list(acknowledged)
        report.acknowledged = len(ids)
        for start in range(0, len(ids), 50):
            batch = ids[start:start + 50]
            result = parse_retrieve(client.call(RETRIEVE, retrieve_request(
                [(repository_id, uid) for uid in batch])))
            returned = {d.document_unique_id: d.data for d in result.documents}
            for uid in batch:
                if uid not in returned:
                    report.lost.append(uid)
                elif returned[uid] != acknowledged[uid]:
                    report.altered.append(uid)
        report.unregistered = unregistered_blobs(database_url, data_dir / "documents")
    finally:
        stop_server(process)
    report.seconds = time.monotonic() - started
    return report


def unregistered_blobs(database_url: str, root: Path) -> list[str]:
    blobs = FilesystemDocumentStore(root)
    engine = make_engine(database_url)
    problems = []
    with engine.connect() as connection:
        rows = {row.blob_key: row for row in connection.execute(select(repository_documents))}
        for key in blobs.final_keys():
            row = rows.get(key)
            if row is None or row.state != "committed" or not registry_store.find_by_unique_ids(
                    UnitOfWork(connection), [row.unique_id], "document"):
                problems.append(key)
    engine.dispose()
    return problems
