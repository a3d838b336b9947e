"""SQL for the Find* stored queries: one patient at a time, every filter a column of the row or an
EXISTS over one of its value lists, so each query stays on one patient's rows (one shard) and
reads no other table."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Connection, Table

from ..model.facts import RecordAccess
from ..model.registered import DocumentRecord, FolderRecord, SubmissionSetRecord
from ..model.stored_queries import CodeValue
from .database import Read, UnitOfWork, fetch, param_mark
from .keys import decoder, encoded
from .registry_columns import SCHEMED, SEPARATOR, VALUE_COLUMNS
from .registry_store import words
from .tables import document_entries, folders, submission_sets


@dataclass
class Filters:
    """Selection for one object table. Lists inside `codes` are OR; `value_groups` are AND of
    ORs over a multi-valued attribute (by kind); `patterns` are LIKE patterns over one;
    `times` maps a column to [from, to)."""

    patient_id: str
    statuses: list[str]
    codes: dict[str, list[CodeValue]] = field(default_factory=dict)
    value_groups: list[tuple[str, list[CodeValue]]] = field(default_factory=list)
    patterns: list[tuple[str, list[str]]] = field(default_factory=list)
    times: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)
    object_types: list[str] = field(default_factory=list)
    column_in: dict[str, list[str]] = field(default_factory=dict)
    # a reader the access policy applies to: the rows then carry what it needs (visibility
    # codes, authors, the record's oppositions, the reader's authorisation), no extra query
    policy_reader: str | None = None
    policy_needs: frozenset[str] = frozenset()   # "authorization", "oppositions"


class _Sql:
    """SQL text with positional parameters in the driver's own style.

    Find* run for every consumer search, so their SQL is written directly rather than built as
    SQLAlchemy expressions: building and compiling those cost more than the query itself.
    Every value is a parameter; only the fixed column names below are spliced in."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.mark = param_mark(connection)
        self.params: list[object] = []

    def value(self, value: object) -> str:
        self.params.append(value)
        return self.mark

    def values(self, values: list) -> str:
        return "(" + ", ".join(self.value(v) for v in values) + ")"


_SCHEME_KEY = "(SELECT s.scheme_key FROM code_schemes s WHERE s.scheme = {})"


def _codes(sql: _Sql, code_column: str, scheme_column: str, values: list[CodeValue]) -> str:
    """Any of these codes; a scheme is compared by its key (0013): a scheme the registry
    never stored has none, and its NULL equals nothing."""
    terms = [f"({code_column} = {sql.value(code)} AND {scheme_column} = "
             f"{_SCHEME_KEY.format(sql.value(scheme))})"
             if scheme is not None else f"{code_column} = {sql.value(code)}"
             for code, scheme in values]
    return "(" + " OR ".join(terms) + ")"


def _exists(sql: _Sql, kind: str, condition: Callable[[], str]) -> str:
    """EXISTS over the row's values of `kind` (each `e.value`): a text[] on PostgreSQL, a JSON
    array on SQLite; `condition` is built here, keeping parameter order."""
    column = f"t.{VALUE_COLUMNS[kind]}"
    values = f"unnest({column}) AS e(value)" \
        if sql.connection.dialect.name == "postgresql" else f"json_each({column}) AS e"
    return f"EXISTS (SELECT 1 FROM {values} WHERE {condition()})"


def _like_literal(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _value_terms(sql: _Sql, kind: str, values: list[CodeValue]) -> str:
    """Any of these (value, scheme) pairs; a scheme of None matches any scheme. Coded kinds are
    kept as `code<US>scheme`, the others as the value (their scheme is empty)."""
    terms = []
    for code, scheme in values:
        if kind not in SCHEMED:
            terms.append(f"e.value = {sql.value(code)}" if not scheme else "1 = 0")
        elif scheme is None:
            terms.append(f"e.value LIKE {sql.value(_like_literal(code) + SEPARATOR + '%')} "
                         "ESCAPE '\\'")
        else:
            terms.append(f"e.value = {sql.value(code + SEPARATOR + scheme)}")
    return "(" + " OR ".join(terms) + ")"


def _pattern_terms(sql: _Sql, kind: str, patterns: list[str]) -> str:
    """Any of these LIKE patterns over the value (not a coded value's scheme)."""
    tail = SEPARATOR + "%" if kind in SCHEMED else ""
    return "(" + " OR ".join(f"e.value LIKE {sql.value(p + tail)} ESCAPE '\\'"
                             for p in patterns) + ")"


def _where(sql: _Sql, table: Table, filters: Filters) -> list[str]:
    # the rows carry the patient's key (0011): found by the id, once for the statement
    clauses = ["t.patient_key = (SELECT p.patient_key FROM patients p WHERE p.patient_id = "
               f"{sql.value(filters.patient_id)})",
               f"t.status IN {sql.values(encoded('status', filters.statuses))}"]
    if filters.object_types:
        clauses.append(
            f"t.object_type IN {sql.values(encoded('object_type', filters.object_types))}")
    for prefix, values in filters.codes.items():
        clauses.append(_codes(sql, f"t.{table.c[prefix + '_code'].name}",
                              f"t.{table.c[prefix + '_scheme'].name}", values))
    for column, values in filters.column_in.items():
        clauses.append(f"t.{table.c[column].name} IN {sql.values(encoded(column, values))}")
    for kind, values in filters.value_groups:
        clauses.append(_exists(sql, kind, lambda k=kind, v=values: _value_terms(sql, k, v)))
    for kind, patterns in filters.patterns:
        clauses.append(_exists(sql, kind, lambda k=kind, p=patterns: _pattern_terms(sql, k, p)))
    for column, (start, end) in filters.times.items():
        name = table.c[column].name
        if start is not None:
            clauses.append(f"t.{name} >= {sql.value(start)}")
        if end is not None:
            clauses.append(f"t.{name} < {sql.value(end)}")
    return clauses


# What answering needs: the registered form and what an answer patches into it (status, a
# folder's lastUpdateTime), the first fields of each record (model/registered.py), not the
# filter columns. The first, the patient id, is the one the filters name (the rows hold its key).
_RESULT_COLUMNS = {"document": ("patient_id", "entry_uuid", "status", "xml", "object_type"),
                   "submission_set": ("patient_id", "entry_uuid", "status", "xml"),
                   "folder": ("patient_id", "entry_uuid", "status", "xml")}
_TABLES = {"document": document_entries, "submission_set": submission_sets, "folder": folders}
_FOLDER_COLUMNS = ("unique_id", "logical_id", "version", "last_update_time")
# ids and codes read back (store/keys.py); the access policy's columns after them as they are
_DECODE = {kind: decoder(columns + (_FOLDER_COLUMNS if kind == "folder" else ()))
           for kind, columns in _RESULT_COLUMNS.items()}


def _policy_columns(sql: _Sql, reader: str, patient_id: str, needs: frozenset[str]) -> str:
    """What the access policy needs beside the row's own visibility codes and authors: the
    record's oppositions and the reader's authorisation (uncorrelated: evaluated once), each
    only when the policy will read it for this reader (security/access.py)."""
    opposed = ("(SELECT p.opposed_modes FROM patients p WHERE p.patient_id = "
               f"{sql.value(patient_id)})") if "oppositions" in needs else "''"
    granted = ("(SELECT COUNT(*) FROM authorizations a WHERE a.patient_id = "
               f"{sql.value(patient_id)} AND a.professional_id = {sql.value(reader)})"
               ) if "authorization" in needs else "0"
    return f", t.visibility_codes, t.author_ids, {opposed}, {granted}"


def _find(uow: UnitOfWork, kind: str, filters: Filters, limit: int | None,
          with_stored: bool = True) -> list[tuple]:
    text, params, decode = _find_statement(uow, kind, filters, limit, with_stored)
    return decode(fetch(uow.connection, text, params))


def _find_statement(uow: UnitOfWork, kind: str, filters: Filters, limit: int | None,
                    with_stored: bool = True
                    ) -> tuple[str, list[object], Callable[[list[tuple]], list[tuple]]]:
    """The SQL, its parameters, and what reads its rows back (ids and codes as text)."""
    table = _TABLES[kind]
    sql = _Sql(uow.connection)
    columns = ", ".join(f"t.{name}" if with_stored or name != "xml" else "NULL"
                        for name in _RESULT_COLUMNS[kind][1:])
    if kind == "folder":
        columns += "".join(f", t.{name}" for name in _FOLDER_COLUMNS)
    if filters.policy_reader is not None and kind == "document":
        columns += _policy_columns(sql, filters.policy_reader, filters.patient_id,
                                   filters.policy_needs)
    text = (f"SELECT {columns} FROM {table.name} t WHERE "
            + " AND ".join(_where(sql, table, filters)) + " ORDER BY t.registered_seq")
    if limit is not None:
        text += f" LIMIT {int(limit)}"
    decode, patient_id = _DECODE[kind], filters.patient_id
    return text, sql.params, lambda rows: [decode(patient_id, row) for row in rows]


_new = tuple.__new__
_UNREAD = (None,) * 7      # the record's fields between object_type and its access facts


def find_documents(uow: UnitOfWork, filters: Filters, limit: int | None = None,
                   with_stored: bool = True
                   ) -> tuple[list[DocumentRecord], RecordAccess | None]:
    """The documents, and, when the filters name a policy reader, what the record's patient
    decided about them (read in the same statement)."""
    rows = _find(uow, "document", filters, limit, with_stored)
    if filters.policy_reader is None:
        return [DocumentRecord(*row) for row in rows], None
    # built as tuples (no keyword arguments): this runs for every document of every answer
    records = [_new(DocumentRecord, (*row[:5], *_UNREAD, words(row[5]), words(row[6])))
               for row in rows]
    access = RecordAccess(bool(rows[0][8]), words(rows[0][7])) if rows else None
    return records, access


def content_reads(uow: UnitOfWork, documents: Filters, submission_sets: Filters,
                  folders: Filters) -> list[Read]:
    """A record's documents (without access facts), submission sets and folders as three
    reads to send together (GetAll): each makes the records its find_* function would."""
    reads = []
    for kind, filters, record in (("document", documents, DocumentRecord),
                                  ("submission_set", submission_sets, SubmissionSetRecord),
                                  ("folder", folders, FolderRecord)):
        if kind == "document" and filters.policy_reader is not None:
            raise ValueError("content_reads reads documents without the policy's facts")
        text, params, decode = _find_statement(uow, kind, filters, None)
        reads.append(Read(text, params, lambda rows, decode=decode, record=record:
                          [record(*row) for row in decode(rows)]))
    return reads


def find_submission_sets(uow: UnitOfWork, filters: Filters,
                         limit: int | None = None) -> list[SubmissionSetRecord]:
    return [SubmissionSetRecord(*row) for row in _find(uow, "submission_set", filters, limit)]


def find_folders(uow: UnitOfWork, filters: Filters, limit: int | None = None
                 ) -> list[FolderRecord]:
    return [FolderRecord(*row) for row in _find(uow, "folder", filters, limit)]
