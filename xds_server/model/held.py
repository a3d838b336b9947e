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
    # who stored it (ITI-41): the registry's patient key, the submitter's national id and
    # organisation, the submission set's sourceId. ITI-86 decides on these, not on registry
    # metadata, which ITI-62 has removed by then (IHE RMD: metadata first, then the bytes).
    # Empty on a row stored before migration 0012: an administrator's alone to remove.
    patient_id: str = ""
    submitter: str = ""
    organisation: str = ""
    source_id: str = ""
    # the authors' national ids of the entry stored, space-separated (migration 0014): an
    # author may remove the registry entries (ITI-62), so the bytes too. Empty if unknown.
    authors: str = ""

    def is_author(self, subject_id: str) -> bool:
        return bool(subject_id) and subject_id in self.authors.split()
