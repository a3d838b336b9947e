"""SQL for the Find* stored queries: one patient at a time, every filter a column or an EXISTS on
the multi-valued table, so each query stays on one patient's rows (one shard)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Connection, Table
from sqlalchemy.engine import Row

from .database import fetch, param_mark
from .tables import document_entries, folders, submission_sets

CodeValue = tuple[str, str | None]  # (code, scheme or None for any scheme)


@dataclass
class Filters:
    """Selection for one object table. Lists inside `codes` are OR; `value_groups` are AND of
    ORs over object_values; `times` maps a column to [from, to)."""

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


def _codes(sql: _Sql, code_column: str, scheme_column: str, values: list[CodeValue]) -> str:
    terms = [f"({code_column} = {sql.value(code)} AND {scheme_column} = {sql.value(scheme)})"
             if scheme is not None else f"{code_column} = {sql.value(code)}"
             for code, scheme in values]
    return "(" + " OR ".join(terms) + ")"


def _exists(sql: _Sql, kind: str, condition: Callable[[], str]) -> str:
    """EXISTS on object_values; `condition` is built after `kind`, keeping parameter order."""
    head = ("EXISTS (SELECT 1 FROM object_values v WHERE v.patient_id = t.patient_id AND "
            f"v.entry_uuid = t.entry_uuid AND v.kind = {sql.value(kind)} AND ")
    return head + condition() + ")"


def _where(sql: _Sql, table: Table, filters: Filters) -> list[str]:
    clauses = [f"t.patient_id = {sql.value(filters.patient_id)}",
               f"t.status IN {sql.values(filters.statuses)}"]
    if filters.object_types:
        clauses.append(f"t.object_type IN {sql.values(filters.object_types)}")
    for prefix, values in filters.codes.items():
        clauses.append(_codes(sql, f"t.{table.c[prefix + '_code'].name}",
                              f"t.{table.c[prefix + '_scheme'].name}", values))
    for column, values in filters.column_in.items():
        clauses.append(f"t.{table.c[column].name} IN {sql.values(values)}")
    for kind, values in filters.value_groups:
        clauses.append(_exists(sql, kind, lambda v=values: _codes(sql, "v.value", "v.scheme", v)))
    for kind, patterns in filters.patterns:
        clauses.append(_exists(sql, kind, lambda p=patterns: "(" + " OR ".join(
            f"v.value LIKE {sql.value(x)} ESCAPE '\\'" for x in p) + ")"))
    for column, (start, end) in filters.times.items():
        name = table.c[column].name
        if start is not None:
            clauses.append(f"t.{name} >= {sql.value(start)}")
        if end is not None:
            clauses.append(f"t.{name} < {sql.value(end)}")
    return clauses


# What answering needs: the stored XML and what is patched into it; not the filter columns.
_RESULT_COLUMNS = ("patient_id", "entry_uuid", "status", "xml", "object_type",
                   "last_update_time")


def _policy_columns(sql: _Sql, reader: str, patient_id: str, needs: frozenset[str]) -> str:
    """What the access policy needs beside the row's own visibility codes and authors: the
    record's oppositions and the reader's authorisation (uncorrelated: evaluated once), each
    only when the policy will read it for this reader (security/visibility.py)."""
    opposed = ("(SELECT p.opposed_modes FROM patients p WHERE p.patient_id = "
               f"{sql.value(patient_id)})") if "oppositions" in needs else "''"
    granted = ("(SELECT COUNT(*) FROM authorizations a WHERE a.patient_id = "
               f"{sql.value(patient_id)} AND a.professional_id = {sql.value(reader)})"
               ) if "authorization" in needs else "0"
    return (f", t.visibility_codes, t.author_ids, {opposed} AS policy_opposed, "
            f"{granted} AS policy_granted")


def _find(connection: Connection, table: Table, filters: Filters, limit: int | None,
          with_xml: bool = True) -> list[Row]:
    sql = _Sql(connection)
    columns = ", ".join(f"t.{name}" for name in _RESULT_COLUMNS
                        if name in table.c and (with_xml or name != "xml"))
    if filters.policy_reader is not None and table is document_entries:
        columns += _policy_columns(sql, filters.policy_reader, filters.patient_id,
                                   filters.policy_needs)
    text = (f"SELECT {columns} FROM {table.name} t WHERE "
            + " AND ".join(_where(sql, table, filters)) + " ORDER BY t.registered_seq")
    if limit is not None:
        text += f" LIMIT {int(limit)}"
    return fetch(connection, text, sql.params)


def find_documents(connection: Connection, filters: Filters, limit: int | None = None,
                   with_xml: bool = True) -> list[Row]:
    return _find(connection, document_entries, filters, limit, with_xml)


def find_submission_sets(connection: Connection, filters: Filters,
                         limit: int | None = None) -> list[Row]:
    return _find(connection, submission_sets, filters, limit)


def find_folders(connection: Connection, filters: Filters, limit: int | None = None) -> list[Row]:
    return _find(connection, folders, filters, limit)
