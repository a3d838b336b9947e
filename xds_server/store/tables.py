"""Registry tables (SQLAlchemy Core), the same on SQLite and PostgreSQL.

Every patient-scoped table starts its primary key with `patient_key` (the patient's integer key
in `patients`, 0011), the sharding key at national scale (hash partitions / Citus): a query for
one patient never crosses shards. The only
cross-patient lookups, by entryUUID and uniqueId, go through the narrow `object_index` table.
Each object row keeps the ebRIM XML it was registered with, so LeafClass answers are returned
as registered rather than re-derived.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    false,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY

from .keys import ASSOCIATION_TYPE, KIND, OBJECT_TYPE, STATUS, Digest, EntryId

metadata = MetaData()

PATIENT = String(256)
PATIENT_KEY = Integer
# an entryUUID (or another object's id): its 16 bytes, or its text when it is not a lowercase
# urn:uuid: (store/keys.py, 0011)
UUID = EntryId()
CODE = String(256)
# a code's scheme (an OID, 20-30 bytes, five in a document row): its key in `code_schemes` (0013)
SCHEME = Integer
DTM = String(14)
# A multi-valued attribute (event codes, authors...) in its object's row: a text[] on PostgreSQL,
# a JSON array on SQLite, NULL when empty; each value as registry_columns.value_list writes it.
VALUE_LIST = ARRAY(Text).with_variant(JSON(none_as_null=True), "sqlite")

# Every registry row carries its patient's `patient_key` (4 bytes) rather than the patient id
# (44 bytes with its length byte), in the row and in every index, the key leading each (0011).
# A key, once given, is the patient's for good (an A40 merge moves the merged record's rows to
# the survivor's key; a record forgotten holds no rows).
patients = Table(
    "patients", metadata,
    Column("patient_key", PATIENT_KEY, primary_key=True, autoincrement=True),
    Column("patient_id", PATIENT, nullable=False),
    Column("status", String(16), nullable=False),   # open | closed | merged (A40)
    Column("opened_at", DateTime(timezone=True), nullable=False),
    Column("closed_at", DateTime(timezone=True)),
    # emergency access modes the patient refused (space-separated: bris_de_glace centre_15)
    Column("opposed_modes", String(64), nullable=False, server_default=""),
    Index("ux_patients_patient_id", "patient_id", unique=True),
)

# A patient's authorisation for a professional (national id) to read their record.
authorizations = Table(
    "authorizations", metadata,
    Column("patient_id", PATIENT, primary_key=True),
    Column("professional_id", String(64), primary_key=True),
    Column("granted_at", DateTime(timezone=True), nullable=False),
)

# The patient's other identifiers (HL7 v2 PAM-FR feed): the local ids (PI) an establishment
# knows the patient by, and the INS of records merged into this one (A40), so a message naming
# either finds the record. Keyed by the patient; looked up by identifier.
patient_identifiers = Table(
    "patient_identifiers", metadata,
    Column("patient_id", PATIENT, primary_key=True),
    Column("identifier", PATIENT, primary_key=True),     # CX: id^^^&OID&ISO (or NS&OID&type)
    Column("kind", String(16), nullable=False),           # local | merged
    Column("assigned_at", DateTime(timezone=True), nullable=False),
    Index("ix_patient_identifiers_identifier", "identifier"),
)

# Every HL7 v2 message acted on, by sender and control id (MSH-3/4, MSH-10), with the digest of
# its content and the ACK it was given: a message sent again after a lost ACK gets the same
# ACK and no second effect; the same control id with other content is refused. Written in the
# transaction of the message's effect. Not a patient-scoped row: a message log.
hl7_messages = Table(
    "hl7_messages", metadata,
    Column("sender", String(256), primary_key=True),
    Column("control_id", String(64), primary_key=True),
    Column("digest", String(64), nullable=False),
    Column("ack", LargeBinary, nullable=False),
    Column("patient_id", PATIENT),
    Column("received_at", DateTime(timezone=True), nullable=False),
)

# One row per transaction: who did what on which patient's record, with what outcome. Written
# in the database transaction of the change it describes.
audit_events = Table(
    "audit_events", metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
           autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("request_id", String(64), nullable=False),
    Column("transaction", String(16), nullable=False),
    Column("action", String(16), nullable=False),        # C create, R read, U update, D delete
    Column("outcome", String(16), nullable=False),
    Column("subject_id", String(64), nullable=False),
    Column("role", String(32), nullable=False),
    Column("structure_id", String(64), nullable=False),
    Column("purpose_of_use", String(32), nullable=False),
    Column("patient_id", PATIENT),
    Column("documents", Text, nullable=False),           # uniqueIds, space-separated
    # the network caller and the endpoint it called (ATNA Source / Destination participants)
    Column("client_address", String(64), nullable=False, server_default=""),
    Column("client_subject", String(256), nullable=False, server_default=""),
    Column("client_serial", String(64), nullable=False, server_default=""),   # 0007
    Column("endpoint", String(256), nullable=False, server_default=""),
    Column("detail", Text, nullable=False, server_default=""),   # key=value, one per line
    # still to send to the audit record repository (XDS_ATNA_URL): the durable ATNA queue
    Column("atna_pending", Boolean, nullable=False, server_default=false()),   # 0008
    Index("ix_audit_events_patient", "patient_id", "at"),
    Index("ix_audit_events_at", "at"),
    # only the rows still to send: the queue's index stays as small as the queue
    Index("ix_audit_events_atna_pending", "id", postgresql_where=text("atna_pending"),
          sqlite_where=text("atna_pending")),
)

# The coding schemes the registry's code columns name, each stored once (0013): a row keeps the
# scheme's key (4 bytes) rather than its OID (20-30 bytes), five times in a document row. A key,
# once given, is the scheme's for good; schemes are added by the registrations that name them
# (registry_store.register) and never removed. Not patient-scoped: a vocabulary.
code_schemes = Table(
    "code_schemes", metadata,
    Column("scheme_key", Integer, primary_key=True, autoincrement=True),
    Column("scheme", CODE, nullable=False),
    Index("ux_code_schemes_scheme", "scheme", unique=True),
)

object_index = Table(
    "object_index", metadata,
    Column("entry_uuid", UUID, primary_key=True),
    Column("unique_id", String(256)),
    Column("kind", KIND, nullable=False),  # document, submission_set, folder, association
    Column("patient_key", PATIENT_KEY, nullable=False),
    # associations have no uniqueId: only the rows with one are indexed (0013), and every lookup
    # compares it with a value, which implies NOT NULL (both databases then use the index)
    Index("ix_object_index_unique_id", "unique_id",
          postgresql_where=text("unique_id IS NOT NULL"),
          sqlite_where=text("unique_id IS NOT NULL")),
)

document_entries = Table(
    "document_entries", metadata,
    Column("patient_key", PATIENT_KEY, primary_key=True, autoincrement=False),
    Column("entry_uuid", UUID, primary_key=True),
    Column("unique_id", String(128), nullable=False),
    Column("logical_id", UUID, nullable=False),
    Column("version", String(16)),
    Column("status", STATUS, nullable=False),
    Column("object_type", OBJECT_TYPE, nullable=False),
    Column("class_code", CODE), Column("class_scheme", SCHEME),
    Column("type_code", CODE), Column("type_scheme", SCHEME),
    Column("format_code", CODE), Column("format_scheme", SCHEME),
    Column("facility_code", CODE), Column("facility_scheme", SCHEME),
    Column("practice_code", CODE), Column("practice_scheme", SCHEME),
    Column("creation_time", DTM),
    Column("service_start_time", DTM),
    Column("service_stop_time", DTM),
    Column("repository_unique_id", String(64)),
    Column("hash", Digest()),     # its 20 bytes (store/keys.py, 0013)
    Column("size", BigInteger),
    Column("mime_type", String(128)),
    Column("submission_set", UUID),
    Column("registered_seq", BigInteger, nullable=False),
    Column("xml", LargeBinary, nullable=False),
    # what the access policy reads on every authenticated query, kept beside the row: the DMP
    # visibility codes (1.2.250.1.213.1.1.4.13) and the authors' ids, space-separated
    Column("visibility_codes", String(256), nullable=False, server_default=""),
    Column("author_ids", String(1024), nullable=False, server_default=""),
    # the multi-valued attributes the Find* filters read, in the row they filter (0010)
    Column("author_persons", VALUE_LIST),
    Column("event_codes", VALUE_LIST),
    Column("confidentiality_codes", VALUE_LIST),
    Column("reference_ids", VALUE_LIST),
    Index("ix_document_entries_patient_status", "patient_key", "status", "creation_time"),
    Index("ix_document_entries_logical_id", "patient_key", "logical_id"),
)

submission_sets = Table(
    "submission_sets", metadata,
    Column("patient_key", PATIENT_KEY, primary_key=True, autoincrement=False),
    Column("entry_uuid", UUID, primary_key=True),
    Column("unique_id", String(128), nullable=False),
    Column("source_id", String(128)),
    Column("submission_time", DTM),
    Column("content_type_code", CODE), Column("content_type_scheme", SCHEME),
    Column("status", STATUS, nullable=False),
    Column("registered_seq", BigInteger, nullable=False),
    Column("xml", LargeBinary, nullable=False),
    Column("author_persons", VALUE_LIST),
    Index("ix_submission_sets_patient_status", "patient_key", "status", "submission_time"),
)

folders = Table(
    "folders", metadata,
    Column("patient_key", PATIENT_KEY, primary_key=True, autoincrement=False),
    Column("entry_uuid", UUID, primary_key=True),
    Column("unique_id", String(128), nullable=False),
    Column("logical_id", UUID, nullable=False),
    Column("version", String(16)),
    Column("last_update_time", DTM),
    Column("status", STATUS, nullable=False),
    Column("registered_seq", BigInteger, nullable=False),
    Column("xml", LargeBinary, nullable=False),
    Column("codes", VALUE_LIST),
    Index("ix_folders_patient_status", "patient_key", "status", "last_update_time"),
)

associations = Table(
    "associations", metadata,
    Column("patient_key", PATIENT_KEY, primary_key=True, autoincrement=False),
    Column("entry_uuid", UUID, primary_key=True),
    Column("type", ASSOCIATION_TYPE, nullable=False),
    Column("source", UUID, nullable=False),
    Column("target", UUID, nullable=False),
    Column("status", STATUS, nullable=False),
    Column("registered_seq", BigInteger, nullable=False),
    Column("xml", LargeBinary, nullable=False),
    Index("ix_associations_source", "patient_key", "source"),
    Index("ix_associations_target", "patient_key", "target"),
)

# The repository's own record of the documents it holds, by documentUniqueId (how ITI-43 asks).
# `state` is 'pending' while a remote registry is being asked, 'committed' once registered.
repository_documents = Table(
    "repository_documents", metadata,
    Column("unique_id", String(128), primary_key=True),
    Column("blob_key", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("hash", String(40), nullable=False),
    Column("mime_type", String(128), nullable=False),
    Column("state", String(16), nullable=False),
    Column("stored_at", DateTime(timezone=True), nullable=False),
    # who stored it (model/held.py): ITI-86's permission once ITI-62 removed the metadata
    Column("patient_id", String(256), nullable=False, server_default=""),
    Column("submitter", String(256), nullable=False, server_default=""),
    Column("organisation", String(256), nullable=False, server_default=""),
    Column("source_id", String(256), nullable=False, server_default=""),
    # the authors' national ids, space-separated (0014): whoever may remove the registry
    # entries (ITI-62: an author) may then remove the bytes
    Column("authors", String(1024), nullable=False, server_default=""),
    Index("ix_repository_documents_blob_key", "blob_key"),
    Index("ix_repository_documents_patient_id", "patient_id"),
)

OBJECT_TABLES = {"document": document_entries, "submission_set": submission_sets,
                 "folder": folders, "association": associations}
