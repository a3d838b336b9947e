"""XDS metadata objects as plain dataclasses: what a submission says, free of XML and SQL.

Multi-valued HL7 strings (XCN, XON, XTN, CX) are kept as the strings the source sent: they are
returned exactly, and parsed only by the rules that check them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .vocabulary import APPROVED, DOC_STABLE


@dataclass(frozen=True)
class Code:
    """A coded value: ebRIM Classification nodeRepresentation, codingScheme slot, Name."""

    code: str
    scheme: str
    display: str = ""

    @property
    def query_form(self) -> str:
        """`code^^scheme`, the form stored queries use."""
        return f"{self.code}^^{self.scheme}"


@dataclass
class Author:
    person: str | None = None
    institutions: list[str] = field(default_factory=list)
    roles: list[str] = field(default_factory=list)
    specialties: list[str] = field(default_factory=list)
    telecoms: list[str] = field(default_factory=list)


@dataclass
class RegistryObject:
    """What every XDS object shares: ids, status, title and comments, extra slots."""

    entry_uuid: str
    unique_id: str = ""
    patient_id: str = ""
    status: str = APPROVED
    title: str | None = None
    comments: str | None = None
    logical_id: str | None = None
    version: str | None = None
    home: str | None = None
    extra_slots: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class DocumentEntry(RegistryObject):
    object_type: str = DOC_STABLE
    mime_type: str = ""
    class_code: Code | None = None
    type_code: Code | None = None
    format_code: Code | None = None
    healthcare_facility_type_code: Code | None = None
    practice_setting_code: Code | None = None
    confidentiality_codes: list[Code] = field(default_factory=list)
    event_codes: list[Code] = field(default_factory=list)
    authors: list[Author] = field(default_factory=list)
    creation_time: str | None = None
    service_start_time: str | None = None
    service_stop_time: str | None = None
    hash: str | None = None
    size: str | None = None
    language_code: str | None = None
    legal_authenticator: str | None = None
    repository_unique_id: str | None = None
    source_patient_id: str | None = None
    source_patient_info: list[str] = field(default_factory=list)
    uri: str | None = None
    reference_ids: list[str] = field(default_factory=list)
    document_availability: str | None = None


@dataclass
class SubmissionSet(RegistryObject):
    source_id: str = ""
    submission_time: str | None = None
    content_type_code: Code | None = None
    authors: list[Author] = field(default_factory=list)
    intended_recipients: list[str] = field(default_factory=list)


@dataclass
class Folder(RegistryObject):
    codes: list[Code] = field(default_factory=list)
    last_update_time: str | None = None


@dataclass
class Association:
    entry_uuid: str
    type: str
    source: str
    target: str
    status: str = APPROVED
    slots: dict[str, list[str]] = field(default_factory=dict)
    home: str | None = None

    def slot(self, name: str) -> str | None:
        values = self.slots.get(name)
        return values[0] if values else None


@dataclass
class Submission:
    """One ITI-42 SubmitObjectsRequest after decoding: ids are urn:uuid: values throughout.

    `symbolic_ids` maps each symbolic id the source used to the UUID it was given, so errors can
    speak the source's language.
    """

    submission_set: SubmissionSet | None
    documents: list[DocumentEntry] = field(default_factory=list)
    folders: list[Folder] = field(default_factory=list)
    associations: list[Association] = field(default_factory=list)
    object_refs: list[str] = field(default_factory=list)
    symbolic_ids: dict[str, str] = field(default_factory=dict)

    def source_name(self, entry_uuid: str) -> str:
        """The id as the source wrote it (symbolic when it was)."""
        for symbolic, uuid in self.symbolic_ids.items():
            if uuid == entry_uuid:
                return symbolic
        return entry_uuid
