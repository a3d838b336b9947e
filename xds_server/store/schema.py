"""Bring a database to the current schema with Alembic (run once, before workers start)."""

from __future__ import annotations

from importlib import resources

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location",
                           str(resources.files("xds_server.store") / "migrations"))
    return config


def migrate(engine: Engine) -> None:
    """Upgrade to head inside one transaction."""
    config = _config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def migrate_to(engine: Engine, revision: str) -> None:
    """Create the schema as it was at `revision` (a restore loads rows of that schema)."""
    config = _config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def is_known_revision(revision: str) -> bool:
    """Whether this release's migrations hold `revision` (a backup of a newer release does
    not: its rows would not fit this schema)."""
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory.from_config(_config())
    return revision in {script.revision for script in scripts.walk_revisions()}
