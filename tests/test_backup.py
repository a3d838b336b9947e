"""Backup while submissions stream in, restore at another path (and into another database), and
every document acknowledged before the backup began comes back byte for byte under the same
repositoryUniqueId; nothing in the restored copy is registered without its bytes.

Also: the repositoryUniqueId is made once and kept with the data (a data directory moved keeps
answering for its documents), and an existing data directory keeps the id it derived."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from xds_server.config import load_settings
from xds_server.config_identity import IDENTITY_FILE, oid_for
from xds_server.consumer.documents import RETRIEVE, parse_retrieve, retrieve_request
from xds_server.consumer.transport import SoapClient, TransportError
from xds_server.model.content import Attachment
from xds_server.model.held import HeldDocument
from xds_server.store import repository_store
from xds_server.store.backup import BackupError, backup
from xds_server.store.database import Database, make_engine
from xds_server.store.documents import MIME_TYPE_XATTR, FilesystemDocumentStore
from xds_server.store.restore import restore
from xds_server.store.schema import migrate

from .cli_run import run_in_process
from .conftest import DATABASES, database_for, start_server, stop_server
from .crash import open_patient_at, provide_one
from .registry_data import new_patient


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    child = {k: v for k, v in os.environ.items() if not k.startswith("XDS_")}
    child.update(env)
    return subprocess.run([sys.executable, "-m", "xds_server.cli", *args], capture_output=True,
                          text=True, env=child, timeout=300)


def _retrieve(url: str, repository_id: str, unique_ids: list[str]) -> dict[str, bytes]:
    """The bytes of each document the repository returns, fifty a request (one request a
    document cost seconds over hundreds of documents, and proves nothing more)."""
    client = SoapClient(url + "/xds/repository")
    returned: dict[str, bytes] = {}
    for start in range(0, len(unique_ids), 50):
        reply = client.call(RETRIEVE, retrieve_request(
            [(repository_id, uid) for uid in unique_ids[start:start + 50]]))
        returned.update((d.document_unique_id, d.data) for d in parse_retrieve(reply).documents)
    return returned


class Stream:
    """A source submitting documents one after the other; what was acknowledged, and when."""

    def __init__(self, url: str, patient: str) -> None:
        self.client = SoapClient(url + "/xds/repository")
        self.patient = patient
        self.acknowledged: list[tuple[float, str, bytes]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        number = 0
        while not self.stop.is_set():
            number += 1
            data = f"document {number} of the stream\n".encode() * (1 + number % 50)
            try:
                status, unique_id = provide_one(self.client, self.patient, data, "text/plain")
            except TransportError:
                continue
            if status == "Success":
                self.acknowledged.append((time.monotonic(), unique_id, data))

    def __enter__(self) -> Stream:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join(timeout=30)


@pytest.mark.http
@pytest.mark.parametrize("kind", DATABASES)
def test_a_backup_under_load_restores_every_acknowledged_document(kind, tmp_path):
    source_dir, backup_dir = tmp_path / "site-a" / "var", tmp_path / "backup"
    restored_dir = tmp_path / "elsewhere" / "data"           # another path: another host
    with database_for(kind, tmp_path / "a") as source_db, \
            database_for(kind, tmp_path / "b") as restored_db:
        env = {"XDS_DATABASE_URL": source_db, "XDS_PROFILE": "ihe", "XDS_LOG_LEVEL": "WARNING"}
        process, url, _ = start_server(source_dir, env, workers=2)
        try:
            patient = new_patient()
            open_patient_at(source_db, patient)
            repository_id = load_settings({"data_dir": str(source_dir)},
                                          environ={}).repository_unique_id
            with Stream(url, patient) as stream:
                while len(stream.acknowledged) < 20:
                    time.sleep(0.05)
                began = time.monotonic()
                done = _cli("backup", "--out", str(backup_dir),
                            env={**env, "XDS_DATA_DIR": str(source_dir)})
                time.sleep(0.5)                 # and the stream goes on after the backup
            assert done.returncode == 0, done.stderr
            after = [a for a in stream.acknowledged if a[0] > began]
            assert after, "the stream did not run during the backup"
        finally:
            stop_server(process)
        before = [a for a in stream.acknowledged if a[0] <= began]

        restored_env = {"XDS_DATABASE_URL": restored_db, "XDS_PROFILE": "ihe"}
        back = _cli("restore", str(backup_dir), "--data-dir", str(restored_dir),
                    env=restored_env)
        assert back.returncode == 0, back.stderr
        assert repository_id in back.stdout
        stored = [p for p in (restored_dir / "documents").glob("??/??/*") if p.is_file()]
        assert len(stored) >= len(before)
        if _has_user_xattrs(restored_dir):        # the mime type is back beside the bytes
            assert {os.getxattr(p, MIME_TYPE_XATTR) for p in stored} == {b"text/plain"}
        process, url, _ = start_server(restored_dir, restored_env, workers=1)
        try:
            assert load_settings({"data_dir": str(restored_dir)},
                                 environ={}).repository_unique_id == repository_id
            returned = _retrieve(url, repository_id, [a[1] for a in stream.acknowledged])
            for _, unique_id, data in before:       # acknowledged before: all there
                assert returned.get(unique_id) == data, unique_id
            registered = _registered(restored_db, patient)
            for _, unique_id, data in stream.acknowledged:
                if unique_id in registered:     # in the backup: bytes and registration both
                    assert returned.get(unique_id) == data, unique_id
            assert len(registered) >= len(before)
        finally:
            stop_server(process)


def _has_user_xattrs(directory: Path) -> bool:
    probe = directory / ".xattr-probe"
    probe.write_bytes(b"")
    try:
        os.setxattr(probe, "user.probe", b"1")
        return True
    except OSError:
        return False
    finally:
        probe.unlink()


def _registered(database_url: str, patient: str) -> set[str]:
    from sqlalchemy import select

    from xds_server.store.tables import document_entries

    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            return set(connection.execute(select(document_entries.c.unique_id)).scalars())
    finally:
        engine.dispose()


def test_the_repository_id_is_kept_with_the_data(tmp_path):
    """Made on first use from the path (what earlier releases derived), then kept: the same
    data directory moved elsewhere keeps its id."""
    first = tmp_path / "one" / "var"
    done = _cli("db", "upgrade", env={"XDS_DATA_DIR": str(first)})
    assert done.returncode == 0, done.stderr
    assert (first / IDENTITY_FILE).is_file()
    settings = load_settings({"data_dir": str(first)}, environ={})
    assert settings.repository_unique_id == oid_for(first, "repository")
    moved = tmp_path / "two" / "data"
    moved.parent.mkdir()
    first.rename(moved)
    again = load_settings({"data_dir": str(moved)}, environ={})
    assert again.repository_unique_id == settings.repository_unique_id
    assert again.home_community_id == settings.home_community_id
    assert again.sources["repository_unique_id"].endswith(IDENTITY_FILE)
    assert oid_for(moved, "repository") != settings.repository_unique_id


def test_an_existing_data_directory_keeps_the_id_it_derived(tmp_path):
    """A data directory of an earlier release (no identity file) gets, and keeps, the id its
    documents were registered under."""
    old = tmp_path / "var"
    old.mkdir()
    (old / "registry.sqlite3").write_bytes(b"")       # as an earlier release left it
    derived = oid_for(old, "repository")
    assert load_settings({"data_dir": str(old)}, environ={}).repository_unique_id == derived
    assert run_in_process("db", "upgrade", env={"XDS_DATA_DIR": str(old)}).returncode == 0
    assert Path(old / IDENTITY_FILE).is_file()
    assert load_settings({"data_dir": str(old)}, environ={}).repository_unique_id == derived


def test_restore_refuses_a_data_directory_in_use(tmp_path):
    """In this process: the shells are the backup under load's (db upgrade: the test above)."""
    used = tmp_path / "var"
    assert run_in_process("db", "upgrade", env={"XDS_DATA_DIR": str(used)}).returncode == 0
    backup = tmp_path / "backup"
    assert run_in_process("backup", "--out", str(backup),
                          env={"XDS_DATA_DIR": str(used)}).returncode == 0
    refused = run_in_process("restore", str(backup), env={"XDS_DATA_DIR": str(used)})
    assert refused.returncode == 2 and "is not empty" in refused.stderr
    other = run_in_process("restore", str(backup), env={"XDS_DATA_DIR": str(tmp_path / "new"),
                                                        "XDS_REPOSITORY_UNIQUE_ID": "1.2.3"})
    assert other.returncode == 2 and "registered under" in other.stderr


def _held_store(database_url: str, root: Path) -> FilesystemDocumentStore:
    """Three committed documents: one in place, one whose rename is still pending (its file
    in staging), one whose file is gone (removed after the snapshot would have been taken)."""
    engine = make_engine(database_url)
    migrate(engine)
    engine.dispose()
    store = FilesystemDocumentStore(root)
    held = []
    for name in ("placed", "staged", "removed"):
        data = f"the {name} document\n".encode()
        staged = store.stage(f"1.2.3.{len(held) + 1}", Attachment.from_bytes(data, "text/plain"),
                             "text/plain")
        if name == "placed":
            store.commit(staged)
        elif name == "removed":
            store.discard(staged)
        held.append(HeldDocument(f"1.2.3.{len(held) + 1}", staged.key, staged.size,
                                 staged.sha1, "text/plain"))
    database = Database.from_url(database_url)
    with database.transaction() as uow:
        repository_store.add_documents(uow, held)
    database.dispose()
    return store


def test_a_backup_takes_pending_renames_and_leaves_out_what_was_removed(database_url, tmp_path):
    store = _held_store(database_url, tmp_path / "site" / "documents")
    with database_for("sqlite" if database_url.startswith("sqlite") else "postgresql",
                      tmp_path / "restored") as restored_url:
        manifest = backup(database_url, store.root, tmp_path / "no-kit", tmp_path / "backup",
                          {"repository_unique_id": "1.2.3", "home_community_id": "urn:oid:1.2"},
                          "test")
        assert manifest.documents == 2 and manifest.removed_during_backup == ["1.2.3.3"]
        restore(tmp_path / "backup", restored_url, tmp_path / "restored" / "documents",
                tmp_path / "restored" / "kit")
        again = FilesystemDocumentStore(tmp_path / "restored" / "documents")
        assert again.open("1.2.3.1").read_bytes() == b"the placed document\n"
        assert again.open("1.2.3.2").read_bytes() == b"the staged document\n"
        database = Database.from_url(restored_url)
        with database.reading() as uow:
            rows = repository_store.documents(uow, ["1.2.3.1", "1.2.3.2", "1.2.3.3"])
        database.dispose()
        assert sorted(rows) == ["1.2.3.1", "1.2.3.2"]   # no row without its bytes


def test_a_damaged_backup_is_refused(tmp_path):
    url = f"sqlite:///{tmp_path / 'site' / 'registry.sqlite3'}"
    store = _held_store(url, tmp_path / "site" / "documents")
    backup(url, store.root, tmp_path / "no-kit", tmp_path / "backup",
           {"repository_unique_id": "1.2.3", "home_community_id": "urn:oid:1.2"}, "test")
    copied = next((tmp_path / "backup" / "documents").glob("??/??/*"))
    copied.write_bytes(copied.read_bytes().upper())
    with pytest.raises(BackupError, match="the backup is damaged"):
        restore(tmp_path / "backup", f"sqlite:///{tmp_path / 'new' / 'r.sqlite3'}",
                tmp_path / "new" / "documents", tmp_path / "new" / "kit")
