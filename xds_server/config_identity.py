"""The installation's identity (repositoryUniqueId, homeCommunityId), made once and kept
with the data, so a data directory moved or restored elsewhere answers for its documents under
the same ids."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

from .config_values import ConfigError


def oid_for(data_dir: Path, purpose: str) -> str:
    """The 2.25 (UUID-based, ISO/IEC 9834-8) OID a data directory gets on its first start, from
    its path (as every release before the identity file did, so an existing installation keeps
    the id its documents are registered under); kept in IDENTITY_FILE from then on."""
    name = f"xds-server:{purpose}:{data_dir.resolve()}"
    return "2.25." + str(uuid.uuid5(uuid.NAMESPACE_URL, name).int)


# The installation's identity, made once and kept with the data: a data directory moved or
# restored elsewhere answers for its documents under the same repositoryUniqueId.
IDENTITY_FILE = "identity.json"
IDENTITY = ("repository_unique_id", "home_community_id")


def read_identity(data_dir: Path) -> dict[str, str]:
    path = data_dir / IDENTITY_FILE
    if not path.is_file():
        return {}
    try:
        kept = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: unreadable ({exc}); it holds this installation's "
                          "repositoryUniqueId: restore it from a backup") from None
    if not isinstance(kept, dict) or not all(isinstance(kept.get(n), str) for n in IDENTITY):
        raise ConfigError(f"{path}: expected {', '.join(IDENTITY)}")
    return {name: kept[name] for name in IDENTITY}


def keep_identity(data_dir: Path, identity: dict[str, str]) -> None:
    """Write the identity file the first time a data directory is used (durably)."""
    if (data_dir / IDENTITY_FILE).exists():
        return
    data_dir.mkdir(parents=True, exist_ok=True)
    write_identity(data_dir, identity)


def write_identity(data_dir: Path, identity: dict[str, str]) -> None:
    path = data_dir / IDENTITY_FILE
    temporary = path.with_suffix(".tmp")
    try:
        with open(temporary, "w") as handle:
            json.dump({name: identity[name] for name in IDENTITY}, handle, indent=1)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except OSError as exc:      # said of the data directory, not of a temporary file's name
        raise ConfigError(f"the data directory {data_dir} cannot hold this installation "
                          f"({exc.strerror or exc}): give a directory this user may write "
                          "(--data-dir, XDS_DATA_DIR)") from None
