"""Every text the store writes fits its column, or the write is refused naming the object and
the attribute: PostgreSQL enforces a column's width (SQLite does not), so an overlong value that
no metadata rule bounds (a document naming 150 authors filled `author_ids`' 1,024 characters; a
300-character mimeType or code) ended as a database error, a 500 for a valid-looking
submission, and on the repository side a half-done provide. Checked before any INSERT, the
same on both databases."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping

from sqlalchemy import String, Table

from ..model.errors import ErrorCode, RegistryError, RegistryFailure

# the model's name of a column, where it is not the column's own
ATTRIBUTES: Mapping[str, str] = {
    "author_ids": "authorPerson ids (together)", "authors": "authorPerson ids (together)",
    "mime_type": "mimeType", "unique_id": "uniqueId", "logical_id": "logicalID",
    "repository_unique_id": "repositoryUniqueId", "source_id": "sourceId",
    "visibility_codes": "confidentialityCode (visibility, together)",
    "patient_id": "patientId",
}
SCHEME_WIDTH_COLUMN = "_scheme"     # a coded attribute's scheme, kept in code_schemes.scheme


@functools.cache
def _limits(table: Table) -> dict[str, int]:
    return {column.name: column.type.length for column in table.columns
            if isinstance(column.type, String) and column.type.length}


def _attribute(column: str) -> str:
    if column.endswith("_code") or column.endswith("_scheme"):
        return column.replace("_", " ")
    return ATTRIBUTES.get(column, column)


def check_widths(table: Table, rows: Iterable[dict], what: str, scheme_width: int = 0,
                 code: ErrorCode = ErrorCode.REGISTRY_METADATA_ERROR) -> None:
    """Raise RegistryFailure naming every (object, attribute) whose text is longer than its
    column; `what` names the kind of object, `scheme_width` bounds the `*_scheme` values."""
    limits = _limits(table)
    errors = []
    for row in rows:
        for column, value in row.items():
            if not isinstance(value, str):
                continue
            limit = scheme_width if (column.endswith(SCHEME_WIDTH_COLUMN) and scheme_width) \
                else limits.get(column)
            if limit and len(value) > limit:
                name = row.get("entry_uuid") or row.get("unique_id") or "?"
                errors.append(RegistryError(
                    code, f"{what} {name}: {_attribute(column)} is {len(value)} characters "
                          f"long; this registry keeps at most {limit}", location=str(name)))
    if errors:
        raise RegistryFailure(errors)
