"""What the registry holds, as its store returns it: each registered object's attributes that the
registry's rules and the access decision read, and its registered form, opaque.

`stored` is the object as the front that registered it wrote it (for ebXML, its LeafClass XML,
packed: ebxml/stored.py), returned as registered so an answer never re-derives what a source
sent; the registry never looks inside. It is None when a query did not read it (ObjectRef).
`visibility_codes` and `author_ids` are the document's access facts (model/facts.py), None when
the store did not read them (lean Find* records).

Named tuples: a FindDocuments answer builds twenty of them per request, and a tuple is the
cheapest object that names its fields.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from .facts import RecordAccess
from .vocabulary import DOC_STABLE


def version_number(version: str | None) -> int:
    """A version's number: the registry writes 1, 2, 3…; registrations before outside round
    19d kept a submitted VersionInfo (ebRIM's default "1.1"), which int() refused with a 500
    on every later ITI-57 of that document. Such a version counts by its leading digits."""
    digits = (version or "1").split(".", 1)[0].strip()
    return int(digits) if digits.isascii() and digits.isdigit() else 1


class IndexEntry(NamedTuple):
    """Where an object is: the narrow index of every object by entryUUID and uniqueId."""

    entry_uuid: str
    unique_id: str | None
    kind: str                   # document, submission_set, folder, association
    patient_id: str


class DocumentRecord(NamedTuple):
    patient_id: str
    entry_uuid: str
    status: str
    stored: bytes | None = None
    object_type: str = DOC_STABLE
    unique_id: str | None = None
    logical_id: str | None = None
    version: str | None = None
    hash: str | None = None
    size: int | None = None
    repository_unique_id: str | None = None
    class_code: str | None = None
    visibility_codes: frozenset[str] | None = None
    author_ids: frozenset[str] | None = None


class SubmissionSetRecord(NamedTuple):
    patient_id: str
    entry_uuid: str
    status: str
    stored: bytes | None = None
    unique_id: str | None = None


class FolderRecord(NamedTuple):
    patient_id: str
    entry_uuid: str
    status: str
    stored: bytes | None = None
    unique_id: str | None = None
    logical_id: str | None = None
    version: str | None = None
    last_update_time: str | None = None


class AssociationRecord(NamedTuple):
    patient_id: str
    entry_uuid: str
    status: str
    stored: bytes | None = None
    type: str = ""
    source: str = ""
    target: str = ""


Record = DocumentRecord | SubmissionSetRecord | FolderRecord | AssociationRecord
RECORD_KINDS: dict[str, type] = {"document": DocumentRecord,
                                 "submission_set": SubmissionSetRecord,
                                 "folder": FolderRecord, "association": AssociationRecord}


@dataclass
class QueryResult:
    """What a stored query found: the objects by kind, in registration order, and, when the
    store read them with the documents, the record's facts for the reader (what the patient
    decided about them: model/facts.py), and which of its Deprecated documents have a later
    version (the level 1 answer leaves those out: registry/query_versions.py), or None when
    that was not read with them."""

    documents: list[DocumentRecord] = field(default_factory=list)
    submission_sets: list[SubmissionSetRecord] = field(default_factory=list)
    folders: list[FolderRecord] = field(default_factory=list)
    associations: list[AssociationRecord] = field(default_factory=list)
    access: RecordAccess | None = None
    superseded: set[str] | None = None

    @property
    def count(self) -> int:
        return (len(self.documents) + len(self.submission_sets) + len(self.folders)
                + len(self.associations))

    def patients(self) -> set[str]:
        return {record.patient_id for records in (self.documents, self.submission_sets,
                                                  self.folders, self.associations)
                for record in records}

    def by_kind(self) -> tuple[tuple[str, list], ...]:
        """(kind, records) in the order an answer lists them."""
        return (("document", self.documents), ("submission_set", self.submission_sets),
                ("folder", self.folders), ("association", self.associations))
