"""Access control and audit: patients' oppositions to emergency access, authorisations, and
the audit trail.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("patients") as batch:
        batch.add_column(sa.Column("opposed_modes", sa.String(64), nullable=False,
                                   server_default=""))
    op.create_table(
        "authorizations",
        sa.Column("patient_id", sa.String(256), primary_key=True),
        sa.Column("professional_id", sa.String(64), primary_key=True),
        sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "audit_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
                  autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("transaction", sa.String(16), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("subject_id", sa.String(64), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("structure_id", sa.String(64), nullable=False),
        sa.Column("purpose_of_use", sa.String(32), nullable=False),
        sa.Column("patient_id", sa.String(256)),
        sa.Column("documents", sa.Text, nullable=False),
    )
    op.create_index("ix_audit_events_patient", "audit_events", ["patient_id", "at"])
    op.create_index("ix_audit_events_at", "audit_events", ["at"])


def downgrade() -> None:
    op.drop_table("audit_events")
    op.drop_table("authorizations")
    with op.batch_alter_table("patients") as batch:
        batch.drop_column("opposed_modes")
