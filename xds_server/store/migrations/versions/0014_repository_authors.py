"""The repository keeps each document's authors (issue 18, outsider M1): ITI-62 lets an author
remove a document's registry entries, and ITI-86 must then let the same person remove its
bytes; by then the registry no longer says who wrote them, so the repository keeps the authors'
national ids of the entry it stored (space-separated, as the registry's `author_ids`).

Rows already held take the authors of the first registry entry of their uniqueId (the one that
stored the bytes: a later copy naming another author gives no claim on them), when the registry
is in this database; otherwise they stay empty (the submitter's and administrators' alone).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("repository_documents") as batch:
        batch.add_column(sa.Column("authors", sa.String(1024), nullable=False,
                                   server_default=""))
    op.execute("UPDATE repository_documents SET authors = COALESCE(("
               "SELECT d.author_ids FROM document_entries d "
               "WHERE d.unique_id = repository_documents.unique_id "
               "ORDER BY d.registered_seq LIMIT 1), '')")


def downgrade() -> None:
    with op.batch_alter_table("repository_documents") as batch:
        batch.drop_column("authors")
