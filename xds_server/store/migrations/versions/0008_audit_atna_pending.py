"""The ATNA queue in the audit trail itself: a record written while XDS_ATNA_URL is set is
marked pending until the audit record repository has it, with an index of the pending rows
only (the queue's index is as small as the queue, whatever the trail's size).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_events") as batch:
        batch.add_column(sa.Column("atna_pending", sa.Boolean, nullable=False,
                                   server_default=sa.false()))
    op.create_index("ix_audit_events_atna_pending", "audit_events", ["id"],
                    postgresql_where=sa.text("atna_pending"),
                    sqlite_where=sa.text("atna_pending"))


def downgrade() -> None:
    op.drop_index("ix_audit_events_atna_pending", "audit_events")
    with op.batch_alter_table("audit_events") as batch:
        batch.drop_column("atna_pending")
