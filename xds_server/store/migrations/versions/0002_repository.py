"""Repository documents: what this repository holds, by documentUniqueId.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "repository_documents",
        sa.Column("unique_id", sa.String(128), primary_key=True),
        sa.Column("blob_key", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("hash", sa.String(40), nullable=False),
        sa.Column("mime_type", sa.String(128), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("stored_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_repository_documents_blob_key", "repository_documents", ["blob_key"])


def downgrade() -> None:
    op.drop_table("repository_documents")
