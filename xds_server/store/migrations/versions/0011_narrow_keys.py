"""Narrower keys (issue 20): every entryUUID and every column naming one (a logical id, an
association's ends, a document's submission set) kept as the UUID's 16 bytes instead of its
45-character text; availability statuses, document entry types, association types and index
kinds as small codes (store/keys.py says why and how; the codes are registry_columns.py's
tables); and each patient stored once: `patients` gets an integer `patient_key` (its primary
key; the patient id keeps a unique index), and every registry row carries that key in place of
the 43-byte patient id, as the leading column of its primary key and of every index that led
with the patient.

A registry row whose patient has no record (the registry registers only for an open record; a
load that skipped the feed could leave one) gets an open record first: every row keeps its
patient.

The conversion is written here as it is on the day of the migration (a migration is a fixed
conversion: it does not import the store's code, which may change):

    canonical `urn:uuid:` + lowercase UUID  →  its 16 bytes
    any other text                          →  its UTF-8 bytes, + 0xFF when that makes 16

PostgreSQL: one ALTER TABLE per table, all its columns at once: the table is written again
once (compact, without the old row versions) and its indexes rebuilt. SQLite: the values are
converted in place by a function of the connection, then each table is recreated with the
new column types (alembic's batch mode) and its indexes made again.

A status, entry type, association type or kind outside the tables stops the migration with its
name (none can be written by this registry; a row that holds one was not written by it).

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
    ("associations", ("entry_uuid", "source", "target"), ("status", "type")),
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
    "type": {"urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember": 1,
             "urn:ihe:iti:2007:AssociationType:RPLC": 2,
             "urn:ihe:iti:2007:AssociationType:APND": 3,
             "urn:ihe:iti:2007:AssociationType:XFRM": 4,
             "urn:ihe:iti:2007:AssociationType:XFRM_RPLC": 5,
             "urn:ihe:iti:2007:AssociationType:signs": 6,
             "urn:ihe:iti:2010:AssociationType:IsSnapshotOf": 7,
             "urn:ihe:iti:2010:AssociationType:UpdateAvailabilityStatus": 8,
             "urn:ihe:iti:2010:AssociationType:SubmitAssociation": 9,
             "urn:ihe:iti:2007:AssociationType:isSnapshotOf": 10},
}
# the indexes that lead with the patient: name → the columns after it
PATIENT_INDEXES = {
    "document_entries": {"ix_document_entries_patient_status": ("status", "creation_time"),
                         "ix_document_entries_logical_id": ("logical_id",)},
    "submission_sets": {"ix_submission_sets_patient_status": ("status", "submission_time")},
    "folders": {"ix_folders_patient_status": ("status", "last_update_time")},
    "associations": {"ix_associations_source": ("source",),
                     "ix_associations_target": ("target",)},
    "object_index": {},
}
# the 0010 types, for the downgrade
TEXT_TYPES = {"status": sa.String(64), "object_type": sa.String(64), "kind": sa.String(16),
              "type": sa.String(96)}
ID_TEXT = sa.String(64)
PATIENT = sa.String(256)

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


def _patients_without_record(bind) -> None:
    every = " UNION ".join(f"SELECT patient_id FROM {table}" for table, _, _ in TABLES)
    now = "now()" if bind.dialect.name == "postgresql" else "CURRENT_TIMESTAMP"
    bind.exec_driver_sql(f"INSERT INTO patients (patient_id, status, opened_at) SELECT "
                         f"r.patient_id, 'open', {now} FROM ({every}) r WHERE NOT EXISTS "
                         "(SELECT 1 FROM patients p WHERE p.patient_id = r.patient_id)")


def _primary_key(bind, table: str) -> str:
    return bind.exec_driver_sql(
        "SELECT conname FROM pg_constraint WHERE contype = 'p' AND conrelid = "
        f"'{table}'::regclass").scalar_one()


def _patients_table(name: str, keyed: bool) -> None:
    """`patients` as 0011 (keyed) or 0010 has it, under `name` (SQLite rebuilds it)."""
    op.create_table(
        name,
        *([sa.Column("patient_key", sa.Integer, primary_key=True, autoincrement=True),
           sa.Column("patient_id", PATIENT, nullable=False)] if keyed
          else [sa.Column("patient_id", PATIENT, primary_key=True)]),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True)),
        sa.Column("opposed_modes", sa.String(64), nullable=False, server_default=""))


def _sqlite_patients(keyed: bool) -> None:
    columns = "patient_id, status, opened_at, closed_at, opposed_modes"
    _patients_table("patients_0011", keyed)
    op.execute(f"INSERT INTO patients_0011 ({columns}) SELECT {columns} FROM patients "
               "ORDER BY patient_id")
    op.drop_table("patients")
    op.rename_table("patients_0011", "patients")
    if keyed:
        op.create_index("ux_patients_patient_id", "patients", ["patient_id"], unique=True)


def upgrade() -> None:
    bind = op.get_bind()
    _check_codes(bind)
    _patients_without_record(bind)
    if bind.dialect.name == "postgresql":
        bind.exec_driver_sql("ALTER TABLE patients ADD COLUMN patient_key integer "
                             "GENERATED BY DEFAULT AS IDENTITY")
        bind.exec_driver_sql(f"ALTER TABLE patients DROP CONSTRAINT "
                             f"{_primary_key(bind, 'patients')}, ADD PRIMARY KEY (patient_key), "
                             "ALTER COLUMN patient_id SET NOT NULL")
        bind.exec_driver_sql("CREATE UNIQUE INDEX ux_patients_patient_id ON patients "
                             "(patient_id)")
        bind.exec_driver_sql("CREATE FUNCTION pg_temp.xds_patient_key(text) RETURNS integer "
                             "LANGUAGE sql STABLE AS 'SELECT patient_key FROM patients "
                             "WHERE patient_id = $1'")
        for table, ids, coded in TABLES:
            bind.exec_driver_sql(f"ALTER TABLE {table} RENAME COLUMN patient_id TO patient_key")
            changes = ["ALTER COLUMN patient_key TYPE integer USING "
                       "pg_temp.xds_patient_key(patient_key)"] + [
                f"ALTER COLUMN {c} TYPE bytea USING {_pg_pack(c)}" for c in ids] + [
                f"ALTER COLUMN {c} TYPE smallint USING {_case(c, CODES[c])}" for c in coded]
            bind.exec_driver_sql(f"ALTER TABLE {table} " + ", ".join(changes))
        bind.exec_driver_sql("DROP FUNCTION pg_temp.xds_patient_key(text)")
        # a column whose type changed has lost its statistics: the planner gets them back now
        # rather than at autovacuum's next visit (a sample: seconds at any size)
        for table in ("patients", *(table for table, _, _ in TABLES)):
            bind.exec_driver_sql(f"ANALYZE {table}")
        return
    _sqlite_functions(bind)
    _sqlite_patients(keyed=True)
    for table, ids, coded in TABLES:
        sets = ["patient_id = (SELECT p.patient_key FROM patients p WHERE p.patient_id = "
                f"{table}.patient_id)"] + [f"{c} = xds_pack_id({c})" for c in ids] + [
            f"{c} = {_case(c, CODES[c])}" for c in coded]
        bind.exec_driver_sql(f"UPDATE {table} SET " + ", ".join(sets))
        for name in PATIENT_INDEXES[table]:
            op.drop_index(name, table)
        with op.batch_alter_table(table, recreate="always") as batch:
            batch.alter_column("patient_id", new_column_name="patient_key", type_=sa.Integer(),
                               existing_type=PATIENT, existing_nullable=False)
            for column in ids:
                batch.alter_column(column, type_=sa.LargeBinary(), existing_type=ID_TEXT)
            for column in coded:
                batch.alter_column(column, type_=sa.SmallInteger(),
                                   existing_type=TEXT_TYPES[column])
        for name, rest in PATIENT_INDEXES[table].items():
            op.create_index(name, table, ["patient_key", *rest])


def downgrade() -> None:
    bind = op.get_bind()
    back = {column: {code: value for value, code in codes.items()}
            for column, codes in CODES.items()}
    if bind.dialect.name == "postgresql":
        bind.exec_driver_sql("CREATE FUNCTION pg_temp.xds_patient_id(integer) RETURNS text "
                             "LANGUAGE sql STABLE AS 'SELECT patient_id FROM patients "
                             "WHERE patient_key = $1'")
        for table, ids, coded in TABLES:
            changes = ["ALTER COLUMN patient_key TYPE varchar(256) USING "
                       "pg_temp.xds_patient_id(patient_key)"] + [
                f"ALTER COLUMN {c} TYPE varchar(64) USING {_pg_unpack(c)}" for c in ids] + [
                f"ALTER COLUMN {c} TYPE varchar({TEXT_TYPES[c].length}) USING "
                f"{_case(c, back[c])}" for c in coded]
            bind.exec_driver_sql(f"ALTER TABLE {table} " + ", ".join(changes))
            bind.exec_driver_sql(f"ALTER TABLE {table} RENAME COLUMN patient_key TO patient_id")
        bind.exec_driver_sql("DROP FUNCTION pg_temp.xds_patient_id(integer)")
        bind.exec_driver_sql("DROP INDEX ux_patients_patient_id")
        bind.exec_driver_sql(f"ALTER TABLE patients DROP CONSTRAINT "
                             f"{_primary_key(bind, 'patients')}, ADD PRIMARY KEY (patient_id)")
        bind.exec_driver_sql("ALTER TABLE patients DROP COLUMN patient_key")
        return
    _sqlite_functions(bind)
    for table, ids, coded in TABLES:
        sets = ["patient_key = (SELECT p.patient_id FROM patients p WHERE p.patient_key = "
                f"{table}.patient_key)"] + [f"{c} = xds_unpack_id({c})" for c in ids] + [
            f"{c} = {_case(c, back[c])}" for c in coded]
        bind.exec_driver_sql(f"UPDATE {table} SET " + ", ".join(sets))
        for name in PATIENT_INDEXES[table]:
            op.drop_index(name, table)
        with op.batch_alter_table(table, recreate="always") as batch:
            batch.alter_column("patient_key", new_column_name="patient_id", type_=PATIENT,
                               existing_type=sa.Integer(), existing_nullable=False)
            for column in ids:
                batch.alter_column(column, type_=ID_TEXT, existing_type=sa.LargeBinary())
            for column in coded:
                batch.alter_column(column, type_=TEXT_TYPES[column],
                                   existing_type=sa.SmallInteger())
        for name, rest in PATIENT_INDEXES[table].items():
            op.create_index(name, table, ["patient_id", *rest])
    _sqlite_patients(keyed=False)
