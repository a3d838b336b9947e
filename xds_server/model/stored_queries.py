"""The 14 stored queries of ITI-18 as typed requests: one frozen dataclass per query, its fields
the query's parameters, and the IHE parameter rules as data (after IPF's QueryRules): each
parameter's name on the wire, the kind of its values, whether it is required, takes several
values (OR) or may repeat (AND of ORs), and the groups of which exactly one is given.

A front builds a query either directly (`FindDocuments(patient_id=…, statuses=(APPROVED,))`,
as an MHD search will) or from raw parameter values with `parse` (the ebXML front), which holds
them to the rules. Its errors follow ITI TF-2 §3.18.4.1.3: an unknown query id is
XDSUnknownStoredQuery, a missing required parameter XDSStoredQueryMissingParam, a list or a
repeated slot where one value is allowed (or two alternatives given together)
XDSStoredQueryParamNumber, a value of the wrong form XDSRegistryError naming the parameter.

Values keep their IHE meaning: a time is a 14-digit key compared From <= t < To, a code a
`CodeValue`, a status a full URN; several values of one parameter are a tuple (OR), a parameter
given in several slots a tuple of tuples (AND of ORs).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum, StrEnum
from typing import Any, ClassVar, NamedTuple

from . import hl7
from . import vocabulary as v
from .errors import ErrorCode, RegistryError, RegistryFailure, error


class Kind(Enum):
    STRING = "string"
    TIME = "time"            # DTM, compared From <= t < To
    CODE = "code"            # code^^scheme
    STATUS = "status"        # availability status URN
    UUID = "uuid"
    PATTERN = "pattern"      # SQL LIKE pattern (% and _)
    ENTRY_TYPE = "entry_type"
    LEVEL = "level"          # $MetadataLevel: 1 or 2


class ReturnType(StrEnum):
    LEAF_CLASS = "LeafClass"     # the objects themselves
    OBJECT_REF = "ObjectRef"     # their entryUUIDs only


class CodeValue(NamedTuple):
    code: str
    scheme: str | None          # None: any scheme (reference ids)


@dataclass(frozen=True)
class Param:
    name: str                   # on the wire, e.g. $XDSDocumentEntryPatientId
    field: str                  # on the typed query, e.g. patient_id
    kind: Kind
    required: bool = False
    multiple: bool = False      # one slot may hold a list (OR)
    repeatable: bool = False    # several slots allowed (AND of ORs)


def _p(name: str, field: str, kind: Kind, *flags: str) -> Param:
    return Param(name, field, kind, "R" in flags, "M" in flags, "AND" in flags)


DE = "$XDSDocumentEntry"
SS = "$XDSSubmissionSet"
ID_FIELDS = ("entry_uuids", "unique_ids", "logical_ids")   # a query naming its objects
FOL = "$XDSFolder"
CODE, TIME, STATUS, UUID, STRING = Kind.CODE, Kind.TIME, Kind.STATUS, Kind.UUID, Kind.STRING
Codes = tuple[CodeValue, ...]
CodeGroups = tuple[Codes, ...]
Strings = tuple[str, ...]

# Metadata Update (ITI TF-2a 3.18.4.1.2.3.5.1): $MetadataLevel on every query (1, the default,
# or 2), $XDSAssociationStatus on those that return or follow associations.
LEVEL = _p("$MetadataLevel", "metadata_level", Kind.LEVEL)
ASSOCIATION_STATUS = _p("$XDSAssociationStatus", "association_statuses", STATUS, "M")


@dataclass(frozen=True, kw_only=True)
class StoredQuery:
    """What every stored query has: how its answer is returned, how much history it shows."""

    NAME: ClassVar[str]
    ID: ClassVar[str]
    PARAMS: ClassVar[tuple[Param, ...]]
    ONE_OF: ClassVar[tuple[tuple[str, ...], ...]] = ()       # exactly one given, of each
    BY_NAME: ClassVar[dict[str, Param]]

    return_type: ReturnType = ReturnType.LEAF_CLASS
    metadata_level: int = 1

    def __post_init__(self) -> None:
        """Ids in their one form (hl7.canonical_uuid), however the query was built: parsed
        from ITI-18 or made by a front (a FHIR read, a search, a cursor)."""
        for param in getattr(self, "PARAMS", ()):
            if param.kind is Kind.UUID:
                value = getattr(self, param.field)
                canonical = hl7.canonical_uuid(value) if isinstance(value, str) else \
                    tuple(hl7.canonical_uuid(one) if isinstance(one, str) else one
                          for one in value or ())
                if value and canonical != value:
                    object.__setattr__(self, param.field, canonical)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "PARAMS" in cls.__dict__:
            cls.BY_NAME = {param.name: param for param in cls.PARAMS}
            # a query that names its objects takes exactly one kind of identifier
            ids = tuple(param.name for param in cls.PARAMS if param.field in ID_FIELDS)
            cls.ONE_OF = (ids,) if ids else ()

    @property
    def named_patients(self) -> list[str]:
        """The patients the query names in its parameters (a caller's scope is checked on
        them before anything is read)."""
        patient = getattr(self, "patient_id", None)
        return [patient] if patient else []

    def ids(self) -> tuple[str, Strings]:
        """For a query that names its objects: which identifier (entry_uuid, unique_id or
        logical_id) and the values given for it."""
        for by, field in zip(("entry_uuid", "unique_id", "logical_id"), ID_FIELDS,
                             strict=True):
            values = getattr(self, field, None)
            if values:
                return by, values
        return "entry_uuid", ()


@dataclass(frozen=True, kw_only=True)
class _WithAssociationStatus(StoredQuery):
    association_statuses: Strings = ()


@dataclass(frozen=True, kw_only=True)
class _ContentFilters:
    """What GetAll and the *AndContents queries filter documents by."""

    format_codes: Codes = ()
    confidentiality_codes: CodeGroups = ()
    object_types: Strings = ()


_CONTENT = (_p(f"{DE}FormatCode", "format_codes", CODE, "M"),
            _p(f"{DE}ConfidentialityCode", "confidentiality_codes", CODE, "M", "AND"),
            _p(f"{DE}Type", "object_types", Kind.ENTRY_TYPE, "M"))


@dataclass(frozen=True, kw_only=True)
class FindDocuments(StoredQuery):
    NAME = "FindDocuments"
    ID = "urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d"
    patient_id: str
    statuses: Strings
    class_codes: Codes = ()
    type_codes: Codes = ()
    practice_setting_codes: Codes = ()
    healthcare_facility_type_codes: Codes = ()
    format_codes: Codes = ()
    event_codes: CodeGroups = ()
    confidentiality_codes: CodeGroups = ()
    author_persons: Strings = ()
    creation_time_from: str | None = None
    creation_time_to: str | None = None
    service_start_time_from: str | None = None
    service_start_time_to: str | None = None
    service_stop_time_from: str | None = None
    service_stop_time_to: str | None = None
    object_types: Strings = ()
    PARAMS = (
        _p(f"{DE}PatientId", "patient_id", STRING, "R"),
        _p(f"{DE}Status", "statuses", STATUS, "R", "M"),
        _p(f"{DE}ClassCode", "class_codes", CODE, "M"),
        _p(f"{DE}TypeCode", "type_codes", CODE, "M"),
        _p(f"{DE}PracticeSettingCode", "practice_setting_codes", CODE, "M"),
        _p(f"{DE}HealthcareFacilityTypeCode", "healthcare_facility_type_codes", CODE, "M"),
        _p(f"{DE}FormatCode", "format_codes", CODE, "M"),
        _p(f"{DE}EventCodeList", "event_codes", CODE, "M", "AND"),
        _p(f"{DE}ConfidentialityCode", "confidentiality_codes", CODE, "M", "AND"),
        _p(f"{DE}AuthorPerson", "author_persons", Kind.PATTERN, "M"),
        _p(f"{DE}CreationTimeFrom", "creation_time_from", TIME),
        _p(f"{DE}CreationTimeTo", "creation_time_to", TIME),
        _p(f"{DE}ServiceStartTimeFrom", "service_start_time_from", TIME),
        _p(f"{DE}ServiceStartTimeTo", "service_start_time_to", TIME),
        _p(f"{DE}ServiceStopTimeFrom", "service_stop_time_from", TIME),
        _p(f"{DE}ServiceStopTimeTo", "service_stop_time_to", TIME),
        _p(f"{DE}Type", "object_types", Kind.ENTRY_TYPE, "M"),
        LEVEL,
    )


@dataclass(frozen=True, kw_only=True)
class FindDocumentsByReferenceId(FindDocuments):
    NAME = "FindDocumentsByReferenceId"
    ID = "urn:uuid:12941a89-e02e-4be5-967c-ce4bfc8fe492"
    reference_ids: Strings
    PARAMS = (*FindDocuments.PARAMS,
              _p(f"{DE}ReferenceIdList", "reference_ids", STRING, "R", "M"))


@dataclass(frozen=True, kw_only=True)
class FindSubmissionSets(StoredQuery):
    NAME = "FindSubmissionSets"
    ID = "urn:uuid:f26abbcb-ac74-4422-8a30-edb644bbc1a9"
    patient_id: str
    statuses: Strings
    source_ids: Strings = ()
    submission_time_from: str | None = None
    submission_time_to: str | None = None
    author_persons: Strings = ()
    content_type_codes: Codes = ()
    PARAMS = (
        _p(f"{SS}PatientId", "patient_id", STRING, "R"),
        _p(f"{SS}Status", "statuses", STATUS, "R", "M"),
        _p(f"{SS}SourceId", "source_ids", STRING, "M"),
        _p(f"{SS}SubmissionTimeFrom", "submission_time_from", TIME),
        _p(f"{SS}SubmissionTimeTo", "submission_time_to", TIME),
        _p(f"{SS}AuthorPerson", "author_persons", Kind.PATTERN, "M"),
        _p(f"{SS}ContentType", "content_type_codes", CODE, "M"),
        LEVEL,
    )


@dataclass(frozen=True, kw_only=True)
class FindFolders(StoredQuery):
    NAME = "FindFolders"
    ID = "urn:uuid:958f3006-baad-4929-a4de-ff1114824431"
    patient_id: str
    statuses: Strings
    last_update_time_from: str | None = None
    last_update_time_to: str | None = None
    codes: CodeGroups = ()
    PARAMS = (
        _p(f"{FOL}PatientId", "patient_id", STRING, "R"),
        _p(f"{FOL}Status", "statuses", STATUS, "R", "M"),
        _p(f"{FOL}LastUpdateTimeFrom", "last_update_time_from", TIME),
        _p(f"{FOL}LastUpdateTimeTo", "last_update_time_to", TIME),
        _p(f"{FOL}CodeList", "codes", CODE, "M", "AND"),
        LEVEL,
    )


@dataclass(frozen=True, kw_only=True)
class GetAll(_ContentFilters, _WithAssociationStatus):
    NAME = "GetAll"
    ID = "urn:uuid:10b545ea-725c-446d-9b95-8aeb444eddf3"
    patient_id: str
    statuses: Strings                       # of the documents
    submission_set_statuses: Strings
    folder_statuses: Strings
    PARAMS = (
        _p("$patientId", "patient_id", STRING, "R"),
        _p(f"{DE}Status", "statuses", STATUS, "R", "M"),
        _p(f"{SS}Status", "submission_set_statuses", STATUS, "R", "M"),
        _p(f"{FOL}Status", "folder_statuses", STATUS, "R", "M"),
        *_CONTENT, LEVEL, ASSOCIATION_STATUS,
    )


def _by_id(prefix: str, multiple: bool = True, logical: bool = True) -> tuple[Param, ...]:
    flags = ("M",) if multiple else ()
    return (_p(f"{prefix}EntryUUID", "entry_uuids", UUID, *flags),
            _p(f"{prefix}UniqueId", "unique_ids", STRING, *flags),
            *([_p(f"{prefix}LogicalID", "logical_ids", UUID, *flags)] if logical else []))


@dataclass(frozen=True, kw_only=True)
class _ById:
    """The objects a query names, by one kind of identifier (ONE_OF)."""

    entry_uuids: Strings = ()
    unique_ids: Strings = ()
    logical_ids: Strings = ()


@dataclass(frozen=True, kw_only=True)
class GetDocuments(_ById, StoredQuery):
    NAME = "GetDocuments"
    ID = "urn:uuid:5c4f972b-d56b-40ac-a5fc-c8ca9b40b9d4"
    PARAMS = (*_by_id(DE), LEVEL)


@dataclass(frozen=True, kw_only=True)
class GetFolders(_ById, StoredQuery):
    NAME = "GetFolders"
    ID = "urn:uuid:5737b14c-8a1a-4539-b659-e03a34a5e1e4"
    PARAMS = (*_by_id(FOL), LEVEL)


@dataclass(frozen=True, kw_only=True)
class GetAssociations(_WithAssociationStatus):
    NAME = "GetAssociations"
    ID = "urn:uuid:a7ae438b-4bc2-4642-93e9-be891f7bb155"
    uuids: Strings
    PARAMS = (_p("$uuid", "uuids", UUID, "R", "M"), LEVEL, ASSOCIATION_STATUS)


@dataclass(frozen=True, kw_only=True)
class GetDocumentsAndAssociations(_ById, _WithAssociationStatus):
    NAME = "GetDocumentsAndAssociations"
    ID = "urn:uuid:bab9529a-4a10-40b3-a01f-f68a615d247a"
    PARAMS = (*_by_id(DE, logical=False), LEVEL, ASSOCIATION_STATUS)


@dataclass(frozen=True, kw_only=True)
class GetSubmissionSets(_WithAssociationStatus):
    NAME = "GetSubmissionSets"
    ID = "urn:uuid:51224314-5390-4169-9b91-b1980040715a"
    uuids: Strings
    PARAMS = (_p("$uuid", "uuids", UUID, "R", "M"), LEVEL, ASSOCIATION_STATUS)


@dataclass(frozen=True, kw_only=True)
class GetSubmissionSetAndContents(_ById, _ContentFilters, _WithAssociationStatus):
    NAME = "GetSubmissionSetAndContents"
    ID = "urn:uuid:e8e3cb2c-e39c-46b9-99e4-c12f57260b83"
    PARAMS = (*_by_id(SS, multiple=False, logical=False), *_CONTENT, LEVEL,
              ASSOCIATION_STATUS)


@dataclass(frozen=True, kw_only=True)
class GetFolderAndContents(_ById, _ContentFilters, _WithAssociationStatus):
    NAME = "GetFolderAndContents"
    ID = "urn:uuid:b909a503-523d-4517-8acf-8e5834dfc4c7"
    PARAMS = (*_by_id(FOL, multiple=False, logical=False), *_CONTENT, LEVEL,
              ASSOCIATION_STATUS)


@dataclass(frozen=True, kw_only=True)
class GetFoldersForDocument(_ById, _WithAssociationStatus):
    NAME = "GetFoldersForDocument"
    ID = "urn:uuid:10cae35a-c7f9-4cf5-b61e-fc3278ffb578"
    PARAMS = (*_by_id(DE, multiple=False, logical=False), LEVEL, ASSOCIATION_STATUS)


@dataclass(frozen=True, kw_only=True)
class GetRelatedDocuments(_ById, _WithAssociationStatus):
    NAME = "GetRelatedDocuments"
    ID = "urn:uuid:d90e5407-b356-4d91-a89f-873917b4b0e6"
    association_types: Strings
    object_types: Strings = ()
    PARAMS = (*_by_id(DE, multiple=False, logical=False),
              _p("$AssociationTypes", "association_types", STRING, "R", "M"),
              _p(f"{DE}Type", "object_types", Kind.ENTRY_TYPE, "M"), LEVEL, ASSOCIATION_STATUS)


QUERIES: tuple[type[StoredQuery], ...] = (
    FindDocuments, FindDocumentsByReferenceId, FindSubmissionSets, FindFolders, GetAll,
    GetDocuments, GetFolders, GetAssociations, GetDocumentsAndAssociations, GetSubmissionSets,
    GetSubmissionSetAndContents, GetFolderAndContents, GetFoldersForDocument,
    GetRelatedDocuments)
QUERIES_BY_ID: dict[str, type[StoredQuery]] = {query.ID: query for query in QUERIES}

# --- from raw values ---------------------------------------------------------------------------

_OASIS_STATUSES = {s.rsplit(":", 1)[-1]: s for s in (v.APPROVED, v.DEPRECATED, v.SUBMITTED)}
LEVELS = (1, 2)


def _convert(query: type[StoredQuery], param: Param, raw: str) -> object:
    where = f"{query.NAME}: parameter {param.name}"

    def wrong(what: str) -> RegistryFailure:
        return RegistryFailure([error(ErrorCode.REGISTRY_ERROR, f"{where}: '{raw}' {what}",
                                      param.name)])

    kind = param.kind
    if kind is Kind.TIME:
        if not raw.isdigit() or not hl7.is_dtm(raw[:14]):
            raise wrong("is not a DTM time (YYYY[MM[DD[hh[mm[ss]]]]])")
        return hl7.dtm_key(raw)
    if kind is Kind.CODE:
        code, _, scheme = raw.partition("^^")
        if not code or not scheme or "^" in scheme:
            raise wrong("is not code^^codingScheme (a coded value needs its coding scheme)")
        return CodeValue(code, scheme)
    if kind is Kind.STATUS:
        # ebRIM statuses by their last segment, so '...:ResponseStatusType:Approved' (a slip in
        # the IHE example) still means Approved; the CI-SIS statuses are kept as sent.
        return _OASIS_STATUSES.get(raw.rsplit(":", 1)[-1], raw)
    if kind is Kind.ENTRY_TYPE and raw not in v.DOCUMENT_ENTRY_TYPES:
        raise wrong(f"is not a DocumentEntry type ({v.DOC_STABLE} or {v.DOC_ON_DEMAND})")
    if kind is Kind.LEVEL:
        if not raw.isdigit():
            raise wrong("is not an integer")
        if int(raw) not in LEVELS:
            raise RegistryFailure([error(ErrorCode.REGISTRY_ERROR,
                                         f"{query.NAME}: $MetadataLevel {int(raw)} is not 1 or "
                                         "2 (ITI TF-2a 3.18.4.1.2.3.5.1.1)", param.name)])
        return int(raw)
    return raw


def _shaped(param: Param, groups: list[list[object]]) -> object:
    """The field's value: one value, a tuple of them (OR), or a tuple of tuples (AND). Ids
    are a tuple even where one is allowed, so the registry resolves every query alike."""
    if param.repeatable:
        return tuple(tuple(group) for group in groups)
    if param.multiple or param.field in ID_FIELDS:
        return tuple(value for group in groups for value in group)
    return groups[0][0]


def parse(query_id: str, params: Mapping[str, Sequence[Sequence[str]]],
          return_type: str = ReturnType.LEAF_CLASS) -> StoredQuery:
    """The typed query for `query_id` from raw values (parameter name → one list of values per
    slot it appears in), held to its rules; RegistryFailure with every problem found.
    Parameters the query does not have ($homeCommunityId among them) are ignored, as IHE
    allows."""
    query = QUERIES_BY_ID.get(query_id)
    if query is None:
        raise RegistryFailure([error(ErrorCode.UNKNOWN_STORED_QUERY,
                                     f"stored query id '{query_id}' is not one of the 14 "
                                     "ITI-18 stored queries", "AdhocQuery/@id")])
    if return_type not in tuple(ReturnType):
        raise RegistryFailure([error(ErrorCode.REGISTRY_ERROR,
                                     f"returnType '{return_type}' is not LeafClass or "
                                     "ObjectRef", "ResponseOption/@returnType")])
    errors: list[RegistryError] = []
    given: dict[str, object] = {}
    for name, slots in params.items():
        param = query.BY_NAME.get(name)
        if param is None:
            continue
        if len(slots) > 1 and not param.repeatable:
            errors.append(error(ErrorCode.STORED_QUERY_PARAM_NUMBER,
                                f"{query.NAME}: parameter {name} appears in {len(slots)} slots; "
                                "it may appear once", name))
            continue
        if any(len(values) > 1 for values in slots) and not param.multiple:
            errors.append(error(ErrorCode.STORED_QUERY_PARAM_NUMBER,
                                f"{query.NAME}: parameter {name} takes one value", name))
            continue
        try:
            groups = [[_convert(query, param, raw) for raw in values]
                      for values in slots if values]
        except RegistryFailure as failure:
            errors += failure.errors
            continue
        if groups:
            given[name] = _shaped(param, groups)
    for param in query.PARAMS:
        if param.required and param.name not in given:
            errors.append(error(ErrorCode.STORED_QUERY_MISSING_PARAM,
                                f"{query.NAME}: required parameter {param.name} is missing",
                                param.name))
    for group in query.ONE_OF:
        named = [name for name in group if name in given]
        if not named:
            errors.append(error(ErrorCode.STORED_QUERY_MISSING_PARAM,
                                f"{query.NAME}: one of {', '.join(group)} is required",
                                group[0]))
        elif len(named) > 1:
            errors.append(error(ErrorCode.STORED_QUERY_PARAM_NUMBER,
                                f"{query.NAME}: give only one of {', '.join(named)}", named[0]))
    if errors:
        raise RegistryFailure(errors)
    values = {query.BY_NAME[name].field: value for name, value in given.items()}
    return query(return_type=ReturnType(return_type), **values)

