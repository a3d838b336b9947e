"""Restoring a backup (backup.py makes it, backup_format.py is its layout).

A restore is all or nothing: everything is checked, then brought in under temporary names next
to its final place (the database file, the document store, the kit) or, on PostgreSQL, into
tables dropped again on any refusal; only a restore that passed every check is renamed into
place. A refused restore leaves the target as it was, so it can be retried.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

from sqlalchemy import Engine, inspect, text

from .backup_format import (
    BackupError,
    Held,
    Manifest,
    Progress,
    database_kind,
    empty_dir,
    sha256,
    sqlite_path,
    table_names,
)
from .database import make_engine
from .documents import MIME_TYPE_XATTR, FilesystemDocumentStore
from .schema import migrate, migrate_to
from .tables import metadata

RESTORING = ".restoring"


def restore(source: Path, database_url: str, documents_root: Path, kit_dir: Path,
            progress: Callable[[int | None], Progress] = lambda total: lambda n: None
            ) -> Manifest:
    """Bring a backup into an empty installation (database and document store), then to the
    current schema. The caller writes the identity (repositoryUniqueId) kept in the manifest."""
    manifest = verify_manifest(source)
    dialect = database_kind(database_url)
    if dialect != manifest.database:
        raise BackupError(f"the backup is of a {manifest.database} database and "
                          f"XDS_DATABASE_URL is {dialect}: restore into the same kind")
    empty_dir(documents_root, "the document store")
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
            target = sqlite_path(database_url)
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
        if checksum and sha256(path) != checksum:
            raise BackupError(f"{path} is not the file the backup wrote (its SHA-256 differs): "
                              "the backup is damaged")
    return manifest


def _expected_files(manifest: Manifest) -> list[str]:
    if manifest.database == "sqlite":
        return ["documents.tsv", "database/registry.sqlite3"]
    return ["documents.tsv", *(f"database/{name}.copy" for name in table_names())]


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
                for name in (n for n in table_names() if n in made):
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
