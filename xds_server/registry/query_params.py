"""The 14 stored queries of ITI-18 and their parameters, declared as tables (after IPF's
QueryRules): which parameter is required, which takes several values, which may repeat (AND),
and of what type. The validator and the executor read the same table.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Kind(Enum):
    STRING = "string"
    TIME = "time"        # DTM, compared From <= t < To
    CODE = "code"        # code^^scheme
    STATUS = "status"    # availability status URN
    UUID = "uuid"
    PATTERN = "pattern"  # SQL LIKE pattern (% and _)
    ENTRY_TYPE = "entry_type"
    INTEGER = "integer"


@dataclass(frozen=True)
class Param:
    name: str
    kind: Kind
    required: bool = False
    multiple: bool = False   # one slot may hold a list (OR)
    repeatable: bool = False  # several slots allowed (AND of ORs)


@dataclass(frozen=True)
class QueryDef:
    name: str
    id: str
    params: tuple[Param, ...]
    # groups of parameters of which exactly one must be given
    one_of: tuple[tuple[str, ...], ...] = ()

    def param(self, name: str) -> Param | None:
        return next((p for p in self.params if p.name == name), None)


def _p(name: str, kind: Kind, *flags: str) -> Param:
    return Param(name, kind, "R" in flags, "M" in flags, "AND" in flags)


DE = "$XDSDocumentEntry"
CODE, TIME, STATUS = Kind.CODE, Kind.TIME, Kind.STATUS

_FIND_DOCUMENTS = (
    _p(f"{DE}PatientId", Kind.STRING, "R"),
    _p(f"{DE}Status", STATUS, "R", "M"),
    _p(f"{DE}ClassCode", CODE, "M"),
    _p(f"{DE}TypeCode", CODE, "M"),
    _p(f"{DE}PracticeSettingCode", CODE, "M"),
    _p(f"{DE}HealthcareFacilityTypeCode", CODE, "M"),
    _p(f"{DE}FormatCode", CODE, "M"),
    _p(f"{DE}EventCodeList", CODE, "M", "AND"),
    _p(f"{DE}ConfidentialityCode", CODE, "M", "AND"),
    _p(f"{DE}AuthorPerson", Kind.PATTERN, "M"),
    _p(f"{DE}CreationTimeFrom", TIME), _p(f"{DE}CreationTimeTo", TIME),
    _p(f"{DE}ServiceStartTimeFrom", TIME), _p(f"{DE}ServiceStartTimeTo", TIME),
    _p(f"{DE}ServiceStopTimeFrom", TIME), _p(f"{DE}ServiceStopTimeTo", TIME),
    _p(f"{DE}Type", Kind.ENTRY_TYPE, "M"),
)
_CONTENT_FILTERS = (
    _p(f"{DE}FormatCode", CODE, "M"),
    _p(f"{DE}ConfidentialityCode", CODE, "M", "AND"),
    _p(f"{DE}Type", Kind.ENTRY_TYPE, "M"),
)
_BY_ID = lambda prefix: (  # noqa: E731 - a table helper
    _p(f"{prefix}EntryUUID", Kind.UUID, "M"),
    _p(f"{prefix}UniqueId", Kind.STRING, "M"),
    _p(f"{prefix}LogicalID", Kind.UUID, "M"),
)

_QUERIES: tuple[QueryDef, ...] = (
    QueryDef("FindDocuments", "urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d", _FIND_DOCUMENTS),
    QueryDef("FindDocumentsByReferenceId", "urn:uuid:12941a89-e02e-4be5-967c-ce4bfc8fe492",
             (*_FIND_DOCUMENTS, _p(f"{DE}ReferenceIdList", Kind.STRING, "R", "M"))),
    QueryDef("FindSubmissionSets", "urn:uuid:f26abbcb-ac74-4422-8a30-edb644bbc1a9", (
        _p("$XDSSubmissionSetPatientId", Kind.STRING, "R"),
        _p("$XDSSubmissionSetStatus", STATUS, "R", "M"),
        _p("$XDSSubmissionSetSourceId", Kind.STRING, "M"),
        _p("$XDSSubmissionSetSubmissionTimeFrom", TIME),
        _p("$XDSSubmissionSetSubmissionTimeTo", TIME),
        _p("$XDSSubmissionSetAuthorPerson", Kind.PATTERN, "M"),
        _p("$XDSSubmissionSetContentType", CODE, "M"),
    )),
    QueryDef("FindFolders", "urn:uuid:958f3006-baad-4929-a4de-ff1114824431", (
        _p("$XDSFolderPatientId", Kind.STRING, "R"),
        _p("$XDSFolderStatus", STATUS, "R", "M"),
        _p("$XDSFolderLastUpdateTimeFrom", TIME),
        _p("$XDSFolderLastUpdateTimeTo", TIME),
        _p("$XDSFolderCodeList", CODE, "M", "AND"),
    )),
    QueryDef("GetAll", "urn:uuid:10b545ea-725c-446d-9b95-8aeb444eddf3", (
        _p("$patientId", Kind.STRING, "R"),
        _p(f"{DE}Status", STATUS, "R", "M"),
        _p("$XDSSubmissionSetStatus", STATUS, "R", "M"),
        _p("$XDSFolderStatus", STATUS, "R", "M"),
        *_CONTENT_FILTERS,
    )),
    QueryDef("GetDocuments", "urn:uuid:5c4f972b-d56b-40ac-a5fc-c8ca9b40b9d4",
             _BY_ID(DE),
             one_of=((f"{DE}EntryUUID", f"{DE}UniqueId", f"{DE}LogicalID"),)),
    QueryDef("GetFolders", "urn:uuid:5737b14c-8a1a-4539-b659-e03a34a5e1e4",
             _BY_ID("$XDSFolder"),
             one_of=(("$XDSFolderEntryUUID", "$XDSFolderUniqueId", "$XDSFolderLogicalID"),)),
    QueryDef("GetAssociations", "urn:uuid:a7ae438b-4bc2-4642-93e9-be891f7bb155",
             (_p("$uuid", Kind.UUID, "R", "M"),)),
    QueryDef("GetDocumentsAndAssociations", "urn:uuid:bab9529a-4a10-40b3-a01f-f68a615d247a",
             (_p(f"{DE}EntryUUID", Kind.UUID, "M"), _p(f"{DE}UniqueId", Kind.STRING, "M")),
             one_of=((f"{DE}EntryUUID", f"{DE}UniqueId"),)),
    QueryDef("GetSubmissionSets", "urn:uuid:51224314-5390-4169-9b91-b1980040715a",
             (_p("$uuid", Kind.UUID, "R", "M"),)),
    QueryDef("GetSubmissionSetAndContents", "urn:uuid:e8e3cb2c-e39c-46b9-99e4-c12f57260b83",
             (_p("$XDSSubmissionSetEntryUUID", Kind.UUID),
              _p("$XDSSubmissionSetUniqueId", Kind.STRING), *_CONTENT_FILTERS),
             one_of=(("$XDSSubmissionSetEntryUUID", "$XDSSubmissionSetUniqueId"),)),
    QueryDef("GetFolderAndContents", "urn:uuid:b909a503-523d-4517-8acf-8e5834dfc4c7",
             (_p("$XDSFolderEntryUUID", Kind.UUID), _p("$XDSFolderUniqueId", Kind.STRING),
              *_CONTENT_FILTERS),
             one_of=(("$XDSFolderEntryUUID", "$XDSFolderUniqueId"),)),
    QueryDef("GetFoldersForDocument", "urn:uuid:10cae35a-c7f9-4cf5-b61e-fc3278ffb578",
             (_p(f"{DE}EntryUUID", Kind.UUID), _p(f"{DE}UniqueId", Kind.STRING)),
             one_of=((f"{DE}EntryUUID", f"{DE}UniqueId"),)),
    QueryDef("GetRelatedDocuments", "urn:uuid:d90e5407-b356-4d91-a89f-873917b4b0e6",
             (_p(f"{DE}EntryUUID", Kind.UUID), _p(f"{DE}UniqueId", Kind.STRING),
              _p("$AssociationTypes", Kind.STRING, "R", "M"),
              _p(f"{DE}Type", Kind.ENTRY_TYPE, "M")),
             one_of=((f"{DE}EntryUUID", f"{DE}UniqueId"),)),
)
# Metadata Update (ITI TF-2a 3.18.4.1.2.3.5.1): $MetadataLevel on every query (1, the default,
# or 2), $XDSAssociationStatus on those that return or follow associations (query_versions.py).
_ASSOCIATION_QUERIES = frozenset({
    "GetAll", "GetAssociations", "GetDocumentsAndAssociations", "GetSubmissionSets",
    "GetSubmissionSetAndContents", "GetFolderAndContents", "GetFoldersForDocument",
    "GetRelatedDocuments"})


def _with_metadata_update(query: QueryDef) -> QueryDef:
    extra = [_p("$MetadataLevel", Kind.INTEGER)]
    if query.name in _ASSOCIATION_QUERIES:
        extra.append(_p("$XDSAssociationStatus", STATUS, "M"))
    return QueryDef(query.name, query.id, (*query.params, *extra), query.one_of)


QUERIES = tuple(_with_metadata_update(q) for q in _QUERIES)
QUERIES_BY_ID = {q.id: q for q in QUERIES}
COMMON_PARAMS = frozenset({"$homeCommunityId"})
