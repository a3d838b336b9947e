"""The backup directory's format, shared by taking a backup (backup.py) and restoring one
(restore.py).

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

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import make_url

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
        write_durably(directory / MANIFEST, json.dumps(self.__dict__, indent=1).encode())

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


def write_durably(path: Path, data: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def empty_dir(path: Path, what: str) -> None:
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise BackupError(f"{what} {path} is not empty: give a new or empty directory")


def database_kind(url: str) -> str:
    return make_url(url).get_backend_name()


def sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupError(f"{url}: an in-memory database cannot be backed up")
    return Path(database)


def checked_files(directory: Path) -> list[str]:
    """The backup's files a manifest checksum covers (documents have their own SHA-1)."""
    return ["documents.tsv", *sorted(str(p.relative_to(directory))
                                     for p in (directory / "database").iterdir())]


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def table_names() -> list[str]:
    return [table.name for table in metadata.sorted_tables]
