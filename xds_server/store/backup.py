"""A consistent copy of a running installation, and its restoration elsewhere.

What is consistent: the database is copied as of one moment (SQLite's online backup API; on
PostgreSQL one REPEATABLE READ snapshot whose tables are COPYed out), and the documents copied
are exactly those committed in that copy, each checked against its size. A document committed
after that moment is not in the backup (nor is its registration); one removed (ITI-86) between
that moment and the copy of its file is recorded as removed, its repository row left out, as if
the removal had come first. Nothing is read from a file a writer still holds: a committed
document's file is immutable until removed.

Layout of a backup directory (manifest.json written last: without it the backup is incomplete):

    manifest.json          format, versions, schema revision, identity, counts, the kit's digest
    database/              registry.sqlite3 (SQLite), or one TABLE.copy per table (PostgreSQL)
    documents/ab/cd/KEY    the document store's own layout
    documents.tsv          KEY, uniqueId, size, SHA-1, mime type: the mime type goes back into
                           each file's user.xds.mime-type attribute on restore, whatever the
                           backup's filesystem kept
    kit/                   the installed ANS kit, if any
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from psycopg import IsolationLevel
from sqlalchemy import Engine, inspect, text
from sqlalchemy.engine import make_url

from .database import make_engine
from .documents import MIME_TYPE_XATTR, STAGED, WITHDRAWN, FilesystemDocumentStore
from .schema import migrate, migrate_to
from .tables import metadata

FORMAT = 2
# format 1: backups of the release before checksums, read with their files only checked to be
# there; from format 2 the manifest must hold the checksums (one without them is damaged)
READABLE_FORMATS = (1, 2)
MANIFEST = "manifest.json"
Progress = Callable[[int], None]


class BackupError(Exception):
    """The backup or the restore cannot be made as asked; the message says why."""


@dataclass
class Held:
    unique_id: str
    key: str
    size: int
    sha1: str
    mime_type: str


@dataclass
class Manifest:
    created_at: str
    server_version: str
    database: str
    revision: str
    identity: dict[str, str]
    documents: int = 0
    bytes: int = 0
    removed_during_backup: list[str] = field(default_factory=list)
    kit: dict[str, object] = field(default_factory=dict)
    # SHA-256 of documents.tsv and of each database file, by path in the backup: a file
    # edited or cut short after the backup is refused before anything is restored
    checksums: dict[str, str] = field(default_factory=dict)
    format: int = FORMAT

    def write(self, directory: Path) -> None:
        _write_durably(directory / MANIFEST, json.dumps(self.__dict__, indent=1).encode())

    @classmethod
    def read(cls, directory: Path) -> Manifest:
        path = directory / MANIFEST
        if not path.is_file():
            raise BackupError(f"{directory} is not a complete backup (no {MANIFEST}): the "
                              "backup was interrupted, or this is another directory")
        try:
            data = json.loads(path.read_bytes())
        except (ValueError, OSError) as exc:
            raise BackupError(f"{path} cannot be read ({exc}): the backup is damaged") from None
        if not isinstance(data, dict):
            raise BackupError(f"{path} is not a backup manifest: the backup is damaged")
        if data.get("format") not in READABLE_FORMATS:
            raise BackupError(f"{path}: backup format {data.get('format')}, this version "
                              f"reads formats {', '.join(map(str, READABLE_FORMATS))}")
        try:
            manifest = cls(**data)
        except TypeError as exc:
            raise BackupError(f"{path} is not a backup manifest of this format ({exc}): the "
                              "backup is damaged") from None
        identity = manifest.identity
        if not isinstance(identity, dict) or not all(
                isinstance(identity.get(name), str) and identity[name]
                for name in ("repository_unique_id", "home_community_id")):
            raise BackupError(f"{path}: the identity (repositoryUniqueId, homeCommunityId) is "
                              "missing: the backup is damaged")
        return manifest


def _write_durably(path: Path, data: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _empty_dir(path: Path, what: str) -> None:
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise BackupError(f"{what} {path} is not empty: give a new or empty directory")


def _dialect(url: str) -> str:
    return make_url(url).get_backend_name()


def _sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupError(f"{url}: an in-memory database cannot be backed up")
    return Path(database)


# --- backup ------------------------------------------------------------------------------------

_HELD = ("SELECT unique_id, blob_key, size, hash, mime_type FROM repository_documents "
         "WHERE state = 'committed'")


def backup(database_url: str, documents_root: Path, kit_dir: Path, out: Path,
           identity: dict[str, str], server_version: str,
           progress: Callable[[int | None], Progress] = lambda total: lambda n: None
           ) -> Manifest:
    """Copy the installation into `out` (new or empty) while it runs; `progress(total)` gives
    the callback told of each document copied."""
    _empty_dir(out, "the backup directory")
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
    _empty_dir(out, "the backup directory")
    (out / "database").mkdir(parents=True, exist_ok=True)
    dialect = _dialect(database_url)
    manifest = Manifest(dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), server_version,
                        dialect, "", dict(identity))
    store = FilesystemDocumentStore(documents_root)
    if dialect == "sqlite":
        copy = out / "database" / "registry.sqlite3"
        path = _sqlite_path(database_url)
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
    manifest.checksums = {name: _sha256(out / name) for name in _checked_files(out)}
    manifest.write(out)
    return manifest


def _checked_files(directory: Path) -> list[str]:
    """The backup's files a manifest checksum covers (documents have their own SHA-1)."""
    return ["documents.tsv", *sorted(str(p.relative_to(directory))
                                     for p in (directory / "database").iterdir())]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _revision_sqlite(connection: sqlite3.Connection) -> str:
    try:
        row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.OperationalError:
        row = None
    if not row:
        raise BackupError("the database has no xds-server schema: nothing to back up "
                          "(run `xds-server db upgrade` or start the server once)")
    return row[0]


def _table_names() -> list[str]:
    return [table.name for table in metadata.sorted_tables]


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
                for name in _table_names():
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
    _write_durably(out / "documents.tsv", ("\n".join(listing) + "\n").encode())
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


# --- restore ---------------------------------------------------------------------------------
#
# A restore is all or nothing: everything is checked, then brought in under temporary names next
# to its final place (the database file, the document store, the kit) or, on PostgreSQL, into
# tables dropped again on any refusal; only a restore that passed every check is renamed into
# place. A refused restore leaves the target as it was, so it can be retried.

RESTORING = ".restoring"


def restore(source: Path, database_url: str, documents_root: Path, kit_dir: Path,
            progress: Callable[[int | None], Progress] = lambda total: lambda n: None
            ) -> Manifest:
    """Bring a backup into an empty installation (database and document store), then to the
    current schema. The caller writes the identity (repositoryUniqueId) kept in the manifest."""
    manifest = verify_manifest(source)
    dialect = _dialect(database_url)
    if dialect != manifest.database:
        raise BackupError(f"the backup is of a {manifest.database} database and "
                          f"XDS_DATABASE_URL is {dialect}: restore into the same kind")
    _empty_dir(documents_root, "the document store")
    if manifest.kit.get("present") and kit_dir.exists():
        raise BackupError(f"{kit_dir} exists: restore into an empty data directory")
    listing = _listing(source)
    made: list[Path] = []          # temporary names, removed on refusal
    try:
        staged_documents = _staged(documents_root, made)
        _restore_documents(source, listing, staged_documents, progress)
        staged_kit = None
        if manifest.kit.get("present"):
            staged_kit = _staged(kit_dir, made)
            shutil.copytree(source / "kit", staged_kit)
        if dialect == "sqlite":
            target = _sqlite_path(database_url)
            if target.exists():
                raise BackupError(f"the database {target} exists: restore into an empty data "
                                  "directory")
            staged_database = _staged(target, made)
            shutil.copyfile(source / "database" / "registry.sqlite3", staged_database)
            _bring_to_schema(f"sqlite:///{staged_database}", manifest, listing)
            staged_database.rename(target)
        else:
            _restore_postgresql(source, database_url, manifest, listing)
        staged_documents.rename(documents_root)
        if staged_kit is not None:
            staged_kit.rename(kit_dir)
    except BaseException:
        for path in made:
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            for suffix in ("", "-wal", "-shm", "-journal"):
                with contextlib.suppress(IsADirectoryError):
                    Path(f"{path}{suffix}").unlink(missing_ok=True)
        raise
    return manifest


def verify_manifest(source: Path) -> Manifest:
    """The manifest, once what it vouches for is checked: a schema this release knows, and the
    checksums of documents.tsv and the database files (backups made before checksums: their
    files only have to be there)."""
    from .schema import is_known_revision

    manifest = Manifest.read(source)
    if manifest.database not in ("sqlite", "postgresql"):
        raise BackupError(f"the backup names a {manifest.database!r} database: damaged")
    if not is_known_revision(manifest.revision):
        raise BackupError(f"the backup's schema revision {manifest.revision!r} is not one this "
                          "release knows (a backup of a newer release, or a damaged one): "
                          "restore it with the release that made it")
    if manifest.format >= 2 and not manifest.checksums:
        raise BackupError("the manifest has no checksums although its format has them: the "
                          "backup is damaged")
    wanted = manifest.checksums or {name: "" for name in _expected_files(manifest)}
    for name in _expected_files(manifest):
        if name not in wanted:
            raise BackupError(f"the manifest has no checksum of {name}: the backup is damaged")
    for name, checksum in wanted.items():
        path = source / name
        if not path.is_file():
            raise BackupError(f"{path} is missing: the backup is damaged")
        if checksum and _sha256(path) != checksum:
            raise BackupError(f"{path} is not the file the backup wrote (its SHA-256 differs): "
                              "the backup is damaged")
    return manifest


def _expected_files(manifest: Manifest) -> list[str]:
    if manifest.database == "sqlite":
        return ["documents.tsv", "database/registry.sqlite3"]
    return ["documents.tsv", *(f"database/{name}.copy" for name in _table_names())]


def _listing(source: Path) -> dict[str, Held]:
    """documents.tsv by uniqueId; a malformed line → BackupError."""
    listing: dict[str, Held] = {}
    path = source / "documents.tsv"
    for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
        if not line:
            continue
        fields = line.split("\t")
        if len(fields) != 5 or not fields[2].isdigit() or len(fields[0]) < 4:
            raise BackupError(f"{path} line {number} is not KEY, uniqueId, size, SHA-1, mime "
                              "type: the backup is damaged")
        key, unique_id, size, sha1, mime_type = fields
        listing[unique_id] = Held(unique_id, key, int(size), sha1, mime_type)
    return listing


def _staged(final: Path, made: list[Path]) -> Path:
    """A temporary name beside `final`, recorded to be removed if the restore is refused."""
    staged = final.with_name(final.name + RESTORING)
    if staged.exists():
        raise BackupError(f"{staged} exists (an interrupted restore): remove it and retry")
    final.parent.mkdir(parents=True, exist_ok=True)
    made.append(staged)
    return staged


def _bring_to_schema(url: str, manifest: Manifest, listing: dict[str, Held]) -> None:
    """Migrate the restored database to this release's schema and check it against the
    documents restored."""
    engine = make_engine(url)
    try:
        try:
            migrate(engine)      # a backup of an older release reaches the current schema
        except Exception as exc:
            raise BackupError(f"the backup's database cannot be opened or migrated ({exc}): "
                              "the backup is damaged") from None
        with engine.connect() as connection:
            _check_rows(connection, manifest, listing)
    finally:
        engine.dispose()


def _check_rows(connection, manifest: Manifest, listing: dict[str, Held]) -> None:
    """Every document the restored repository holds has its bytes restored (and each file
    restored its row), and every registry entry of those documents names the repository of the
    manifest's identity: an edited manifest or documents.tsv is refused."""
    from sqlalchemy import select

    from .tables import document_entries
    from .tables import repository_documents as held

    rows = {row.unique_id: row for row in connection.execute(
        select(held.c.unique_id, held.c.blob_key, held.c.size, held.c.hash)
        .where(held.c.state == "committed"))}
    without_bytes = sorted(set(rows) - set(listing))
    without_row = sorted(set(listing) - set(rows))
    if without_bytes or without_row:
        raise BackupError("the backup's database and documents.tsv disagree (documents "
                          f"registered without bytes: {', '.join(without_bytes[:5]) or 'none'}; "
                          f"bytes without a row: {', '.join(without_row[:5]) or 'none'}): the "
                          "backup is damaged")
    for unique_id, row in rows.items():
        document = listing[unique_id]
        if (row.blob_key, int(row.size), row.hash) != (document.key, document.size,
                                                       document.sha1):
            raise BackupError(f"document {unique_id}: documents.tsv and the database record "
                              "different bytes: the backup is damaged")
    ours = manifest.identity["repository_unique_id"]
    named = set(connection.execute(
        select(document_entries.c.repository_unique_id).distinct()
        .where(document_entries.c.unique_id.in_(select(held.c.unique_id)))).scalars())
    if named - {ours}:
        raise BackupError(f"the manifest's repositoryUniqueId {ours} is not the one its "
                          f"documents are registered under ({', '.join(sorted(named - {ours}))})"
                          ": the backup is damaged")


def _restore_postgresql(source: Path, url: str, manifest: Manifest,
                        listing: dict[str, Held]) -> None:
    """The schema at the backup's revision, its rows COPYed in, the current schema, the rows
    checked; on any failure every table this made is dropped again."""
    engine = make_engine(url)
    try:
        present = set(inspect(engine).get_table_names())
        if present & {t.name for t in metadata.sorted_tables} or "alembic_version" in present:
            raise BackupError("the database already holds xds-server tables: restore into an "
                              "empty database (or schema)")
        try:
            migrate_to(engine, manifest.revision)
            # the tables of the backup's revision (a later one may have added some: 0013)
            made = set(inspect(engine).get_table_names())
            with engine.begin() as connection:
                driver = connection.connection.driver_connection
                for name in (n for n in _table_names() if n in made):
                    with driver.cursor() as cursor, \
                            cursor.copy(f'COPY "{name}" FROM STDIN') as copy, \
                            open(source / "database" / f"{name}.copy", "rb") as handle:
                        while chunk := handle.read(1 << 20):
                            copy.write(chunk)
            migrate(engine)
            # after the migrations: a key column a later revision added (patients.patient_key,
            # 0011) is not in an older backup's schema
            with engine.begin() as connection:
                for name, column in _serials(engine):
                    connection.execute(text(
                        f"SELECT setval(pg_get_serial_sequence('{name}', '{column}'), "
                        f'COALESCE((SELECT MAX("{column}") FROM "{name}"), 0) + 1, false)'))
            with engine.connect() as connection:
                _check_rows(connection, manifest, listing)
        except BaseException as exc:
            _drop_made(engine, present)
            if isinstance(exc, BackupError | KeyboardInterrupt | SystemExit):
                raise
            raise BackupError(f"the backup's database cannot be loaded ({exc}): the backup is "
                              "damaged") from None
    finally:
        engine.dispose()


def _drop_made(engine: Engine, present: set[str]) -> None:
    """Drop the tables a refused restore made (none of them was there before it)."""
    made = set(inspect(engine).get_table_names()) - present
    with engine.begin() as connection:
        for name in made:
            connection.execute(text(f'DROP TABLE IF EXISTS "{name}" CASCADE'))


def _serials(engine: Engine) -> Iterator[tuple[str, str]]:
    for table in metadata.sorted_tables:
        for column in table.primary_key.columns:
            if column.autoincrement is True:
                yield table.name, column.name


def _restore_documents(source: Path, listing: dict[str, Held], root: Path, progress) -> None:
    """Copy each listed document into the (staged) store, checking its size and SHA-1 as it
    is copied; its mime type goes back into its extended attribute."""
    advance = progress(len(listing))
    store = FilesystemDocumentStore(root)
    store.ensure()
    for document in listing.values():
        key = document.key
        origin = source / "documents" / key[:2] / key[2:4] / key
        target = store.final_path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha1()
        try:
            with open(origin, "rb") as reader, open(target, "wb") as writer:
                while chunk := reader.read(1 << 20):
                    digest.update(chunk)
                    writer.write(chunk)
                writer.flush()
                if hasattr(os, "setxattr"):
                    with contextlib.suppress(OSError):
                        os.setxattr(writer.fileno(), MIME_TYPE_XATTR,
                                    document.mime_type.encode())
                os.fsync(writer.fileno())
        except FileNotFoundError:
            raise BackupError(f"{origin} (document {document.unique_id}) is missing: the "
                              "backup is damaged") from None
        if target.stat().st_size != document.size or digest.hexdigest() != document.sha1:
            raise BackupError(f"{origin} (document {document.unique_id}) is not the document "
                              "the backup recorded (size or SHA-1 differ): the backup is "
                              "damaged")
        advance(1)
