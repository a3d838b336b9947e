"""The access policy's facts on each document row (visibility codes, author ids), filled from
the multi-valued table for documents registered before.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

VISIBILITY_SYSTEM = "1.2.250.1.213.1.1.4.13"


def upgrade() -> None:
    with op.batch_alter_table("document_entries") as batch:
        batch.add_column(sa.Column("visibility_codes", sa.String(256), nullable=False,
                                   server_default=""))
        batch.add_column(sa.Column("author_ids", sa.String(1024), nullable=False,
                                   server_default=""))
    postgres = op.get_bind().dialect.name == "postgresql"
    join = "string_agg({}, ' ')" if postgres else "group_concat({}, ' ')"
    author = "split_part(v.value, '^', 1)" if postgres else \
        "substr(v.value, 1, instr(v.value || '^', '^') - 1)"
    for column, kind, value, condition in (
            ("visibility_codes", "confidentiality_code", "v.value",
             f"AND v.scheme = '{VISIBILITY_SYSTEM}'"),
            ("author_ids", "author_person", author, "")):
        op.execute(f"UPDATE document_entries SET {column} = COALESCE((SELECT "
                   f"{join.format(value)} FROM object_values v WHERE v.patient_id = "
                   "document_entries.patient_id AND v.entry_uuid = document_entries.entry_uuid "
                   f"AND v.kind = '{kind}' {condition}), '')")


def downgrade() -> None:
    with op.batch_alter_table("document_entries") as batch:
        batch.drop_column("author_ids")
        batch.drop_column("visibility_codes")
