"""Narrower keys (issue 20): every entryUUID and every column naming one (a logical id, an
association's ends, a document's submission set) kept as the UUID's 16 bytes instead of its
45-character text; availability statuses, document entry types and index kinds as small codes.
store/keys.py says why and how; the codes are registry_columns.py's tables.

The conversion is written here as it is on the day of the migration (a migration is a fixed
conversion: it does not import the store's code, which may change):

    canonical `urn:uuid:` + lowercase UUID  →  its 16 bytes
    any other text                          →  its UTF-8 bytes, + 0xFF when that makes 16

PostgreSQL: one ALTER TABLE per table, all its columns at once: the table is written again
once (compact, without the old row versions) and its indexes rebuilt. SQLite: the values are
converted in place by a function of the connection, then each table is recreated with the
new column types (alembic's batch mode), its indexes with it.

A status, entry type or kind outside the tables stops the migration with its name (none can
be written by this registry; a row that holds one was not written by it).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

import re

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

# (table, identifier columns, coded columns): every column 0011 changes
TABLES = (
    ("object_index", ("entry_uuid",), ("kind",)),
    ("document_entries", ("entry_uuid", "logical_id", "submission_set"),
     ("status", "object_type")),
    ("submission_sets", ("entry_uuid",), ("status",)),
    ("folders", ("entry_uuid", "logical_id"), ("status",)),
    ("associations", ("entry_uuid", "source", "target"), ("status",)),
)
CODES = {
    "status": {"urn:oasis:names:tc:ebxml-regrep:StatusType:Approved": 1,
               "urn:oasis:names:tc:ebxml-regrep:StatusType:Deprecated": 2,
               "urn:oasis:names:tc:ebxml-regrep:StatusType:Submitted": 3,
               "urn:asip:ci-sis:2010:StatusType:Archived": 4,
               "urn:asip:ci-sis:2010:StatusType:Deleted": 5},
    "object_type": {"urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1": 1,
                    "urn:uuid:34268e47-fdf5-41a6-ba33-82133c465248": 2},
    "kind": {"document": 1, "submission_set": 2, "folder": 3, "association": 4},
}
# the 0010 types, for the downgrade
TEXT_TYPES = {"status": sa.String(64), "object_type": sa.String(64), "kind": sa.String(16)}
ID_TEXT = sa.String(64)

CANONICAL = "urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_CANONICAL = re.compile(CANONICAL)


def pack_id(text: str | None) -> bytes | None:
    if text is None:
        return None
    if len(text) == 45 and _CANONICAL.fullmatch(text):
        return bytes.fromhex(text[9:].replace("-", ""))
    raw = text.encode()
    return raw + b"\xff" if len(raw) == 16 else raw


def unpack_id(raw: bytes | None) -> str | None:
    if raw is None or isinstance(raw, str):
        return raw
    if len(raw) == 16:
        h = bytes(raw).hex()
        return f"urn:uuid:{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
    raw = bytes(raw)
    return (raw[:-1] if raw.endswith(b"\xff") else raw).decode()


def _pg_pack(column: str) -> str:
    return (f"CASE WHEN {column} ~ '^{CANONICAL}$' "
            f"THEN decode(replace(substr({column}, 10), '-', ''), 'hex') "
            f"WHEN octet_length({column}) = 16 THEN convert_to({column}, 'UTF8') || '\\xff'::bytea "
            f"ELSE convert_to({column}, 'UTF8') END")


def _pg_unpack(column: str) -> str:
    h = f"encode({column}, 'hex')"
    return (f"CASE WHEN length({column}) = 16 THEN 'urn:uuid:' || substr({h}, 1, 8) || '-' || "
            f"substr({h}, 9, 4) || '-' || substr({h}, 13, 4) || '-' || substr({h}, 17, 4) || "
            f"'-' || substr({h}, 21, 12) "
            f"WHEN get_byte({column}, length({column}) - 1) = 255 "
            f"THEN convert_from(substring({column} FROM 1 FOR length({column}) - 1), 'UTF8') "
            f"ELSE convert_from({column}, 'UTF8') END")


def _case(column: str, mapping: dict) -> str:
    def literal(value: object) -> str:
        return f"'{value}'" if isinstance(value, str) else str(value)
    return f"CASE {column} " + " ".join(f"WHEN {literal(a)} THEN {literal(b)}"
                                        for a, b in mapping.items()) + " END"


# Written with exec_driver_sql: the SQL holds colons (urn:uuid:...), which text() would read
# as bind parameters.


def _check_codes(bind) -> None:
    for table, _, coded in TABLES:
        for column in coded:
            known = ", ".join(f"'{value}'" for value in CODES[column])
            unknown = bind.exec_driver_sql(f"SELECT DISTINCT {column} FROM {table} "
                                           f"WHERE {column} NOT IN ({known})").scalars().all()
            if unknown:
                raise RuntimeError(f"0011: {table}.{column} holds values this registry never "
                                   f"writes, which have no code: {sorted(unknown)}")


def _sqlite_functions(bind) -> None:
    driver = bind.connection.driver_connection
    driver.create_function("xds_pack_id", 1, pack_id, deterministic=True)
    driver.create_function("xds_unpack_id", 1, unpack_id, deterministic=True)


def upgrade() -> None:
    bind = op.get_bind()
    _check_codes(bind)
    if bind.dialect.name == "postgresql":
        for table, ids, coded in TABLES:
            changes = [f"ALTER COLUMN {c} TYPE bytea USING {_pg_pack(c)}" for c in ids] + [
                f"ALTER COLUMN {c} TYPE smallint USING {_case(c, CODES[c])}" for c in coded]
            bind.exec_driver_sql(f"ALTER TABLE {table} " + ", ".join(changes))
        return
    _sqlite_functions(bind)
    for table, ids, coded in TABLES:
        sets = [f"{c} = xds_pack_id({c})" for c in ids] + [
            f"{c} = {_case(c, CODES[c])}" for c in coded]
        bind.exec_driver_sql(f"UPDATE {table} SET " + ", ".join(sets))
        with op.batch_alter_table(table, recreate="always") as batch:
            for column in ids:
                batch.alter_column(column, type_=sa.LargeBinary(), existing_type=ID_TEXT)
            for column in coded:
                batch.alter_column(column, type_=sa.SmallInteger(),
                                   existing_type=TEXT_TYPES[column])


def downgrade() -> None:
    bind = op.get_bind()
    back = {column: {code: value for value, code in codes.items()}
            for column, codes in CODES.items()}
    if bind.dialect.name == "postgresql":
        for table, ids, coded in TABLES:
            changes = [f"ALTER COLUMN {c} TYPE varchar(64) USING {_pg_unpack(c)}"
                       for c in ids] + [
                f"ALTER COLUMN {c} TYPE varchar({TEXT_TYPES[c].length}) USING "
                f"{_case(c, back[c])}" for c in coded]
            bind.exec_driver_sql(f"ALTER TABLE {table} " + ", ".join(changes))
        return
    _sqlite_functions(bind)
    for table, ids, coded in TABLES:
        sets = [f"{c} = xds_unpack_id({c})" for c in ids] + [
            f"{c} = {_case(c, back[c])}" for c in coded]
        bind.exec_driver_sql(f"UPDATE {table} SET " + ", ".join(sets))
        with op.batch_alter_table(table, recreate="always") as batch:
            for column in ids:
                batch.alter_column(column, type_=ID_TEXT, existing_type=sa.LargeBinary())
            for column in coded:
                batch.alter_column(column, type_=TEXT_TYPES[column],
                                   existing_type=sa.SmallInteger())
