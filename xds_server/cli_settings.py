"""The settings a CLI command runs with: file, environment, then its own options."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from .cli_errors import Unusable
from .config import ConfigError, Settings, load_settings
from .config import http_url_problem as http_url_problem  # the URL rule, for cli_client


def command_settings(ctx: click.Context, **overrides: Any) -> Settings:
    """Options left unset (None) fall back to the file and the environment."""
    try:
        return load_settings(overrides, config_file=(ctx.obj or {}).get("config_file"))
    except ConfigError as exc:
        raise Unusable(f"configuration: {exc} (`xds-server config` shows every setting and "
                       "its source)") from None


def database_file(settings: Settings) -> Path | None:
    from sqlalchemy.engine import make_url

    url = make_url(settings.database_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database)


def installed(settings: Settings) -> bool:
    """With SQLite, its database file exists; with a server database, it holds the schema (its
    migrations' table). A database that cannot be reached raises the driver's error (the CLI
    says 'the database cannot be used')."""
    database = database_file(settings)
    if database is not None:
        return database.is_file()
    from sqlalchemy import create_engine, inspect

    from .store.database import connect_timeout

    # a look only: no pool, no driver settings but the connection's time limit
    engine = create_engine(settings.database_url,
                           connect_args=connect_timeout(settings.database_url))
    try:
        with engine.connect() as connection:
            return inspect(connection).has_table("alembic_version")
    finally:
        engine.dispose()


def require_installation(settings: Settings) -> None:
    """Unusable unless the data directory (or the server database) holds an installation: a
    read command run from the wrong directory (or given a wrong --data-dir, or a database URL
    with a typo) made an empty one there and answered from it. One rule on both databases: a
    read never installs a schema."""
    if installed(settings):
        return
    if database_file(settings) is None:
        from .config import redact_url

        where = redact_url(settings.database_url)
        raise Unusable(f"no installation in the database {where} (it holds no xds-server "
                       "schema): check XDS_DATABASE_URL, or create it with `xds-server db "
                       "upgrade` (or by starting `serve` on it)")
    raise Unusable(f"no installation in {settings.data_dir.resolve()} (no "
                   f"{database_file(settings) or 'data directory'}): give its "
                   "--data-dir or XDS_DATA_DIR, or create it with `xds-server db "
                   "upgrade --data-dir DIR` (or by starting `serve` there)")
