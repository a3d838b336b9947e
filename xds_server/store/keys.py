"""How the registry keeps its identifiers and closed vocabularies in its rows (migration 0011).

An entryUUID is `urn:uuid:` and 36 characters (46 bytes in PostgreSQL with its length byte);
it is kept as the UUID's 16 bytes (17 with the length byte), in every row and in every index
that names it (a primary key, an association's ends, a logical id). Anything else a column of
this kind may receive (an uppercase GUID some sources send, an association id a source made
up: only the entryUUIDs of documents, submission sets and folders are checked to be UUIDs) is
kept as its exact text, in the same column, so every key stays one column and every lookup
stays one comparison:

    canonical `urn:uuid:` + lowercase UUID  →  its 16 bytes
    any other text                          →  its UTF-8 bytes, + 0xFF when that makes 16

No UTF-8 text contains the byte 0xFF, so the two forms never meet: each text has one stored
form and comes back exactly as registered (an uppercase GUID stays uppercase and is found by
its own text, as before). bytea rather than PostgreSQL `uuid`: one column holds both forms
(with `uuid`, a text that is not one needs a second column and a second condition in every
query); the byte it costs more (17 against 16) disappears in the 8-byte alignment of index
tuples.

Availability statuses, document entry types, association types and index kinds are small codes
through the tables of registry_columns.py (STATUS_CODES...): a status was 49-53 bytes in every
row and in each table's status index, an association type 37-57 in every association row.

A document's hash (SHA-1, 40 lowercase hex characters as the registry keeps it) is kept as its
20 bytes (0013), by the same rule as an identifier: any other text as its UTF-8 bytes, + 0xFF
when that makes 20.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping

from sqlalchemy import LargeBinary, SmallInteger
from sqlalchemy.types import TypeDecorator

from .registry_columns import (
    ASSOCIATION_TYPE_CODES,
    KIND_CODES,
    OBJECT_TYPE_CODES,
    STATUS_CODES,
)

_CANONICAL = re.compile(r"urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_NOT_UTF8 = b"\xff"


def pack_id(text: str) -> bytes:
    """An identifier's stored form (see the module's docstring)."""
    if len(text) == 45 and _CANONICAL.fullmatch(text):
        return bytes.fromhex(text[9:].replace("-", ""))
    raw = text.encode()
    return raw + _NOT_UTF8 if len(raw) == 16 else raw


def unpack_id(raw: bytes) -> str:
    if len(raw) == 16:
        h = raw.hex()
        return f"urn:uuid:{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
    raw = bytes(raw)
    return (raw[:-1] if raw.endswith(_NOT_UTF8) else raw).decode()


_HEX_DIGEST = re.compile(r"[0-9a-f]{40}")


def pack_digest(text: str) -> bytes:
    """A hash's stored form (see the module's docstring)."""
    if len(text) == 40 and _HEX_DIGEST.fullmatch(text):
        return bytes.fromhex(text)
    raw = text.encode()
    return raw + _NOT_UTF8 if len(raw) == 20 else raw


def unpack_digest(raw: bytes) -> str:
    if len(raw) == 20:
        return raw.hex()
    raw = bytes(raw)
    return (raw[:-1] if raw.endswith(_NOT_UTF8) else raw).decode()


class Digest(TypeDecorator):
    """A column holding a hash in its stored form; speaks text to SQLAlchemy."""

    impl = LargeBinary
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return None if value is None else pack_digest(value)

    def process_result_value(self, value, dialect):
        return None if value is None else unpack_digest(value)


class EntryId(TypeDecorator):
    """A column holding an identifier in its stored form; speaks text to SQLAlchemy."""

    impl = LargeBinary
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return None if value is None else pack_id(value)

    def process_result_value(self, value, dialect):
        return None if value is None else unpack_id(value)


class Coded(TypeDecorator):
    """A closed vocabulary kept as small integer codes (a table of registry_columns.py); a
    value outside it cannot be written (the registry's rules admit only the table's values)."""

    impl = SmallInteger
    cache_ok = True

    def __init__(self, codes: Mapping[str, int]) -> None:
        super().__init__()
        self.codes = dict(codes)
        self.names = {code: name for name, code in codes.items()}

    def process_bind_param(self, value, dialect):
        return None if value is None else self.codes[value]

    def process_result_value(self, value, dialect):
        return None if value is None else self.names[value]


STATUS = Coded(STATUS_CODES)
OBJECT_TYPE = Coded(OBJECT_TYPE_CODES)
KIND = Coded(KIND_CODES)
ASSOCIATION_TYPE = Coded(ASSOCIATION_TYPE_CODES)

# --- for the SQL written as text (registry_store, queries): parameters and rows by hand ----------

_NAMES = {"status": STATUS.names, "object_type": OBJECT_TYPE.names, "kind": KIND.names,
          "type": ASSOCIATION_TYPE.names}
_CODES = {"status": STATUS_CODES, "object_type": OBJECT_TYPE_CODES, "kind": KIND_CODES,
          "type": ASSOCIATION_TYPE_CODES}
IDENTIFIERS = frozenset({"entry_uuid", "logical_id", "source", "target", "submission_set"})
DIGESTS = frozenset({"hash"})


def encoder(column: str) -> Callable[[str], object]:
    """How a parameter compared with `column` is written. A code outside a vocabulary's table
    (a query may name any status) becomes NULL, which equals nothing."""
    if column in IDENTIFIERS:
        return pack_id
    if column in DIGESTS:
        return pack_digest
    if column in _CODES:
        return _CODES[column].get
    return lambda value: value


def encoded(column: str, values: Iterable[str]) -> list:
    encode = encoder(column)
    return [encode(value) for value in values]


def decoder(columns: Iterable[str]) -> Callable[..., list]:
    """Reads back a row of these columns as SQL text gives it, each kept form as the model's
    text (a list: the records are made from it); the values after the named columns as they
    are. When the first column is `patient_id`, the rows do not hold it (they hold the
    patient's key): the function takes it first, `decode(patient_id, row)`; else `decode(row)`.

    Run for every row of every answer (~1 us of an identifier's ~2 us is the formatting
    itself), so it is made for its columns as one list display, as collections.namedtuple
    makes its classes: a loop over the columns cost 1.5-3x as much a row."""
    columns = list(columns)
    given = columns[:1] == ["patient_id"]
    names: dict[str, object] = {"unpack": unpack_id, "unpack_digest": unpack_digest}
    terms = ["p"] if given else []
    for index, column in enumerate(columns[1:] if given else columns):
        value = f"r[{index}]"
        if column in IDENTIFIERS:
            terms.append(f"None if {value} is None else unpack({value})")
        elif column in DIGESTS:
            terms.append(f"None if {value} is None else unpack_digest({value})")
        elif column in _NAMES:
            names[f"{column}_names"] = _NAMES[column]
            terms.append(f"{column}_names.get({value})")
        else:
            terms.append(value)
    read = len(columns) - given
    source = f"lambda {'p, ' if given else ''}r: [{', '.join(terms)}, *r[{read}:]]"
    return eval(source, names)  # the source is made of this module's column names only
