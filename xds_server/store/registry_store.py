"""Reads and writes of the registry's objects, as model records (model/registered.py). Every
function takes a unit of work: the registry owns the transaction, so a submission is written all
or nothing; the column tables are registry_columns.py's."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Table, and_, bindparam, delete, select, update
from sqlalchemy import insert as sql_insert

from ..model.metadata import Association, DocumentEntry, Folder, SubmissionSet
from ..model.registered import (
    AssociationRecord,
    DocumentRecord,
    FolderRecord,
    IndexEntry,
    Record,
    SubmissionSetRecord,
)
from ..model.vocabulary import APPROVED
from .database import Read, UnitOfWork, fetch
from .keys import decoder, encoded
from .registry_columns import (
    ASSOCIATION_COLUMNS,
    DOCUMENT_COLUMNS,
    DOCUMENT_VALUES,
    FOLDER_COLUMNS,
    FOLDER_VALUES,
    READ_COLUMNS,
    SUBMISSION_SET_COLUMNS,
    SUBMISSION_SET_VALUES,
    VALUE_COLUMNS,
    Column,
    value_list,
)
from .signed_reads import CHANGED, DELETED, INSERTED, Written
from .tables import (
    OBJECT_TABLES,
    associations,
    code_schemes,
    document_entries,
    folders,
    object_index,
    patients,
    submission_sets,
)
from .widths import check_widths

_EMPTY: frozenset[str] = frozenset()


def words(text: str | None) -> frozenset[str]:
    """A space-separated column (visibility codes, author ids) as a set."""
    return frozenset(text.split()) if text else _EMPTY


def _document(row: Sequence[Any]) -> DocumentRecord:
    return DocumentRecord(*row[:12], words(row[12]), words(row[13]))


_MAKERS: dict[str, Any] = {"document": _document,
                           "submission_set": lambda row: SubmissionSetRecord(*row),
                           "folder": lambda row: FolderRecord(*row),
                           "association": lambda row: AssociationRecord(*row)}


# --- reads: SQL text that does not change with the number of ids ------------------------------
#
# Every Get* reads by lists of ids. Written as SQLAlchemy `IN` lists, each count of ids made a new
# SQL text: compiled again, planned again by PostgreSQL (psycopg prepares a statement only when
# its text repeats) and read through the text protocol (the stored XML as hex). On PostgreSQL
# the lists go as one array parameter (`= ANY(%s)`), so each statement below has one text
# whatever the count (psycopg prepares it after a few uses) and its rows come in binary
# (`fetch`); SQLite keeps its IN lists (the text depends on the count there, which costs
# little on an embedded database).

def _one_of(uow: UnitOfWork, column: str, values: Sequence[str]) -> tuple[str, list]:
    """`column` is one of `values`: the condition and its parameters (in the column's stored
    form: store/keys.py)."""
    if uow.dialect == "postgresql":
        return f"{column} = ANY(%s)", [encoded(column, values)]
    return f"{column} IN ({', '.join('?' * len(values))})", encoded(column, values)


def _read(uow: UnitOfWork, sql: str, params: Sequence[object]) -> list[tuple]:
    """`sql` written with `?` marks, run in the driver's own style."""
    if uow.dialect == "postgresql":
        sql = sql.replace("?", "%s")
    return fetch(uow.connection, sql, params)


# The rows carry the patient's key, not its id (0011): a statement finds the key by the id
# (one probe of the patients' unique index) and the records take the id the caller gave.
_KEY = "(SELECT patient_key FROM patients WHERE patient_id = ?)"


def _key(patient_id: str):
    """The patient's key, as a subquery of a statement built by SQLAlchemy."""
    return (select(patients.c.patient_key).where(patients.c.patient_id == patient_id)
            .scalar_subquery())


assert all(columns[0] == "patient_id" for columns in READ_COLUMNS.values())
_SELECTED = {kind: ", ".join(columns[1:]) for kind, columns in READ_COLUMNS.items()}
# each kind's row as SQL text reads it, after the patient id → its record (ids and codes read
# back: store/keys.py)
_DECODE = {kind: decoder(columns) for kind, columns in READ_COLUMNS.items()}
_BY = frozenset({"entry_uuid", "unique_id", "logical_id", "source", "target"})


# --- the object index -------------------------------------------------------------------------

_INDEX = ("SELECT i.entry_uuid, i.unique_id, i.kind, p.patient_id FROM object_index i "
          "JOIN patients p ON p.patient_key = i.patient_key WHERE ")
_INDEX_ROW = decoder(("entry_uuid", "unique_id", "kind", "patient_id"))


def _index(uow: UnitOfWork, condition: str, params: Sequence[object]) -> list[IndexEntry]:
    return [IndexEntry(*_INDEX_ROW(row)) for row in _read(uow, _INDEX + condition, params)]


def find_by_uuids(uow: UnitOfWork, uuids: Iterable[str]) -> dict[str, IndexEntry]:
    wanted = sorted(set(uuids))
    found: dict[str, IndexEntry] = {}
    for start in range(0, len(wanted), 500):
        condition, params = _one_of(uow, "entry_uuid", wanted[start:start + 500])
        found.update((entry.entry_uuid, entry) for entry in _index(uow, condition, params))
    return found


def find_existing(uow: UnitOfWork, uuids: Iterable[str],
                  unique_ids: Iterable[str]) -> list[IndexEntry]:
    """Index entries having one of these entryUUIDs or uniqueIds: one round trip for both."""
    conditions, params = [], []
    for column, values in (("entry_uuid", uuids), ("unique_id", unique_ids)):
        wanted = sorted(set(values))
        if wanted:
            condition, values_params = _one_of(uow, column, wanted)
            conditions.append(condition)
            params += values_params
    if not conditions:
        return []
    return _index(uow, " OR ".join(conditions), params)


def find_by_unique_ids(uow: UnitOfWork, unique_ids: Iterable[str],
                       kind: str | None = None) -> list[IndexEntry]:
    wanted = sorted(set(unique_ids))
    if not wanted:
        return []
    condition, params = _one_of(uow, "unique_id", wanted)
    if kind:
        condition += " AND kind = ?"
        params += encoded("kind", [kind])
    return _index(uow, condition, params)


# --- objects ----------------------------------------------------------------------------------

def objects(uow: UnitOfWork, kind: str, patient_id: str, values: Iterable[str],
            by: str = "entry_uuid") -> list[Record]:
    """One patient's objects of `kind` whose `by` column (entry_uuid, unique_id or logical_id,
    the last giving every version) is one of `values`, in registration order."""
    values = list(values)
    if not values:
        return []
    if by not in _BY:
        raise ValueError(f"objects are not read by {by}")
    condition, params = _one_of(uow, by, values)
    make, decode = _MAKERS[kind], _DECODE[kind]
    return [make(decode(patient_id, row)) for row in _read(
        uow, f"SELECT {_SELECTED[kind]} FROM {OBJECT_TABLES[kind].name} WHERE patient_key = "
             f"{_KEY} AND {condition} ORDER BY registered_seq", [patient_id, *params])]


def documents_by_unique_id(uow: UnitOfWork, patient_id: str,
                           unique_id: str) -> list[DocumentRecord]:
    return objects(uow, "document", patient_id, [unique_id], by="unique_id")


def associations_touching(uow: UnitOfWork, patient_id: str, uuids: Iterable[str],
                          side: str = "both") -> list[AssociationRecord]:
    """Associations whose source and/or target is one of `uuids`."""
    uuids = list(uuids)
    if not uuids:
        return []
    if side != "both":
        return objects(uow, "association", patient_id, uuids, by=side)  # type: ignore
    by_source, source_params = _one_of(uow, "source", uuids)
    by_target, target_params = _one_of(uow, "target", uuids)
    decode = _DECODE["association"]
    return [AssociationRecord(*decode(patient_id, row)) for row in _read(
        uow, f"SELECT {_SELECTED['association']} FROM associations WHERE patient_key = {_KEY} "
             f"AND ({by_source} OR {by_target}) ORDER BY registered_seq",
        [patient_id, *source_params, *target_params])]


def associations_of(uow: UnitOfWork, patient_id: str) -> list[AssociationRecord]:
    """Every association of one patient: one range of the primary key (GetAll returns the whole
    record, so reading it whole costs less than asking by the ends of each)."""
    read = associations_read(uow, patient_id)
    return read.make(fetch(uow.connection, read.sql, read.params))


# every column but the stored XML (a NULL in its place): what a check over a whole record reads
_WITHOUT_XML = {kind: ", ".join("NULL" if c == "xml" else c for c in columns[1:])
                for kind, columns in READ_COLUMNS.items()}


def record_without_xml(uow: UnitOfWork, kind: str, patient_id: str) -> list[Record]:
    """Every object of `kind` in one patient's record, without its stored XML: a rule over
    the whole record (registry/signed_state.py) reads its links and statuses, not its text."""
    make, decode = _MAKERS[kind], _DECODE[kind]
    return [make(decode(patient_id, row)) for row in _read(
        uow, f"SELECT {_WITHOUT_XML[kind]} FROM {OBJECT_TABLES[kind].name} "
             f"WHERE patient_key = {_KEY} ORDER BY registered_seq", [patient_id])]


def associations_read(uow: UnitOfWork, patient_id: str) -> Read:
    """associations_of as a read to send with others (database.read_together)."""
    decode = _DECODE["association"]
    sql = (f"SELECT {_SELECTED['association']} FROM associations WHERE patient_key = {_KEY} "
           "ORDER BY registered_seq")
    return Read(sql.replace("?", "%s") if uow.dialect == "postgresql" else sql, [patient_id],
                lambda rows: [AssociationRecord(*decode(patient_id, row)) for row in rows])


def with_facts(uow: UnitOfWork, patient_id: str,
               documents: Sequence[DocumentRecord]) -> dict[str, DocumentRecord]:
    """These documents by entryUUID, each with its access facts (visibility codes, authors):
    records read without them (lean Find* records) are read again."""
    if documents and documents[0].author_ids is None:
        documents = objects(uow, "document", patient_id, [d.entry_uuid for d in documents])
    return {document.entry_uuid: document for document in documents}


def authors_of(uow: UnitOfWork, patient_id: str,
               uuids: Sequence[str]) -> dict[str, frozenset[str]]:
    """The national ids of the authors of these documents and submission sets (an author
    removes what they wrote); an object with no author, or of another kind, is absent."""
    found = {record.entry_uuid: record.author_ids or _EMPTY
             for record in objects(uow, "document", patient_id, uuids)}
    rest = [uuid for uuid in uuids if uuid not in found]
    if rest:     # the other kind with authors: submission sets
        rows = uow.connection.execute(
            select(submission_sets.c.entry_uuid, submission_sets.c.author_persons)
            .where(and_(submission_sets.c.patient_key == _key(patient_id),
                        submission_sets.c.entry_uuid.in_(rest))))
        found.update({uuid: frozenset({p.split("^", 1)[0] for p in persons} - {""})
                      for uuid, persons in rows if persons})
    return found


# --- writes -----------------------------------------------------------------------------------

def set_status(uow: UnitOfWork, kind: str, patient_id: str, uuids: Iterable[str],
               status: str) -> None:
    table, uuids = OBJECT_TABLES[kind], list(uuids)
    if uow.written is not None:
        uow.written += [Written(patient_id, kind, uuid, CHANGED) for uuid in uuids]
    uow.connection.execute(update(table).where(and_(table.c.patient_key == _key(patient_id),
                                                    table.c.entry_uuid.in_(uuids)))
                           .values(status=status))


def touch_folders(uow: UnitOfWork, patient_id: str, uuids: Iterable[str],
                  timestamp: str) -> None:
    uow.connection.execute(update(folders).where(and_(folders.c.patient_key == _key(patient_id),
                                                      folders.c.entry_uuid.in_(list(uuids))))
                           .values(last_update_time=timestamp))


class SequenceClock:
    """Registration order without a shared counter row (which would serialise all writers)."""

    def __init__(self) -> None:
        self._base = time.time_ns() // 1000 * 1000
        self._next = 0

    def __call__(self) -> int:
        self._next += 1
        return self._base + self._next


def _row(columns: tuple[Column, ...], obj: Any, **registration: object) -> dict:
    return {**{name: get(obj) for name, get in columns}, **registration}


def _values(obj: Any, kinds) -> dict[str, list[str] | None]:
    """The value list column of each multi-valued attribute."""
    return {VALUE_COLUMNS[kind]: value_list(kind, values_of(obj)) for kind, values_of in kinds}


# --- code schemes (0013): each stored once, the rows keep its key ---------------------------------

_SCHEME_TEXT = "_text"      # a row's scheme, as text, is bound under its column name + this


def _scheme_columns(table: Table) -> list[str]:
    return [column.name for column in table.columns if column.name.endswith("_scheme")]


def scheme_key(scheme):
    """The key of the scheme bound as `scheme`, as a subquery (NULL for no scheme)."""
    return (select(code_schemes.c.scheme_key).where(code_schemes.c.scheme == scheme)
            .scalar_subquery())


def add_schemes(uow: UnitOfWork, schemes: Iterable[str]) -> None:
    """Give these schemes a key where they have none. Nothing read back (the writes may be
    pipelined): each row's INSERT finds its schemes' keys itself. On PostgreSQL only the
    missing ones reach the INSERT, so the key sequence is not spent on schemes already there; a
    concurrent registration adding the same scheme makes this wait for it, then do nothing
    (READ COMMITTED: the INSERTs that follow see its key)."""
    wanted = sorted(set(schemes))
    if not wanted:
        return
    if uow.dialect == "postgresql":
        uow.connection.exec_driver_sql(
            "INSERT INTO code_schemes (scheme) SELECT s FROM unnest(%s::text[]) AS u(s) "
            "WHERE NOT EXISTS (SELECT 1 FROM code_schemes c WHERE c.scheme = u.s) "
            "ON CONFLICT DO NOTHING", (wanted,))
    else:
        uow.connection.exec_driver_sql(
            "INSERT OR IGNORE INTO code_schemes (scheme) VALUES "
            + ", ".join("(?)" for _ in wanted), tuple(wanted))


def register(uow: UnitOfWork, patient_id: str, submission_set: SubmissionSet,
           documents: Sequence[DocumentEntry], folder_list: Sequence[Folder],
           association_list: Sequence[Association], stored: Mapping[str, bytes]) -> None:
    """Register these objects, Approved, in the order given, each with its registered form
    (`stored`, by entryUUID); the documents belong to `submission_set`."""
    clock = SequenceClock()

    def registered(obj: Any) -> dict:
        return {"status": APPROVED, "registered_seq": clock(), "xml": stored[obj.entry_uuid]}

    rows: dict[Any, list[dict]] = {submission_sets: [], document_entries: [], folders: [],
                                   associations: [], object_index: []}
    for table, columns, kinds, kind, items in (
            (submission_sets, SUBMISSION_SET_COLUMNS, SUBMISSION_SET_VALUES, "submission_set",
             [submission_set]),
            (document_entries, DOCUMENT_COLUMNS, DOCUMENT_VALUES, "document", documents),
            (folders, FOLDER_COLUMNS, FOLDER_VALUES, "folder", folder_list),
            (associations, ASSOCIATION_COLUMNS, (), "association", association_list)):
        for obj in items:
            extra = {"submission_set": submission_set.entry_uuid} if kind == "document" else {}
            rows[table].append(_row(columns, obj, **registered(obj), **extra,
                                    **_values(obj, kinds)))
            rows[object_index].append({"entry_uuid": obj.entry_uuid, "kind": kind,
                                       "unique_id": getattr(obj, "unique_id", None)})
    scheme_width = code_schemes.c.scheme.type.length
    for table, label in ((submission_sets, "SubmissionSet"), (document_entries, "DocumentEntry"),
                         (folders, "Folder"), (associations, "Association")):
        check_widths(table, rows[table], label, scheme_width)
    # the schemes' keys, as the patient's, found by the INSERT itself
    schemes = {}
    for table, table_rows in rows.items():
        columns = _scheme_columns(table)
        schemes[table] = {c: scheme_key(bindparam(c + _SCHEME_TEXT)) for c in columns}
        for row in table_rows:
            for column in columns:
                row[column + _SCHEME_TEXT] = row.pop(column)
    add_schemes(uow, (row[c + _SCHEME_TEXT] for table, table_rows in rows.items()
                      for row in table_rows for c in schemes[table]
                      if row[c + _SCHEME_TEXT] is not None))
    if uow.written is not None:
        uow.written += [Written(patient_id, kind, obj.entry_uuid, INSERTED,
                                getattr(obj, "type", None))
                        for kind, items in (("document", documents),
                                            ("association", association_list),
                                            ("submission_set", [submission_set]),
                                            ("folder", folder_list)) for obj in items]
    # the patient's key found by the INSERT itself (the registry checked the record is open):
    # no read here, where the writes may be pipelined; inline: nothing read back either
    key = _key(patient_id)
    for table, table_rows in rows.items():
        if table_rows:
            uow.connection.execute(
                sql_insert(table).values(patient_key=key, **schemes[table]).inline(),
                table_rows)


def delete_objects(uow: UnitOfWork, patient_id: str, by_kind: dict[str, list[str]]) -> None:
    """Remove registry objects for good (ITI-62): their rows (with their multi-valued
    attributes) and index entries."""
    if uow.written is not None:
        uow.written += [Written(patient_id, kind, uuid, DELETED)
                        for kind, uuids in by_kind.items() for uuid in uuids]
    for kind, uuids in by_kind.items():
        table = OBJECT_TABLES[kind]
        uow.connection.execute(delete(table).where(and_(table.c.patient_key == _key(patient_id),
                                                        table.c.entry_uuid.in_(uuids))))
    every = [u for uuids in by_kind.values() for u in uuids]
    uow.connection.execute(delete(object_index).where(object_index.c.entry_uuid.in_(every)))

