"""Where each metadata attribute lives on the wire, as tables the codec reads in both directions.

One row per attribute: the decoder and the encoder walk the same rows, so what is read is what
is written (the round-trip property tests hold them to it).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from ..model import vocabulary as v


@dataclass(frozen=True)
class CodeField:
    scheme: str        # classificationScheme UUID
    attribute: str     # model attribute name
    multiple: bool


@dataclass(frozen=True)
class SlotField:
    slot: str
    attribute: str
    multiple: bool


def written_slots(obj: object, slots: Iterable[SlotField]) -> Iterator[tuple[str, list]]:
    """(slot name, values) of each slot `obj` has: an empty list or a None is no slot at all,
    for every writer (the lxml encoder and the stored-text writer must agree byte for byte)."""
    for slot_field in slots:
        value = getattr(obj, slot_field.attribute)
        if slot_field.multiple and value:
            yield slot_field.slot, value
        elif not slot_field.multiple and value is not None:
            yield slot_field.slot, [value]


@dataclass(frozen=True)
class IdField:
    scheme: str        # identificationScheme UUID
    attribute: str
    name: str          # the ExternalIdentifier's Name, as IHE writes it


DOCUMENT_CODES = (
    CodeField(v.DE_CLASS_CODE, "class_code", False),
    CodeField(v.DE_CONFIDENTIALITY_CODE, "confidentiality_codes", True),
    CodeField(v.DE_EVENT_CODE, "event_codes", True),
    CodeField(v.DE_FORMAT_CODE, "format_code", False),
    CodeField(v.DE_FACILITY_TYPE_CODE, "healthcare_facility_type_code", False),
    CodeField(v.DE_PRACTICE_SETTING_CODE, "practice_setting_code", False),
    CodeField(v.DE_TYPE_CODE, "type_code", False),
)
DOCUMENT_SLOTS = (
    SlotField("creationTime", "creation_time", False),
    SlotField("hash", "hash", False),
    SlotField("languageCode", "language_code", False),
    SlotField("legalAuthenticator", "legal_authenticator", False),
    SlotField("repositoryUniqueId", "repository_unique_id", False),
    SlotField("serviceStartTime", "service_start_time", False),
    SlotField("serviceStopTime", "service_stop_time", False),
    SlotField("size", "size", False),
    SlotField("sourcePatientId", "source_patient_id", False),
    SlotField("sourcePatientInfo", "source_patient_info", True),
    SlotField("URI", "uri", False),
    SlotField(v.REFERENCE_ID_LIST, "reference_ids", True),
    SlotField("documentAvailability", "document_availability", False),
)
DOCUMENT_IDS = (
    IdField(v.DE_PATIENT_ID, "patient_id", "XDSDocumentEntry.patientId"),
    IdField(v.DE_UNIQUE_ID, "unique_id", "XDSDocumentEntry.uniqueId"),
)

SUBMISSION_SET_CODES = (CodeField(v.SS_CONTENT_TYPE_CODE, "content_type_code", False),)
SUBMISSION_SET_SLOTS = (
    SlotField("submissionTime", "submission_time", False),
    SlotField("intendedRecipient", "intended_recipients", True),
)
SUBMISSION_SET_IDS = (
    IdField(v.SS_UNIQUE_ID, "unique_id", "XDSSubmissionSet.uniqueId"),
    IdField(v.SS_SOURCE_ID, "source_id", "XDSSubmissionSet.sourceId"),
    IdField(v.SS_PATIENT_ID, "patient_id", "XDSSubmissionSet.patientId"),
)

FOLDER_CODES = (CodeField(v.FOL_CODE_LIST, "codes", True),)
FOLDER_SLOTS = (SlotField("lastUpdateTime", "last_update_time", False),)
FOLDER_IDS = (
    IdField(v.FOL_PATIENT_ID, "patient_id", "XDSFolder.patientId"),
    IdField(v.FOL_UNIQUE_ID, "unique_id", "XDSFolder.uniqueId"),
)

AUTHOR_SLOTS = (
    SlotField("authorPerson", "person", False),
    SlotField("authorInstitution", "institutions", True),
    SlotField("authorRole", "roles", True),
    SlotField("authorSpecialty", "specialties", True),
    SlotField("authorTelecommunication", "telecoms", True),
)


@dataclass(frozen=True)
class ObjectLayout:
    codes: tuple[CodeField, ...]
    slots: tuple[SlotField, ...]
    ids: tuple[IdField, ...]
    author_scheme: str | None


DOCUMENT_LAYOUT = ObjectLayout(DOCUMENT_CODES, DOCUMENT_SLOTS, DOCUMENT_IDS, v.DE_AUTHOR)
SUBMISSION_SET_LAYOUT = ObjectLayout(SUBMISSION_SET_CODES, SUBMISSION_SET_SLOTS,
                                     SUBMISSION_SET_IDS, v.SS_AUTHOR)
FOLDER_LAYOUT = ObjectLayout(FOLDER_CODES, FOLDER_SLOTS, FOLDER_IDS, None)
