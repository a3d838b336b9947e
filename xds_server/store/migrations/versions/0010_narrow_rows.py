"""Fewer bytes per entry (issue 20): the multi-valued attributes move from the object_values table
into value list columns of their object's row, and the registered XML of every object is
repacked by LZ4's high-compression mode (ebxml/packing.py: the same format 0x01 and dictionary,
26 % smaller).

object_values cost 1.7 KB an entry at 10^6 (its rows 0.6, a key over every column 0.85, the
lookup index 0.2); in the rows they cost ~0.1 KB, and a filter reads them in the row it already
reads (without the key, the EXISTS read a table page per value: 1.5-2.2x slower). Coded values
are kept as `code<US>scheme` (registry_columns.value_list).

The repacking is written here as it is on the day of the migration (a migration is a fixed
conversion; it reads the dictionary file, it does not import the ebXML front): raw rows (`<`)
are left as they are. On PostgreSQL each object table is written again, in its primary key's
order (see _repack). The downgrade leaves the XML packed as it is: 0009 reads it.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

from importlib import resources

import lz4.block
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

PATIENT = sa.String(256)
UUID = sa.String(64)
CODE = sa.String(256)
LZ4 = b"\x01"
LEVEL = 4
BATCH = 5000
OBJECT_TABLES = ("document_entries", "submission_sets", "folders", "associations")


def _dictionary() -> bytes:
    return (resources.files("xds_server.ebxml") / "dictionaries" / "ebrim-1.xml").read_bytes()


def _upgrade_xml(stored: bytes, dictionary: bytes) -> bytes | None:
    """An 0x01 row packed by the high-compression mode; None for a row to leave as it is."""
    if stored[:1] != LZ4:
        return None
    xml = lz4.block.decompress(stored[1:], dict=dictionary)
    packed = LZ4 + lz4.block.compress(xml, mode="high_compression", compression=LEVEL,
                                      store_size=True, dict=dictionary)
    return packed if len(packed) < len(stored) else None


def _batches(table: str):
    """Every row of an object table (all columns), by batches in primary key order."""
    bind = op.get_bind()
    last: tuple[str, str] | None = None
    while True:
        after = "WHERE (patient_id, entry_uuid) > (:p, :u) " if last else ""
        result = bind.execute(sa.text(f"SELECT * FROM {table} {after}ORDER BY patient_id, "
                                      f"entry_uuid LIMIT {BATCH}"),
                              {"p": last[0], "u": last[1]} if last else {})
        rows = result.mappings().all()
        if not rows:
            return
        last = (rows[-1]["patient_id"], rows[-1]["entry_uuid"])
        yield rows


def _repack(convert) -> None:
    """Every object row's XML through `convert` (None: the row stays as it is).

    PostgreSQL: the rows are written, converted, to a temporary table, the table is emptied
    (TRUNCATE gives it new files) and filled again in primary key order. Updating every row in
    place would leave the old versions in the table: the migration runs in one transaction,
    and neither VACUUM nor CLUSTER can drop versions that this transaction itself replaced.
    SQLite: updated in place (its free pages are reused)."""
    bind = op.get_bind()
    postgres = bind.dialect.name == "postgresql"
    for table in OBJECT_TABLES:
        if postgres:
            _rewrite(bind, table, convert)
            continue
        for rows in _batches(table):
            updates = [{"p": row["patient_id"], "u": row["entry_uuid"], "x": new}
                       for row in rows if (new := convert(bytes(row["xml"]))) is not None]
            if updates:
                bind.execute(sa.text(f"UPDATE {table} SET xml = :x "
                                     "WHERE patient_id = :p AND entry_uuid = :u"), updates)


def _rewrite(bind, table: str, convert) -> None:
    held = f"repack_{table}"
    op.execute(f"CREATE TEMPORARY TABLE {held} (LIKE {table}) ON COMMIT DROP")
    driver = bind.connection.driver_connection
    written = 0
    for rows in _batches(table):
        columns = list(rows[0].keys())
        with driver.cursor() as cursor, cursor.copy(
                f"COPY {held} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                new = convert(bytes(row["xml"]))
                copy.write_row([new if c == "xml" and new is not None else row[c]
                                for c in columns])
                written += 1
    if written:
        op.execute(f"TRUNCATE {table}")
        op.execute(f"INSERT INTO {table} SELECT * FROM {held} ORDER BY patient_id, entry_uuid")
    op.execute(f"DROP TABLE {held}")


# (table, column, kind, schemed): where each kind of object_values goes
VALUE_COLUMNS = (("document_entries", "author_persons", "author_person", False),
                 ("document_entries", "event_codes", "event_code", True),
                 ("document_entries", "confidentiality_codes", "confidentiality_code", True),
                 ("document_entries", "reference_ids", "reference_id", False),
                 ("submission_sets", "author_persons", "author_person", False),
                 ("folders", "codes", "folder_code", True))
VALUE_LIST = postgresql.ARRAY(sa.Text).with_variant(sa.JSON(none_as_null=True), "sqlite")


def _value(schemed: bool, postgres: bool) -> str:
    if not schemed:
        return "v.value"
    return "v.value || chr(31) || v.scheme" if postgres else "v.value || char(31) || v.scheme"


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table in ("document_entries", "submission_sets", "folders"):
        with op.batch_alter_table(table) as batch:
            for column in (c for t, c, _, _ in VALUE_COLUMNS if t == table):
                batch.add_column(sa.Column(column, VALUE_LIST))
    for table, column, kind, schemed in VALUE_COLUMNS:
        value = _value(schemed, postgres)
        if postgres:
            op.execute(f"UPDATE {table} t SET {column} = a.list FROM (SELECT v.patient_id, "
                       f"v.entry_uuid, array_agg({value} ORDER BY v.value, v.scheme) AS list "
                       f"FROM object_values v WHERE v.kind = '{kind}' GROUP BY 1, 2) a "
                       "WHERE t.patient_id = a.patient_id AND t.entry_uuid = a.entry_uuid")
        else:
            op.execute(f"UPDATE {table} SET {column} = (SELECT CASE WHEN count(*) > 0 THEN "
                       f"json_group_array({value}) END FROM object_values v WHERE "
                       f"v.patient_id = {table}.patient_id AND v.entry_uuid = "
                       f"{table}.entry_uuid AND v.kind = '{kind}')")
    op.drop_index("ix_object_values_lookup", "object_values")
    op.drop_table("object_values")
    dictionary = _dictionary()
    _repack(lambda stored: _upgrade_xml(stored, dictionary))


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    op.create_table(
        "object_values",
        *(sa.Column(name, kind, primary_key=True)
          for name, kind in (("patient_id", PATIENT), ("entry_uuid", UUID),
                             ("kind", sa.String(24)), ("value", sa.String(512)),
                             ("scheme", CODE))))
    op.create_index("ix_object_values_lookup", "object_values", ["patient_id", "kind", "value"])
    for table, column, kind, schemed in VALUE_COLUMNS:
        if postgres:
            each = f"unnest(t.{column}) AS e(value)"
            value, scheme = ("split_part(e.value, chr(31), 1)",
                             "split_part(e.value, chr(31), 2)") if schemed else ("e.value", "''")
        else:
            each = f"json_each(t.{column}) AS e"
            value, scheme = ("substr(e.value, 1, instr(e.value, char(31)) - 1)",
                             "substr(e.value, instr(e.value, char(31)) + 1)") if schemed \
                else ("e.value", "''")
        op.execute("INSERT INTO object_values (patient_id, entry_uuid, kind, value, scheme) "
                   f"SELECT DISTINCT t.patient_id, t.entry_uuid, '{kind}', {value}, {scheme} "
                   f"FROM {table} t, {each}")
    for table in ("document_entries", "submission_sets", "folders"):
        with op.batch_alter_table(table) as batch:
            for column in (c for t, c, _, _ in VALUE_COLUMNS if t == table):
                batch.drop_column(column)
