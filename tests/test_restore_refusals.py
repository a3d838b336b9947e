"""A restore is all or nothing (issue 18, M2/M3): a backup damaged in any of its parts (a
document's bytes, a missing document, documents.tsv cut or gone, the database garbage or cut
short, a manifest of a newer release, an edited identity, an unreadable manifest) is refused
before the target changes, the target is left as it was, and a good backup restores into it
afterwards. Old backups (no checksums in their manifest) are held to the same row checks."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from xds_server.store.backup import BackupError, backup
from xds_server.store.restore import restore

from .conftest import database_for
from .registry_data import single_document_submission
from .test_repository import provide


def _manifest(directory: Path) -> dict:
    return json.loads((directory / "manifest.json").read_text())


def _edit_manifest(directory: Path, change: Callable[[dict], None]) -> None:
    data = _manifest(directory)
    change(data)
    (directory / "manifest.json").write_text(json.dumps(data))


def _first_document(directory: Path) -> Path:
    return sorted((directory / "documents").glob("??/??/*"))[0]


def _database_file(directory: Path) -> Path:
    files = sorted((directory / "database").iterdir(), key=lambda p: p.stat().st_size)
    return files[-1]


def _flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def _no_checksums(directory: Path) -> None:
    """As a backup of the release before checksums (format 1)."""
    _edit_manifest(directory, lambda data: (data.pop("checksums"), data.update(format=1)))


def _first_tsv_line_gone(directory: Path) -> None:
    tsv = directory / "documents.tsv"
    tsv.write_text("".join(tsv.read_text().splitlines(keepends=True)[1:]))


DAMAGES: dict[str, tuple[Callable[[Path], None], str]] = {
    "document byte": (lambda d: _flip_a_byte(_first_document(d)), "damaged"),
    "document missing": (lambda d: _first_document(d).unlink(), "damaged"),
    "documents.tsv missing": (lambda d: (d / "documents.tsv").unlink(), "damaged"),
    "documents.tsv line": (_first_tsv_line_gone, "damaged"),
    "database garbage": (lambda d: _database_file(d).write_bytes(b"garbage" * 100), "damaged"),
    "database truncated": (lambda d: os.truncate(_database_file(d), 1000), "damaged"),
    "newer revision": (lambda d: _edit_manifest(d, lambda m: m.update(revision="0099")),
                       "not one this release knows"),
    "identity edited": (lambda d: _edit_manifest(d, lambda m: m["identity"].update(
        repository_unique_id="1.2.3.999")), "registered under"),
    "manifest not JSON": (lambda d: (d / "manifest.json").write_text("{not json"), "damaged"),
    "manifest field gone": (lambda d: _edit_manifest(d, lambda m: m.pop("identity")),
                            "damaged"),
    # a backup of this format without its checksums (its database then unchecked)
    "checksums removed": (lambda d: _edit_manifest(d, lambda m: m.pop("checksums")),
                          "has no checksums"),
    "checksums emptied": (lambda d: _edit_manifest(d, lambda m: m.update(checksums={})),
                          "has no checksums"),
    # an old backup has no checksums: its rows are checked against its listing all the same
    "old backup, documents.tsv line": (lambda d: (_no_checksums(d), _first_tsv_line_gone(d)),
                                       "registered without bytes"),
    "old backup, document byte": (lambda d: (_no_checksums(d), _flip_a_byte(
        _first_document(d))), "damaged"),
}


@pytest.fixture
def made_backup(app, patient, tmp_path) -> Path:
    """A backup of an installation holding three registered documents."""
    for number in range(3):
        submission = single_document_submission(patient, hash=None, size=None,
                                                repository_unique_id=None,
                                                mime_type="application/pdf")
        data = f"%PDF-1.4 document {number}\n".encode() * 50
        assert provide(app, submission, {"Document01": data})[0] == "Success"
    identity = {"repository_unique_id": app.settings.repository_unique_id,
                "home_community_id": "urn:oid:1.2.3"}
    out = tmp_path / "backup"
    manifest = backup(app.settings.database_url, app.settings.blob_dir, tmp_path / "no-kit",
                      out, identity, "test")
    assert manifest.documents == 3 and set(manifest.checksums) >= {"documents.tsv"}
    return out


def _state(directory: Path) -> list[str]:
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*")) \
        if directory.exists() else ["(absent)"]


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_a_damaged_backup_is_refused_and_the_target_left_as_it_was(made_backup, database_url,
                                                                   tmp_path, damage):
    kind = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    damaged = tmp_path / "damaged"
    shutil.copytree(made_backup, damaged)
    change, reason = DAMAGES[damage]
    change(damaged)
    target = tmp_path / "target"
    target.mkdir()
    with database_for(kind, target) as url:
        before = _state(target)
        with pytest.raises(BackupError, match=reason):
            restore(damaged, url, target / "documents", target / "kit")
        assert _state(target) == before
        if kind == "postgresql":
            from sqlalchemy import inspect

            from xds_server.store.database import make_engine

            engine = make_engine(url)
            assert inspect(engine).get_table_names() == []       # what it made, dropped
            engine.dispose()
        manifest = restore(made_backup, url, target / "documents", target / "kit")  # retried
        assert manifest.documents == 3


@pytest.mark.http
def test_the_cli_refuses_a_damaged_backup_and_creates_nothing(made_backup, database_url,
                                                              tmp_path):
    """Through `xds-server restore`: exit 2, one line naming the damage, no data directory
    left behind (a retry is not told 'not empty')."""
    kind = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    damaged = tmp_path / "damaged"
    shutil.copytree(made_backup, damaged)
    _flip_a_byte(_first_document(damaged))
    target = tmp_path / "new-site"
    child = {k: v for k, v in os.environ.items() if not k.startswith("XDS_")}
    with database_for(kind, tmp_path / "scratch") as url:
        if kind == "postgresql":
            child["XDS_DATABASE_URL"] = url

        def restore_from(source: Path) -> subprocess.CompletedProcess:
            return subprocess.run([sys.executable, "-m", "xds_server.cli", "restore",
                                   str(source), "--data-dir", str(target)],
                                  capture_output=True, text=True, env=child, timeout=120)

        done = restore_from(damaged)
        assert done.returncode == 2 and "damaged" in done.stderr, done.stderr
        assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
        assert not target.exists()
        again = restore_from(made_backup)
        assert again.returncode == 0, again.stderr
