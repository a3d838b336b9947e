"""The repository keeps who stored each document (issue 18 R3): the patient (registry key), the
submitter's national id and organisation, the submission set's sourceId.

IHE RMD removes the metadata first (ITI-62) and the bytes after (ITI-86); by then the registry
no longer says whose the bytes are, so the repository decides on what it kept at ITI-41 time.
Rows stored before this migration keep empty values: only an administrator may remove them.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

COLUMNS = ("patient_id", "submitter", "organisation", "source_id")


def upgrade() -> None:
    with op.batch_alter_table("repository_documents") as batch:
        for column in COLUMNS:
            batch.add_column(sa.Column(column, sa.String(256), nullable=False,
                                       server_default=""))
    op.create_index("ix_repository_documents_patient_id", "repository_documents",
                    ["patient_id"])


def downgrade() -> None:
    op.drop_index("ix_repository_documents_patient_id", "repository_documents")
    with op.batch_alter_table("repository_documents") as batch:
        for column in COLUMNS:
            batch.drop_column(column)
