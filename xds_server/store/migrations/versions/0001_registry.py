"""Registry tables: patients, object index, document entries, submission sets, folders,
associations, multi-valued attributes.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

PATIENT = sa.String(256)
UUID = sa.String(64)
CODE = sa.String(256)
DTM = sa.String(14)


def _object_columns() -> list[sa.Column]:
    return [sa.Column("patient_id", PATIENT, primary_key=True),
            sa.Column("entry_uuid", UUID, primary_key=True)]


def upgrade() -> None:
    op.create_table(
        "patients",
        sa.Column("patient_id", PATIENT, primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True)),
    )
    op.create_table(
        "object_index",
        sa.Column("entry_uuid", UUID, primary_key=True),
        sa.Column("unique_id", sa.String(256)),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("patient_id", PATIENT, nullable=False),
    )
    op.create_index("ix_object_index_unique_id", "object_index", ["unique_id"])
    codes = []
    for name in ("class", "type", "format", "facility", "practice"):
        codes += [sa.Column(f"{name}_code", CODE), sa.Column(f"{name}_scheme", CODE)]
    op.create_table(
        "document_entries", *_object_columns(),
        sa.Column("unique_id", sa.String(128), nullable=False),
        sa.Column("logical_id", UUID, nullable=False),
        sa.Column("version", sa.String(16)),
        sa.Column("status", sa.String(64), nullable=False),
        sa.Column("object_type", UUID, nullable=False),
        *codes,
        sa.Column("creation_time", DTM),
        sa.Column("service_start_time", DTM),
        sa.Column("service_stop_time", DTM),
        sa.Column("repository_unique_id", sa.String(64)),
        sa.Column("hash", sa.String(40)),
        sa.Column("size", sa.BigInteger),
        sa.Column("mime_type", sa.String(128)),
        sa.Column("submission_set", UUID),
        sa.Column("registered_seq", sa.BigInteger, nullable=False),
        sa.Column("xml", sa.LargeBinary, nullable=False),
    )
    op.create_index("ix_document_entries_patient_status", "document_entries",
                    ["patient_id", "status", "creation_time"])
    op.create_index("ix_document_entries_logical_id", "document_entries",
                    ["patient_id", "logical_id"])
    op.create_table(
        "submission_sets", *_object_columns(),
        sa.Column("unique_id", sa.String(128), nullable=False),
        sa.Column("source_id", sa.String(128)),
        sa.Column("submission_time", DTM),
        sa.Column("content_type_code", CODE),
        sa.Column("content_type_scheme", CODE),
        sa.Column("status", sa.String(64), nullable=False),
        sa.Column("registered_seq", sa.BigInteger, nullable=False),
        sa.Column("xml", sa.LargeBinary, nullable=False),
    )
    op.create_index("ix_submission_sets_patient_status", "submission_sets",
                    ["patient_id", "status", "submission_time"])
    op.create_table(
        "folders", *_object_columns(),
        sa.Column("unique_id", sa.String(128), nullable=False),
        sa.Column("logical_id", UUID, nullable=False),
        sa.Column("last_update_time", DTM),
        sa.Column("status", sa.String(64), nullable=False),
        sa.Column("registered_seq", sa.BigInteger, nullable=False),
        sa.Column("xml", sa.LargeBinary, nullable=False),
    )
    op.create_index("ix_folders_patient_status", "folders",
                    ["patient_id", "status", "last_update_time"])
    op.create_table(
        "associations", *_object_columns(),
        sa.Column("type", sa.String(96), nullable=False),
        sa.Column("source", UUID, nullable=False),
        sa.Column("target", UUID, nullable=False),
        sa.Column("status", sa.String(64), nullable=False),
        sa.Column("registered_seq", sa.BigInteger, nullable=False),
        sa.Column("xml", sa.LargeBinary, nullable=False),
    )
    op.create_index("ix_associations_source", "associations", ["patient_id", "source"])
    op.create_index("ix_associations_target", "associations", ["patient_id", "target"])
    op.create_table(
        "object_values", *_object_columns(),
        sa.Column("kind", sa.String(24), primary_key=True),
        sa.Column("value", sa.String(512), primary_key=True),
        sa.Column("scheme", CODE, primary_key=True),
    )
    op.create_index("ix_object_values_lookup", "object_values", ["patient_id", "kind", "value"])


def downgrade() -> None:
    for table in ("object_values", "associations", "folders", "submission_sets",
                  "document_entries", "object_index", "patients"):
        op.drop_table(table)
