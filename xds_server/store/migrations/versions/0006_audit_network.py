"""The audit trail records the network caller (its address, its TLS client subject), the
endpoint called, and what the transaction's audit message names beyond documents (the
submission set's uniqueId, the stored query's id): IHE ITI TF-2 audit tables.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

COLUMNS = (("client_address", sa.String(64)), ("client_subject", sa.String(256)),
           ("endpoint", sa.String(256)), ("detail", sa.Text()))


def upgrade() -> None:
    with op.batch_alter_table("audit_events") as batch:
        for name, kind in COLUMNS:
            batch.add_column(sa.Column(name, kind, nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("audit_events") as batch:
        for name, _ in COLUMNS:
            batch.drop_column(name)
