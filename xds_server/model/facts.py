"""The facts the access decision reads (security/access.py): what the patient decided about a
caller and their record, and what a document carries. Plain values the store returns (a
registered document's record carries its facts: model/registered.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class RecordAccess:
    """What the patient decided about this caller and this record."""

    authorized: bool = False                  # an authorisation for this professional
    opposed_modes: frozenset[str] = frozenset()   # oppositions (security.access.OPPOSITIONS)


class DocumentFacts(Protocol):
    @property
    def status(self) -> str: ...

    @property
    def visibility_codes(self) -> frozenset[str] | None:
        """The codes of VISIBILITY_SYSTEM it carries."""
        ...

    @property
    def author_ids(self) -> frozenset[str] | None:
        """The national ids of its authors."""
        ...
