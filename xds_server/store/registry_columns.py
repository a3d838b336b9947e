"""Where each registered object's attributes live in the registry's tables, as tables the store
reads in both directions (as ebxml/fields.py does for the wire).

Writing: one row per column, the value taken from the model object (DocumentEntry,
SubmissionSet, Folder, Association); what the registration itself decides (the patient key,
the status, the registration order, the registered form, the submission set of a document) is
added by registry_store.insert. Multi-valued attributes go to a value list column of the same
row, one per kind (VALUE_COLUMNS). Reading: the columns of each record type, in its fields'
order (model/registered.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from operator import attrgetter
from typing import Any

from ..model import vocabulary as v
from ..model.hl7 import dtm_key
from ..model.metadata import Code
from ..model.vocabulary import VISIBILITY_SYSTEM

Column = tuple[str, Callable[[Any], object]]


def _code(attribute: str) -> tuple[Column, Column]:
    """A coded attribute's two columns: `<prefix>_code` and `<prefix>_scheme`."""
    get = attrgetter(attribute)

    def code(obj: Any) -> str | None:
        value: Code | None = get(obj)
        return value.code if value else None

    def scheme(obj: Any) -> str | None:
        value: Code | None = get(obj)
        return value.scheme if value else None

    return code, scheme


def _dtm(attribute: str) -> Callable[[Any], str | None]:
    """A timestamp as a 14-digit key that orders any precision."""
    get = attrgetter(attribute)
    return lambda obj: dtm_key(value) if (value := get(obj)) else None


def _coded(prefix: str, attribute: str) -> list[Column]:
    code, scheme = _code(attribute)
    return [(f"{prefix}_code", code), (f"{prefix}_scheme", scheme)]


def _author_ids(obj: Any) -> str:
    return " ".join(a.person.split("^", 1)[0] for a in obj.authors if a.person)


def _visibility_codes(document: Any) -> str:
    return " ".join(c.code for c in document.confidentiality_codes
                    if c.scheme == VISIBILITY_SYSTEM)


DOCUMENT_COLUMNS: tuple[Column, ...] = (
    ("entry_uuid", attrgetter("entry_uuid")),
    ("unique_id", attrgetter("unique_id")),
    ("logical_id", attrgetter("logical_id")),
    ("version", attrgetter("version")),
    ("object_type", attrgetter("object_type")),
    ("creation_time", _dtm("creation_time")),
    ("service_start_time", _dtm("service_start_time")),
    ("service_stop_time", _dtm("service_stop_time")),
    ("repository_unique_id", attrgetter("repository_unique_id")),
    ("hash", lambda d: (d.hash or "").lower() or None),
    ("size", lambda d: int(d.size) if d.size else None),
    ("mime_type", attrgetter("mime_type")),
    *_coded("class", "class_code"),
    *_coded("type", "type_code"),
    *_coded("format", "format_code"),
    *_coded("facility", "healthcare_facility_type_code"),
    *_coded("practice", "practice_setting_code"),
    # what the access policy reads on every authenticated query, kept beside the row
    ("visibility_codes", _visibility_codes),
    ("author_ids", _author_ids),
)
SUBMISSION_SET_COLUMNS: tuple[Column, ...] = (
    ("entry_uuid", attrgetter("entry_uuid")),
    ("unique_id", attrgetter("unique_id")),
    ("source_id", attrgetter("source_id")),
    ("submission_time", lambda s: dtm_key(s.submission_time or "")),
    *_coded("content_type", "content_type_code"),
)
FOLDER_COLUMNS: tuple[Column, ...] = (
    ("entry_uuid", attrgetter("entry_uuid")),
    ("unique_id", attrgetter("unique_id")),
    ("logical_id", attrgetter("logical_id")),
    ("version", attrgetter("version")),
    ("last_update_time", attrgetter("last_update_time")),
)
ASSOCIATION_COLUMNS: tuple[Column, ...] = (
    ("entry_uuid", attrgetter("entry_uuid")),
    ("type", attrgetter("type")),
    ("source", attrgetter("source")),
    ("target", attrgetter("target")),
)

# multi-valued attributes: kind → the (value, scheme) pairs of an object
Values = Callable[[Any], Iterable[tuple[str, str]]]


def _persons(obj: Any) -> Iterable[tuple[str, str]]:
    return [(a.person, "") for a in obj.authors if a.person]


def _codes(attribute: str) -> Values:
    get = attrgetter(attribute)
    return lambda obj: [(c.code, c.scheme) for c in get(obj)]


DOCUMENT_VALUES: tuple[tuple[str, Values], ...] = (
    ("author_person", _persons),
    ("event_code", _codes("event_codes")),
    ("confidentiality_code", _codes("confidentiality_codes")),
    ("reference_id", lambda d: [(r, "") for r in d.reference_ids]),
)
SUBMISSION_SET_VALUES: tuple[tuple[str, Values], ...] = (("author_person", _persons),)
FOLDER_VALUES: tuple[tuple[str, Values], ...] = (("folder_code", _codes("codes")),)
MAX_VALUE = 512       # a value's length as kept (longer ones are cut)

# Each kind's column (in its object's table) and whether its values carry a scheme. Until 0010
# these were rows of an object_values table, whose key over every column was wider than the
# rows (1.7 KB an entry with its index); in the row they cost ~0.1 KB and a filter reads them
# in the row it already reads.
VALUE_COLUMNS: dict[str, str] = {"author_person": "author_persons", "event_code": "event_codes",
                                 "confidentiality_code": "confidentiality_codes",
                                 "reference_id": "reference_ids", "folder_code": "codes"}
SCHEMED = frozenset({"event_code", "confidentiality_code", "folder_code"})
# between a code and its scheme: a control character XML 1.0 text cannot hold
SEPARATOR = "\x1f"


def value_list(kind: str, pairs: Iterable[tuple[str, str]]) -> list[str] | None:
    """A kind's distinct values as its column keeps them (`code<US>scheme` for coded kinds),
    in the order given; None for none."""
    values = dict.fromkeys(value[:MAX_VALUE] + (SEPARATOR + (scheme or "")
                                                if kind in SCHEMED else "")
                           for value, scheme in pairs)
    return list(values) or None

# Closed vocabularies kept as small codes (store/keys.py, migration 0011). A code, once written,
# means its value for good: add new values at the end, never renumber (0011 writes these codes,
# and its downgrade reads them, as they are on the day of the migration).
STATUS_CODES: dict[str, int] = {v.APPROVED: 1, v.DEPRECATED: 2, v.SUBMITTED: 3,
                                v.CISIS_ARCHIVED: 4, v.CISIS_DELETED: 5}
OBJECT_TYPE_CODES: dict[str, int] = {v.DOC_STABLE: 1, v.DOC_ON_DEMAND: 2}
KIND_CODES: dict[str, int] = {"document": 1, "submission_set": 2, "folder": 3,
                              "association": 4}
# the association types a registration or an update can write (ITI TF-3 Table 4.2.2-1, the MU
# supplement's SubmitAssociation), and the IsSnapshotOf URN written before it followed the table
# (read as written)
ASSOCIATION_TYPE_CODES: dict[str, int] = {
    v.HAS_MEMBER: 1, v.RPLC: 2, v.APND: 3, v.XFRM: 4, v.XFRM_RPLC: 5, v.SIGNS: 6,
    v.IS_SNAPSHOT_OF: 7, v.UPDATE_AVAILABILITY_STATUS: 8, v.SUBMIT_ASSOCIATION: 9,
    "urn:ihe:iti:2007:AssociationType:isSnapshotOf": 10}

# Reading: each record's columns in its fields' order; `xml` holds the registered form.
READ_COLUMNS: dict[str, tuple[str, ...]] = {
    "document": ("patient_id", "entry_uuid", "status", "xml", "object_type", "unique_id",
                 "logical_id", "version", "hash", "size", "repository_unique_id", "class_code",
                 "visibility_codes", "author_ids"),
    "submission_set": ("patient_id", "entry_uuid", "status", "xml", "unique_id"),
    "folder": ("patient_id", "entry_uuid", "status", "xml", "unique_id", "logical_id",
               "version", "last_update_time"),
    "association": ("patient_id", "entry_uuid", "status", "xml", "type", "source", "target"),
}
