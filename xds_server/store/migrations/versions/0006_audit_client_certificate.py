"""The calling system in the audit trail: its TLS client certificate's subject and serial.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_events") as batch:
        batch.add_column(sa.Column("client_subject", sa.String(512), nullable=False,
                                   server_default=""))
        batch.add_column(sa.Column("client_serial", sa.String(64), nullable=False,
                                   server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("audit_events") as batch:
        batch.drop_column("client_serial")
        batch.drop_column("client_subject")
