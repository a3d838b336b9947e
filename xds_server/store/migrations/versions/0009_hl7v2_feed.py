"""HL7 v2 feed: the patients' other identifiers (local PI, merged INS) and the message log that
makes a message sent twice act once.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "patient_identifiers",
        sa.Column("patient_id", sa.String(256), primary_key=True),
        sa.Column("identifier", sa.String(256), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_patient_identifiers_identifier", "patient_identifiers",
                    ["identifier"])
    op.create_table(
        "hl7_messages",
        sa.Column("sender", sa.String(256), primary_key=True),
        sa.Column("control_id", sa.String(64), primary_key=True),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("ack", sa.LargeBinary, nullable=False),
        sa.Column("patient_id", sa.String(256)),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("hl7_messages")
    op.drop_index("ix_patient_identifiers_identifier", "patient_identifiers")
    op.drop_table("patient_identifiers")
