"""Narrower document rows (issue 20): code schemes stored once, the hash as its 20 bytes, and the
uniqueId index without the associations.

1. `code_schemes` (scheme_key, scheme) holds each coding scheme once; the `*_scheme` columns of
   `document_entries` (five) and `submission_sets` (one) keep its integer key instead of the
   OID text (20-30 bytes each).
2. `document_entries.hash`: a SHA-1 in 40 lowercase hex characters (as the registry writes it)
   becomes its 20 bytes; any other text is kept as its UTF-8 bytes (+ 0xFF when that makes 20,
   store/keys.py `pack_digest`).
3. `ix_object_index_unique_id` indexes only the rows with a uniqueId (associations have none:
   a third of the index's entries).
4. Each association's stored XML packed with its id, source and target marked (ebxml/packing.py
   format 0x03: the row's columns hold them), ~100 bytes smaller; the downgrade packs them as
   0x01 again (0012's code cannot read 0x03). PostgreSQL: written to a temporary table and back
   in key order (an UPDATE of every row would leave the old versions in the table: 0010's way).

PostgreSQL: one ALTER TABLE per table (each table written once, its indexes made again), in the
migration's transaction. SQLite: values rewritten in place, then the column types (batch mode).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

from xds_server.ebxml.packing import MARKED, pack, pack_marked, unpack
from xds_server.store.keys import unpack_id

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

SCHEMES = {"document_entries": ("class_scheme", "type_scheme", "format_scheme",
                                "facility_scheme", "practice_scheme"),
           "submission_sets": ("content_type_scheme",)}
CODE = sa.String(256)
HASH_TEXT = sa.String(40)
HEX = "^[0-9a-f]{40}$"


def pack_digest(text: str | None) -> bytes | None:
    if text is None:
        return None
    if len(text) == 40 and all(c in "0123456789abcdef" for c in text):
        return bytes.fromhex(text)
    raw = text.encode()
    return raw + b"\xff" if len(raw) == 20 else raw


def unpack_digest(raw: bytes | None) -> str | None:
    if raw is None or isinstance(raw, str):
        return raw
    raw = bytes(raw)
    if len(raw) == 20:
        return raw.hex()
    return (raw[:-1] if raw.endswith(b"\xff") else raw).decode()


def _pg_pack(column: str) -> str:
    return (f"CASE WHEN {column} ~ '{HEX}' THEN decode({column}, 'hex') "
            f"WHEN octet_length({column}) = 20 THEN convert_to({column}, 'UTF8') || '\\xff'::bytea "
            f"ELSE convert_to({column}, 'UTF8') END")


def _pg_unpack(column: str) -> str:
    return (f"CASE WHEN length({column}) = 20 THEN encode({column}, 'hex') "
            f"WHEN get_byte({column}, length({column}) - 1) = 255 "
            f"THEN convert_from(substring({column} FROM 1 FOR length({column}) - 1), 'UTF8') "
            f"ELSE convert_from({column}, 'UTF8') END")


def _unique_id_index(partial: bool) -> None:
    op.drop_index("ix_object_index_unique_id", "object_index")
    where = sa.text("unique_id IS NOT NULL") if partial else None
    op.create_index("ix_object_index_unique_id", "object_index", ["unique_id"],
                    postgresql_where=where, sqlite_where=where)


BATCH = 5000


def _associations(bind):
    """The association rows in key order, in batches, their ids as text."""
    last = None
    while True:
        after = "WHERE (patient_key, entry_uuid) > (:p, :u) " if last else ""
        rows = bind.execute(sa.text(f"SELECT * FROM associations {after}ORDER BY patient_key, "
                                    f"entry_uuid LIMIT {BATCH}"),
                            {"p": last[0], "u": last[1]} if last else {}).mappings().all()
        if not rows:
            return
        last = (rows[-1]["patient_key"], rows[-1]["entry_uuid"])
        yield rows


def _ids(row) -> tuple[str, str, str]:
    return tuple(unpack_id(bytes(row[c])) for c in ("entry_uuid", "source", "target"))


def _marked(row) -> bytes | None:
    stored = bytes(row["xml"])
    return None if stored[:1] == MARKED else pack_marked(unpack(stored), _ids(row))


def _unmarked(row) -> bytes | None:
    stored = bytes(row["xml"])
    return pack(unpack(stored, _ids(row))) if stored[:1] == MARKED else None


def _repack_associations(bind, convert) -> None:
    if bind.dialect.name != "postgresql":
        for rows in _associations(bind):
            updates = [{"p": row["patient_key"], "u": row["entry_uuid"], "x": new}
                       for row in rows if (new := convert(row)) is not None]
            if updates:
                bind.execute(sa.text("UPDATE associations SET xml = :x "
                                     "WHERE patient_key = :p AND entry_uuid = :u"), updates)
        return
    op.execute("CREATE TEMPORARY TABLE repack_associations (LIKE associations) ON COMMIT DROP")
    driver = bind.connection.driver_connection
    written = 0
    for rows in _associations(bind):
        columns = list(rows[0].keys())
        with driver.cursor() as cursor, cursor.copy(
                f"COPY repack_associations ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                new = convert(row)
                copy.write_row([new if c == "xml" and new is not None else row[c]
                                for c in columns])
                written += 1
    if written:
        op.execute("TRUNCATE associations")
        op.execute("INSERT INTO associations SELECT * FROM repack_associations "
                   "ORDER BY patient_key, entry_uuid")
    op.execute("DROP TABLE repack_associations")


def upgrade() -> None:
    bind = op.get_bind()
    _repack_associations(bind, _marked)
    op.create_table("code_schemes",
                    sa.Column("scheme_key", sa.Integer, primary_key=True, autoincrement=True),
                    sa.Column("scheme", CODE, nullable=False))
    op.create_index("ux_code_schemes_scheme", "code_schemes", ["scheme"], unique=True)
    every = " UNION ".join(f"SELECT {c} AS scheme FROM {table} WHERE {c} IS NOT NULL"
                           for table, columns in SCHEMES.items() for c in columns)
    bind.exec_driver_sql(f"INSERT INTO code_schemes (scheme) SELECT scheme FROM ({every}) s "
                         "ORDER BY scheme")
    key = "(SELECT k.scheme_key FROM code_schemes k WHERE k.scheme = {})"
    if bind.dialect.name == "postgresql":
        bind.exec_driver_sql("CREATE FUNCTION pg_temp.xds_scheme_key(text) RETURNS integer "
                             "LANGUAGE sql STABLE AS 'SELECT scheme_key FROM code_schemes "
                             "WHERE scheme = $1'")
        for table, columns in SCHEMES.items():
            changes = [f"ALTER COLUMN {c} TYPE integer USING pg_temp.xds_scheme_key({c})"
                       for c in columns]
            if table == "document_entries":
                changes.append(f"ALTER COLUMN hash TYPE bytea USING {_pg_pack('hash')}")
            bind.exec_driver_sql(f"ALTER TABLE {table} " + ", ".join(changes))
        bind.exec_driver_sql("DROP FUNCTION pg_temp.xds_scheme_key(text)")
        _unique_id_index(partial=True)
        for table in ("code_schemes", "associations", *SCHEMES):
            bind.exec_driver_sql(f"ANALYZE {table}")
        return
    bind.connection.driver_connection.create_function("xds_pack_digest", 1, pack_digest,
                                                      deterministic=True)
    for table, columns in SCHEMES.items():
        sets = [f"{c} = {key.format(c)}" for c in columns]
        if table == "document_entries":
            sets.append("hash = xds_pack_digest(hash)")
        bind.exec_driver_sql(f"UPDATE {table} SET " + ", ".join(sets))
        with op.batch_alter_table(table) as batch:
            for column in columns:
                batch.alter_column(column, type_=sa.Integer(), existing_type=CODE)
            if table == "document_entries":
                batch.alter_column("hash", type_=sa.LargeBinary(), existing_type=HASH_TEXT)
    _unique_id_index(partial=True)


def downgrade() -> None:
    bind = op.get_bind()
    _repack_associations(bind, _unmarked)
    scheme = "(SELECT k.scheme FROM code_schemes k WHERE k.scheme_key = {})"
    if bind.dialect.name == "postgresql":
        bind.exec_driver_sql("CREATE FUNCTION pg_temp.xds_scheme(integer) RETURNS text "
                             "LANGUAGE sql STABLE AS 'SELECT scheme FROM code_schemes "
                             "WHERE scheme_key = $1'")
        for table, columns in SCHEMES.items():
            changes = [f"ALTER COLUMN {c} TYPE varchar(256) USING pg_temp.xds_scheme({c})"
                       for c in columns]
            if table == "document_entries":
                changes.append(f"ALTER COLUMN hash TYPE varchar(40) USING {_pg_unpack('hash')}")
            bind.exec_driver_sql(f"ALTER TABLE {table} " + ", ".join(changes))
        bind.exec_driver_sql("DROP FUNCTION pg_temp.xds_scheme(integer)")
    else:
        bind.connection.driver_connection.create_function("xds_unpack_digest", 1, unpack_digest,
                                                          deterministic=True)
        for table, columns in SCHEMES.items():
            sets = [f"{c} = {scheme.format(c)}" for c in columns]
            if table == "document_entries":
                sets.append("hash = xds_unpack_digest(hash)")
            bind.exec_driver_sql(f"UPDATE {table} SET " + ", ".join(sets))
            with op.batch_alter_table(table) as batch:
                for column in columns:
                    batch.alter_column(column, type_=CODE, existing_type=sa.Integer())
                if table == "document_entries":
                    batch.alter_column("hash", type_=HASH_TEXT, existing_type=sa.LargeBinary())
    _unique_id_index(partial=False)
    op.drop_index("ux_code_schemes_scheme", "code_schemes")
    op.drop_table("code_schemes")
