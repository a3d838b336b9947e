"""The one enumeration of registry error codes (IHE ITI TF-3 Table 4.2.4.1-2 and extensions),
and the error item every layer reports.

Every rejection in the product names one of these, with a codeContext that says which object and
which field, so an integrator knows what to fix without reading our logs. Neutral: no transport,
no storage; the ebXML front writes them as rs:RegistryError, another front in its own words.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass
from enum import StrEnum


class ErrorCode(StrEnum):
    REGISTRY_ERROR = "XDSRegistryError"
    REGISTRY_BUSY = "XDSRegistryBusy"
    REGISTRY_OUT_OF_RESOURCES = "XDSRegistryOutOfResources"
    REGISTRY_METADATA_ERROR = "XDSRegistryMetadataError"
    REGISTRY_DUPLICATE_UNIQUE_ID_IN_MESSAGE = "XDSRegistryDuplicateUniqueIdInMessage"
    DUPLICATE_UNIQUE_ID_IN_REGISTRY = "XDSDuplicateUniqueIdInRegistry"
    REPOSITORY_ERROR = "XDSRepositoryError"
    REPOSITORY_BUSY = "XDSRepositoryBusy"
    REPOSITORY_OUT_OF_RESOURCES = "XDSRepositoryOutOfResources"
    REPOSITORY_METADATA_ERROR = "XDSRepositoryMetadataError"
    REPOSITORY_DUPLICATE_UNIQUE_ID_IN_MESSAGE = "XDSRepositoryDuplicateUniqueIdInMessage"
    MISSING_DOCUMENT = "XDSMissingDocument"
    MISSING_DOCUMENT_METADATA = "XDSMissingDocumentMetadata"
    NON_IDENTICAL_HASH = "XDSNonIdenticalHash"
    NON_IDENTICAL_SIZE = "XDSNonIdenticalSize"
    PATIENT_ID_DOES_NOT_MATCH = "XDSPatientIdDoesNotMatch"
    UNKNOWN_PATIENT_ID = "XDSUnknownPatientId"
    UNKNOWN_REPOSITORY_ID = "XDSUnknownRepositoryId"
    UNKNOWN_COMMUNITY = "XDSUnknownCommunity"
    DOCUMENT_UNIQUE_ID_ERROR = "XDSDocumentUniqueIdError"
    UNKNOWN_STORED_QUERY = "XDSUnknownStoredQuery"
    STORED_QUERY_MISSING_PARAM = "XDSStoredQueryMissingParam"
    STORED_QUERY_PARAM_NUMBER = "XDSStoredQueryParamNumber"
    RESULT_NOT_SINGLE_PATIENT = "XDSResultNotSinglePatient"
    TOO_MANY_RESULTS = "XDSTooManyResults"
    EXTRA_METADATA_NOT_SAVED = "XDSExtraMetadataNotSaved"
    METADATA_UPDATE_ERROR = "XDSMetadataUpdateError"
    METADATA_VERSION_ERROR = "XDSMetadataVersionError"
    METADATA_UPDATE_OPERATION_ERROR = "XDSMetadataUpdateOperationError"
    METADATA_ANNOTATION_ERROR = "XDSMetadataAnnotationError"
    # MU supplement Table 4.2.4.1-2: "Update encountered error where Patient IDs did not match"
    PATIENT_ID_RECONCILIATION_ERROR = "XDSPatientIDReconciliationError"
    REPLACE_FAILED = "XDSReplaceFailed"
    UNRESOLVED_REFERENCE = "UnresolvedReferenceException"
    REFERENCES_EXIST = "ReferencesExistException"
    UNREFERENCED_OBJECT = "XDSUnreferencedObjectException"
    UNAVAILABLE_DOCUMENT = "XDSUnavailableDocument"


class Severity(StrEnum):
    ERROR = "urn:oasis:names:tc:ebxml-regrep:ErrorSeverityType:Error"
    WARNING = "urn:oasis:names:tc:ebxml-regrep:ErrorSeverityType:Warning"


@dataclass(frozen=True)
class RegistryError:
    """One rs:RegistryError: the code, a context that names object and field, a location."""

    code: ErrorCode | str  # str: a code passed through from another actor, unchanged
    context: str
    location: str = ""
    severity: Severity = Severity.ERROR

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR


def error(code: ErrorCode, context: str, location: str = "") -> RegistryError:
    return RegistryError(code, context, location)


def warning(code: ErrorCode, context: str, location: str = "") -> RegistryError:
    return RegistryError(code, context, location, Severity.WARNING)


class RegistryFailure(Exception):
    """Stops a transaction with these errors; nothing it did is kept."""

    def __init__(self, errors: list[RegistryError]) -> None:
        super().__init__("; ".join(f"{e.code}: {e.context}" for e in errors))
        self.errors = errors


class StorageFull(RegistryFailure):
    """A write refused for want of space (below XDS_MIN_FREE_BYTES, a full disk, a full
    database): the request was right, so every front answers in the words that make a source
    send it again later (SOAP its XDS error, FHIR 507, MLLP AR), never as a fault of the
    request (a FHIR 422 or an MLLP AE tells the source to fix what it sent)."""

    disk_full = True


DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
_SQLITE_FULL = 13            # SQLite's SQLITE_FULL primary result code
_PG_DISK_FULL = "53100"      # PostgreSQL's disk_full SQLSTATE


def is_disk_full(exc: BaseException | None) -> bool:
    """Whether `exc`, or an error it was raised from, is a full disk or an exhausted quota: every
    front answers it "storage full" (the operator must free space), never "internal error",
    nor "database unavailable" when it is the database's disk that is full."""
    seen = 0
    while exc is not None and seen < 8:
        if isinstance(exc, OSError) and exc.errno in DISK_FULL_ERRNOS:
            return True
        if getattr(exc, "disk_full", False) or getattr(exc, "sqlstate", None) == _PG_DISK_FULL:
            return True
        code = getattr(exc, "sqlite_errorcode", None)
        if isinstance(code, int) and code & 0xFF == _SQLITE_FULL:
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


STORAGE_FULL = "the server's storage is full: nothing was stored; retry once the operator has " \
    "freed space"
