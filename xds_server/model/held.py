"""The repository's own record of a document it holds, by documentUniqueId (how ITI-43 asks)."""

from __future__ import annotations

from dataclasses import dataclass

PENDING = "pending"        # stored, while a remote registry is being asked
COMMITTED = "committed"    # registered


@dataclass(frozen=True, slots=True)
class HeldDocument:
    unique_id: str
    key: str                 # the document store's name for it (StagedDocument.key)
    size: int
    hash: str                # SHA-1, hex
    mime_type: str
    state: str = COMMITTED
