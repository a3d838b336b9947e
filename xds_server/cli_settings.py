"""The settings a CLI command runs with: file, environment, then its own options."""

from __future__ import annotations

from typing import Any

import click

from .cli_errors import Unusable
from .config import ConfigError, Settings, load_settings


def command_settings(ctx: click.Context, **overrides: Any) -> Settings:
    """Options left unset (None) fall back to the file and the environment."""
    try:
        return load_settings(overrides, config_file=(ctx.obj or {}).get("config_file"))
    except ConfigError as exc:
        raise Unusable(f"configuration: {exc} (`xds-server config` shows every setting and "
                       "its source)") from None
