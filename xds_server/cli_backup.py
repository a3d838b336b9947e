"""`xds-server backup` and `xds-server restore`: a consistent copy of a running installation
(database, documents with their mime types, the ANS kit, the repository's identity), and its
restoration into an empty data directory, on this host or another (store/backup.py)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import click

from . import __version__
from .cli_errors import Unusable
from .cli_settings import command_settings as _settings
from .cli_streams import done


@contextlib.contextmanager
def _bars(label: str) -> Iterator:
    """A progress(total) factory for the store's functions, closing every bar it opened."""
    from .cli_progress import Progress

    opened: list[Progress] = []

    def start(total: int | None):
        bar = Progress(total, label, "document")
        opened.append(bar)
        return bar.advance

    try:
        yield start
    finally:
        for bar in opened:
            bar.close()


@click.command()
@click.option("--out", required=True, type=click.Path(file_okay=False),
              callback=lambda c, p, v: _directory(c, p, v),
              help="a new or empty directory for the backup")
@click.option("--data-dir", type=click.Path(file_okay=False),
              help="the installation's data directory (XDS_DATA_DIR)")
@click.pass_context
def backup(ctx: click.Context, out: Path, data_dir: str | None) -> None:
    """Copy the installation while it runs: the database as of one moment, the documents
    committed in it, the installed kit and the repositoryUniqueId."""
    from .config_identity import IDENTITY
    from .store.backup import BackupError
    from .store.backup import backup as take

    settings = _settings(ctx, data_dir=data_dir)
    if not settings.data_dir.is_dir():
        raise Unusable(f"no data directory {settings.data_dir}: give --data-dir or "
                       "XDS_DATA_DIR of the installation")
    identity = {name: getattr(settings, name) for name in IDENTITY}
    try:
        with _bars("backing up") as bars:
            manifest = take(settings.database_url, settings.blob_dir, settings.kit_dir, out,
                            identity, __version__, bars)
    except BackupError as exc:
        raise Unusable(str(exc)) from None
    done(f"backup in {out}: {manifest.documents} documents ({manifest.bytes} bytes), "
               f"{manifest.database} database at schema {manifest.revision}, kit "
               f"{manifest.kit.get('sha256', 'none')}, repository "
               f"{identity['repository_unique_id']}")
    if manifest.removed_during_backup:
        click.echo(f"removed (ITI-86) while the backup ran, left out: "
                   f"{', '.join(manifest.removed_during_backup)}")


@click.command()
@click.argument("source", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--data-dir", type=click.Path(file_okay=False),
              help="the new installation's data directory (XDS_DATA_DIR): new or empty")
@click.pass_context
def restore(ctx: click.Context, source: Path, data_dir: str | None) -> None:
    """Restore a backup into an empty data directory (and an empty database with
    XDS_DATABASE_URL); the documents are served under the backup's repositoryUniqueId."""
    from .config_identity import IDENTITY, write_identity
    from .store.backup_format import BackupError, Manifest
    from .store.restore import restore as bring_back

    settings = _settings(ctx, data_dir=data_dir)
    target = settings.data_dir
    if target.exists() and any(target.iterdir()):
        raise Unusable(f"the data directory {target} is not empty: restore into a new or empty "
                       "one (--data-dir)")
    try:
        kept = Manifest.read(source).identity
    except BackupError as exc:
        raise Unusable(str(exc)) from None
    for name in IDENTITY:
        if settings.sources.get(name) not in (None, "derived") and \
                getattr(settings, name) != kept[name]:
            raise Unusable(f"{name} is set to {getattr(settings, name)} "
                           f"({settings.sources[name]}) but the backup's documents are "
                           f"registered under {kept[name]}: unset it")
    _check_room(source, target, settings.min_free_bytes)
    created = not target.exists()
    target.mkdir(parents=True, exist_ok=True)
    try:
        with _bars("restoring") as bars:
            manifest = bring_back(source, settings.database_url, settings.blob_dir,
                                  settings.kit_dir, bars)
        write_identity(target, manifest.identity)
    except BaseException as exc:
        if created:            # a refused restore leaves the target as it found it
            with contextlib.suppress(OSError):
                target.rmdir()
        if isinstance(exc, BackupError):
            raise Unusable(str(exc)) from None
        if isinstance(exc, OSError):    # named the backup's file, not the disk that filled
            raise Unusable(f"cannot restore into {target}: {exc.strerror or exc}; nothing "
                           "was left there") from None
        raise
    done(f"restored {manifest.documents} documents of {manifest.created_at} into "
               f"{target}, repository {manifest.identity['repository_unique_id']}; start it "
               "with `xds-server serve`")


def _check_room(source: Path, target: Path, min_free: int) -> None:
    """Refuse a restore that would leave less than XDS_MIN_FREE_BYTES on the target's disk: it
    succeeded, said 'start it with serve', and `serve` then refused to start for want of room."""
    import shutil

    size = sum(path.stat().st_size for path in source.rglob("*") if path.is_file())
    existing = target
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    free = shutil.disk_usage(existing).free
    if free - size < min_free:
        raise Unusable(f"cannot restore into {target}: the backup holds {size} bytes and "
                       f"{free} are free there, less than the {min_free} bytes the server "
                       "keeps free (XDS_MIN_FREE_BYTES): free space first or restore elsewhere")


def _directory(ctx: click.Context, param: click.Parameter, value: str) -> Path:
    """--out as a Path; given empty, a usage error (click's Path made '' the current
    directory, and the backup went there)."""
    from .cli_options import not_empty

    not_empty(ctx, param, value)
    return Path(value)
