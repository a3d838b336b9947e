"""The facts the access decision reads (security/access.py): what the patient decided about a
caller and their record, and what a document carries. Plain values, so the store can return
them and a remote registry's answer can be read into them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RecordAccess:
    """What the patient decided about this caller and this record."""

    authorized: bool = False                  # an authorisation for this professional
    opposed_modes: frozenset[str] = frozenset()   # oppositions (security.access.OPPOSITIONS)


@dataclass(frozen=True)
class DocumentFacts:
    status: str
    visibility_codes: frozenset[str]          # codes of VISIBILITY_SYSTEM it carries
    author_ids: frozenset[str]                # national ids of its authors
