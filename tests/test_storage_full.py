"""A full disk is the operator's to fix, and said so (issue 18, M4): the document store's ENOSPC,
the database's SQLITE_FULL (a real one: the database held to its page count) and a disk below
XDS_MIN_FREE_BYTES each give a precise refusal (XDSRepositoryError / XDSRegistryError 'storage
full', never 'busy' or an unexpected fault) and an ERROR line, leave nothing behind, and reads go
on; `serve` refuses to start on a data directory without room."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import subprocess
import sys
import tempfile

import psycopg
import pytest
from sqlalchemy import event, text

from xds_server.repository.storage_room import StorageRoom
from xds_server.store.database import _disk_full

from .conftest import free_port
from .registry_data import single_document_submission
from .test_repository import PDF, held_files, provide, retrieve


def _submit(app, patient):
    submission = single_document_submission(patient, hash=None, size=None,
                                            repository_unique_id=None,
                                            mime_type="application/pdf")
    return submission.documents[0].unique_id, provide(app, submission, {"Document01": PDF})


def _errors(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


def test_a_submission_below_the_room_kept_is_refused_and_reads_go_on(app, patient, caplog):
    kept, (status, _, _) = _submit(app, patient)
    assert status == "Success"
    before = held_files(app)
    app.repository.room = StorageRoom(app.settings.data_dir,
                                      StorageRoom(app.settings.data_dir, 0).free_bytes())
    _, (status, codes, _) = _submit(app, patient)
    assert (status, codes) == ("Failure", ["XDSRepositoryError"])
    assert any("repository storage full" in line for line in _errors(caplog))
    assert held_files(app) == before
    got = retrieve(app, [(app.settings.repository_unique_id, kept)])
    assert got.status == "Success" and got.documents[0].data == PDF


def test_the_document_stores_enospc_is_storage_full(app, patient, caplog, monkeypatch):
    def no_space(*_args, **_kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(app.document_store, "_write", no_space)
    _, (status, codes, _) = _submit(app, patient)
    assert (status, codes) == ("Failure", ["XDSRepositoryError"])
    assert any("repository storage full" in line for line in _errors(caplog))
    assert held_files(app) == []


def test_a_full_database_is_storage_full_not_busy(make_app, patient_factory, caplog):
    app = make_app(profile="ihe")
    if app.database.engine.dialect.name != "sqlite":
        # PostgreSQL's disk_full SQLSTATE, as psycopg raises it
        assert _disk_full(psycopg.errors.DiskFull("could not extend file: No space left"))
        assert not _disk_full(psycopg.OperationalError("connection refused"))
        return
    patient = patient_factory(app)
    with app.database.engine.connect() as connection:      # no free page left to reuse
        connection.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
        connection.execute(text("VACUUM"))
        pages = connection.execute(text("PRAGMA page_count")).scalar()

    @event.listens_for(app.database.engine, "connect")
    def held_to_its_size(driver_connection, _record):
        driver_connection.execute(f"PRAGMA max_page_count = {pages}")

    app.database.engine.dispose()
    before = held_files(app)
    for _ in range(200):         # until the room left in the database's pages is used up
        _, (status, codes, _) = _submit(app, patient)
        if status != "Success":
            break
        before = held_files(app)
    assert (status, codes) == ("Failure", ["XDSRegistryError"])
    assert any("registry storage full" in line for line in _errors(caplog))
    assert held_files(app) == before                     # the refused one left no file


@pytest.fixture
def patient_factory():
    from .registry_data import new_patient, open_patient

    def make(app) -> str:
        patient_id = new_patient()
        open_patient(app, patient_id)
        return patient_id

    return make


def test_serve_refuses_to_start_without_room(tmp_path):
    child = {k: v for k, v in os.environ.items() if not k.startswith("XDS_")}
    child.update(XDS_MIN_FREE_BYTES="1024TiB", XDS_SECURITY="none",  # more than any disk here
                 XDS_REQUIRE_SUBMISSION_SIGNATURE="false")
    done = subprocess.run([sys.executable, "-m", "xds_server.cli", "serve", "--port",
                           str(free_port()),
                           "--data-dir", str(tmp_path / "var")], capture_output=True,
                          text=True, env=child, timeout=60)
    assert done.returncode == 2, done.stderr
    assert "bytes free, less than XDS_MIN_FREE_BYTES" in done.stderr
    assert not (tmp_path / "var" / "registry.sqlite3").exists()


def test_the_metrics_files_hold_their_blocks_from_the_start(tmp_path):
    """prometheus-client's per-worker files were sparse (truncated to 1 MiB): on a disk filled
    meanwhile, a worker writing a new sample into one died of SIGBUS (tmpfs), after serving a
    read, restarted and died again (issue 18, R1). Made and grown with their blocks."""
    from prometheus_client import values

    from xds_server.ops import metrics  # noqa: F401  (installs the allocating files)

    path = tmp_path / "counter_1.db"
    held = values.MmapedDict(str(path))
    for key in range(20000):                    # past the first 1 MiB: it doubles
        held.write_value(f"key-{key:05d}-" + "x" * 40, 1.0, 0.0)
    size = path.stat().st_size
    assert size > 1024 * 1024
    assert path.stat().st_blocks * 512 >= size, "sparse: its pages fault on a full disk"
    held.close()


def test_metrics_kept_aside_leave_no_file_behind(tmp_path, monkeypatch):
    """A worker that could not make its metrics file on a full disk kept its values in a
    /dev/shm file that stayed after the worker and the server exited, 64 KiB each (issue 18,
    m4): the file is unlinked once mapped, and still takes values and grows."""
    import glob

    from prometheus_client import values

    from xds_server.ops import (
        metrics,  # noqa: F401  (installs the allocating files)
        metrics_files,
    )

    real = metrics_files._allocate

    def full_data_dir(filename, size, descriptor=None):
        if descriptor is None and filename.startswith(str(tmp_path)):
            return False            # the data directory's disk is full
        return real(filename, size, descriptor)

    monkeypatch.setattr(metrics_files, "_allocate", full_data_dir)
    before = set(glob.glob("/dev/shm/xds-metrics-*") + glob.glob("/tmp/xds-metrics-*"))
    held = values.MmapedDict(str(tmp_path / "counter_2.db"))
    assert set(glob.glob("/dev/shm/xds-metrics-*") + glob.glob("/tmp/xds-metrics-*")) == before
    for key in range(20000):                    # grows past its first size, by its descriptor
        held.write_value(f"key-{key:05d}-" + "x" * 40, 1.0, 0.0)
    assert held.read_value("key-19999-" + "x" * 40) == (1.0, 0.0)
    held.close()
    assert set(glob.glob("/dev/shm/xds-metrics-*") + glob.glob("/tmp/xds-metrics-*")) == before


def test_serve_holds_the_sqlite_log_files_for_reads_on_a_full_disk(tmp_path):
    """SQLite deletes its -wal and -shm files with its last connection; a worker connecting
    after the disk filled could not make them again and every query answered 'busy' (issue
    18, R1). `serve`'s master holds one connection for the server's life: they stay."""
    from xds_server.store.database import Database, wal_files_held

    url = f"sqlite:///{tmp_path / 'registry.sqlite3'}"
    logs = [tmp_path / "registry.sqlite3-wal", tmp_path / "registry.sqlite3-shm"]
    for held in (False, True):
        database = Database.from_url(url)
        with wal_files_held(url) if held else contextlib.nullcontext():
            with database.reading() as uow:
                uow.connection.execute(text("SELECT 1"))
            database.dispose()
            assert all(log.exists() for log in logs) is held


def test_health_on_a_full_disk_leaves_no_probe_behind(app, monkeypatch):
    """/health's write probe failed on a full disk and left its .health- file in the staging
    directory, one per probe (issue 18, R14)."""
    from xds_server.store import documents

    def no_space(*_args, **_kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(documents.os, "write", no_space)
    writable, detail = app.document_store.check_writable()
    monkeypatch.undo()
    assert not writable and "No space left on device" in detail
    assert [p.name for p in app.document_store.staging.iterdir()] == []


@pytest.mark.parametrize("existing", [False, True], ids=["new dir", "empty dir"])
def test_a_backup_on_a_full_disk_leaves_nothing_behind(app, patient, tmp_path, monkeypatch,
                                                       existing):
    """`backup --out` on a full disk left a partial backup (issue 18, R13): what it wrote is
    removed (a directory it made, or the contents of the empty one it was given), one line,
    exit 2."""
    from click.testing import CliRunner

    from xds_server.cli import main
    from xds_server.store import backup

    _submit(app, patient)
    out = tmp_path / "backup"
    if existing:
        out.mkdir()

    def no_space(*_args, **_kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(backup, "_copy_kit", no_space)        # after the database and documents
    result = CliRunner().invoke(main, ["backup", "--out", str(out), "--data-dir",
                                       str(app.settings.data_dir)],
                                env={"XDS_DATABASE_URL": app.settings.database_url})
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "No space left on device" in lines[0], result.output
    assert "removed" in lines[0]
    assert (out.exists() and list(out.iterdir()) == []) if existing else not out.exists()


_REAL_TEMPORARY_FILE = tempfile.NamedTemporaryFile


class _FullSpoolFile:
    """A spool file on a disk that fills after its first block (what a tmpfs does)."""

    def __init__(self, *args, **kwargs):
        self._file = _REAL_TEMPORARY_FILE(*args, **kwargs)
        self.name = self._file.name
        self.written = 0

    def write(self, data):
        if self.written:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.written += len(data)
        return self._file.write(data)

    def close(self):
        self._file.close()


def test_the_disk_filling_while_a_document_is_spooled_is_storage_full(make_app, patient_factory,
                                                                      caplog, monkeypatch):
    """A document over XDS_SPOOL_THRESHOLD_BYTES is spooled before the repository sees it; the
    disk filling then answered 'internal error' with a traceback (issue 18, M1): it is the
    repository's storage-full answer, an ERROR line without traceback, no spool file left."""
    from xds_server.soap import attachments

    app = make_app(profile="ihe", spool_threshold_bytes=4096)
    patient = patient_factory(app)
    monkeypatch.setattr(attachments.tempfile, "NamedTemporaryFile", _FullSpoolFile)
    _, (status, codes, contexts) = _submit(app, patient)
    assert (status, codes) == ("Failure", ["XDSRepositoryError"])
    assert "storage is full" in contexts[0]
    assert any("storage full" in line for line in _errors(caplog))
    assert not [r for r in caplog.records if r.exc_info]
    assert held_files(app) == []
    assert list(app.settings.data_dir.rglob("part-*.bin")) == []


def test_a_full_disk_is_known_through_the_errors_it_caused():
    """Every front's catch-all asks is_disk_full before it logs a traceback: a wrapped ENOSPC
    (a driver's error raised from it) is a full disk too; a permission error is not."""
    from xds_server.model.errors import is_disk_full

    try:
        try:
            raise OSError(errno.EDQUOT, os.strerror(errno.EDQUOT))
        except OSError as exc:
            raise RuntimeError("wrapped") from exc
    except RuntimeError as wrapped:
        assert is_disk_full(wrapped)
    assert not is_disk_full(OSError(errno.EACCES, "denied"))
    assert not is_disk_full(ValueError("x"))
