"""SQL for the Find* stored queries: one patient at a time, every filter a column or an EXISTS on
the multi-valued table, so each query stays on one patient's rows (one shard)."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Connection, Table, and_, exists, or_, select
from sqlalchemy.engine import Row
from sqlalchemy.sql.elements import ColumnElement

from .tables import document_entries, folders, object_values, submission_sets

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


def _code_match(table: Table, prefix: str, values: list[CodeValue]) -> ColumnElement[bool]:
    code_column = table.c[f"{prefix}_code"]
    scheme_column = table.c[f"{prefix}_scheme"]
    return or_(*[and_(code_column == code, scheme_column == scheme) if scheme is not None
                 else code_column == code for code, scheme in values])


def _values_exist(table: Table, kind: str, condition: ColumnElement[bool]) -> ColumnElement[bool]:
    return exists().where(and_(object_values.c.patient_id == table.c.patient_id,
                               object_values.c.entry_uuid == table.c.entry_uuid,
                               object_values.c.kind == kind, condition))


def _where(table: Table, filters: Filters) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = [table.c.patient_id == filters.patient_id,
                                          table.c.status.in_(filters.statuses)]
    if filters.object_types:
        clauses.append(table.c.object_type.in_(filters.object_types))
    for prefix, values in filters.codes.items():
        clauses.append(_code_match(table, prefix, values))
    for column, values in filters.column_in.items():
        clauses.append(table.c[column].in_(values))
    for kind, values in filters.value_groups:
        clauses.append(_values_exist(table, kind, or_(*[
            and_(object_values.c.value == code, object_values.c.scheme == scheme)
            if scheme is not None else object_values.c.value == code
            for code, scheme in values])))
    for kind, patterns in filters.patterns:
        clauses.append(_values_exist(table, kind, or_(*[
            object_values.c.value.like(pattern, escape="\\") for pattern in patterns])))
    for column, (start, end) in filters.times.items():
        if start is not None:
            clauses.append(table.c[column] >= start)
        if end is not None:
            clauses.append(table.c[column] < end)
    return clauses


# What answering needs: the stored XML and what is patched into it; not the filter columns.
_RESULT_COLUMNS = ("patient_id", "entry_uuid", "status", "xml", "object_type",
                   "last_update_time")


def _find(connection: Connection, table: Table, filters: Filters, limit: int | None,
          with_xml: bool = True) -> list[Row]:
    columns = [table.c[name] for name in _RESULT_COLUMNS
               if name in table.c and (with_xml or name != "xml")]
    query = select(*columns).where(*_where(table, filters)).order_by(table.c.registered_seq)
    if limit is not None:
        query = query.limit(limit)
    return list(connection.execute(query))


def find_documents(connection: Connection, filters: Filters, limit: int | None = None,
                   with_xml: bool = True) -> list[Row]:
    return _find(connection, document_entries, filters, limit, with_xml)


def find_submission_sets(connection: Connection, filters: Filters,
                         limit: int | None = None) -> list[Row]:
    return _find(connection, submission_sets, filters, limit)


def find_folders(connection: Connection, filters: Filters, limit: int | None = None) -> list[Row]:
    return _find(connection, folders, filters, limit)
