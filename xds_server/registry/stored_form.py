"""The registered form of an object: what a front makes of it when it is registered, kept by
the registry as opaque bytes and given back by queries untouched (so an answer returns what the
source sent, never re-derives it). The ebXML front's is its packed LeafClass XML
(ebxml/stored.py); app.py gives the registry the one it uses."""

from __future__ import annotations

from typing import Protocol

from ..model.metadata import Association, DocumentEntry, Folder, SubmissionSet
from ..model.registered import Record


class StoredForm(Protocol):
    def registered(self, obj: DocumentEntry | SubmissionSet | Folder | Association) -> bytes:
        """The form kept with a newly registered object (Approved, as every new object is)."""
        ...

    def with_patient(self, stored: bytes, patient_id: str) -> bytes:
        """The form of a registered object moved to another patient (a merge)."""
        ...

    def model_object(self, record: Record) -> DocumentEntry | SubmissionSet | Folder | Association:
        """A registered object as a model object again, as the registry stored it (what an
        update by the patient is compared with: registry/update_rights.py)."""
        ...
