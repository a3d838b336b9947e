"""A consistent copy of a running installation, and its restoration elsewhere.

What is consistent: the database is copied as of one moment (SQLite's online backup API; on
PostgreSQL one REPEATABLE READ snapshot whose tables are COPYed out), and the documents copied
are exactly those committed in that copy, each checked against its size. A document committed
after that moment is not in the backup (nor is its registration); one removed (ITI-86) between
that moment and the copy of its file is recorded as removed, its repository row left out, as if
the removal had come first. Nothing is read from a file a writer still holds: a committed
document's file is immutable until removed.

The layout of a backup directory: backup_format.py. Restoring one: restore.py.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

from psycopg import IsolationLevel

from .backup_format import (
    BackupError,
    Held,
    Manifest,
    Progress,
    checked_files,
    database_kind,
    empty_dir,
    sha256,
    sqlite_path,
    table_names,
    write_durably,
)
from .database import make_engine
from .documents import STAGED, WITHDRAWN, FilesystemDocumentStore

_HELD = ("SELECT unique_id, blob_key, size, hash, mime_type FROM repository_documents "
         "WHERE state = 'committed'")


def backup(database_url: str, documents_root: Path, kit_dir: Path, out: Path,
           identity: dict[str, str], server_version: str,
           progress: Callable[[int | None], Progress] = lambda total: lambda n: None
           ) -> Manifest:
    """Copy the installation into `out` (new or empty) while it runs; `progress(total)` gives
    the callback told of each document copied."""
    empty_dir(out, "the backup directory")
    existed = out.exists()
    try:
        return _backup(database_url, documents_root, kit_dir, out, identity, server_version,
                       progress)
    except (OSError, sqlite3.Error) as exc:      # a full or read-only disk, a path not a dir
        _discard(out, existed)
        raise BackupError(f"cannot write the backup in {out}: {exc}; what it had written is "
                          "removed") from None
    except BaseException:
        _discard(out, existed)                   # a partial backup is no backup (issue 18 R13)
        raise


def _discard(out: Path, existed: bool) -> None:
    """Remove what a failed backup wrote: the directory it made, or the contents of the empty
    one it was given (it was checked empty), so no partial backup is mistaken for one."""
    if not existed:
        shutil.rmtree(out, ignore_errors=True)
    elif out.is_dir():
        for entry in out.iterdir():
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)


def _backup(database_url: str, documents_root: Path, kit_dir: Path, out: Path,
            identity: dict[str, str], server_version: str, progress) -> Manifest:
    empty_dir(out, "the backup directory")
    (out / "database").mkdir(parents=True, exist_ok=True)
    dialect = database_kind(database_url)
    manifest = Manifest(dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), server_version,
                        dialect, "", dict(identity))
    store = FilesystemDocumentStore(documents_root)
    if dialect == "sqlite":
        copy = out / "database" / "registry.sqlite3"
        path = sqlite_path(database_url)
        if not path.is_file():
            raise BackupError(f"no database at {path}: is this the installation's data "
                              "directory (--data-dir, XDS_DATA_DIR, XDS_DATABASE_URL)?")
        source = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
        target = sqlite3.connect(copy)
        try:
            source.backup(target)            # one consistent state, writers go on meanwhile
        finally:
            source.close()
        try:
            manifest.revision = _revision_sqlite(target)
            held = [Held(*row) for row in target.execute(_HELD)]
            missing = _copy_documents(store, held, out, manifest, progress)
            target.executemany("DELETE FROM repository_documents WHERE unique_id = ?",
                               [(u,) for u in missing])
            target.commit()
        finally:
            target.close()
    elif dialect == "postgresql":
        _backup_postgresql(database_url, store, out, manifest, progress)
    else:
        raise BackupError(f"backing up a {dialect} database is not supported")
    _copy_kit(kit_dir, out / "kit", manifest)
    manifest.checksums = {name: sha256(out / name) for name in checked_files(out)}
    manifest.write(out)
    return manifest


def _revision_sqlite(connection: sqlite3.Connection) -> str:
    try:
        row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.OperationalError:
        row = None
    if not row:
        raise BackupError("the database has no xds-server schema: nothing to back up "
                          "(run `xds-server db upgrade` or start the server once)")
    return row[0]


def _backup_postgresql(url: str, store: FilesystemDocumentStore, out: Path,
                       manifest: Manifest, progress) -> None:
    engine = make_engine(url)
    try:
        raw = engine.raw_connection()
        try:
            driver = raw.driver_connection
            driver.rollback()
            driver.isolation_level = IsolationLevel.REPEATABLE_READ   # one snapshot for all
            driver.read_only = True
            with driver.transaction():
                manifest.revision = driver.execute(
                    "SELECT version_num FROM alembic_version").fetchone()[0]
                held = [Held(*row) for row in driver.execute(_HELD)]
                missing = _copy_documents(store, held, out, manifest, progress)
                for name in table_names():
                    query, params = f'SELECT * FROM "{name}"', None
                    if name == "repository_documents" and missing:
                        query, params = query + " WHERE unique_id <> ALL(%s)", [missing]
                    with open(out / "database" / f"{name}.copy", "wb") as handle, \
                            driver.cursor() as cursor:
                        with cursor.copy(f"COPY ({query}) TO STDOUT", params) as copy:
                            for chunk in copy:
                                handle.write(chunk)
                        handle.flush()
                        os.fsync(handle.fileno())
        finally:
            raw.close()
    finally:
        engine.dispose()


def _source_of(store: FilesystemDocumentStore, key: str) -> Path | None:
    """The committed document's file: in place, or still in staging (its rename pending, or
    withdrawn by a removal that has not committed yet)."""
    final = store.final_path(key)
    if final.is_file():
        return final
    for suffix in (STAGED, WITHDRAWN):
        for path in store.staging.glob(f"{key}.*{suffix}"):
            return path
    return None


def _copy_documents(store: FilesystemDocumentStore, held: list[Held], out: Path,
                    manifest: Manifest, progress) -> list[str]:
    """Copy each held document; the uniqueIds of those removed meanwhile."""
    listing = []
    missing = []
    advance = progress(len(held))
    for document in held:
        target = out / "documents" / document.key[:2] / document.key[2:4] / document.key
        target.parent.mkdir(parents=True, exist_ok=True)
        copied = False
        for _ in range(3):        # a file between two renames is looked for again
            source = _source_of(store, document.key)
            if source is None:
                break
            with contextlib.suppress(FileNotFoundError):
                shutil.copyfile(source, target)
                copied = True
                break
        if not copied or target.stat().st_size != document.size:
            target.unlink(missing_ok=True)
            missing.append(document.unique_id)
        else:
            listing.append("\t".join([document.key, document.unique_id, str(document.size),
                                      document.sha1, document.mime_type]))
            manifest.bytes += document.size
        advance(1)
    write_durably(out / "documents.tsv", ("\n".join(listing) + "\n").encode())
    manifest.documents = len(listing)
    manifest.removed_during_backup = missing
    return missing


def kit_digest(kit_dir: Path) -> dict[str, object]:
    """The installed kit's identity: its files and a SHA-256 over their names and bytes."""
    if not kit_dir.is_dir():
        return {"present": False}
    digest = hashlib.sha256()
    files = sorted(p for p in kit_dir.rglob("*") if p.is_file())
    for path in files:
        digest.update(str(path.relative_to(kit_dir)).encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return {"present": True, "files": len(files), "sha256": digest.hexdigest()}


def _copy_kit(kit_dir: Path, target: Path, manifest: Manifest) -> None:
    manifest.kit = kit_digest(kit_dir)
    if manifest.kit["present"]:
        shutil.copytree(kit_dir, target)
