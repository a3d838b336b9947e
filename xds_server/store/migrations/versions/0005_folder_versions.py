"""Folder versions (ITI-57 updates a Folder as a new version of the same logicalId).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("folders") as batch:
        batch.add_column(sa.Column("version", sa.String(16)))
    op.execute("UPDATE folders SET version = '1'")


def downgrade() -> None:
    with op.batch_alter_table("folders") as batch:
        batch.drop_column("version")
