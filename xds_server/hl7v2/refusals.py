"""Registry and repository refusals as the ACK's problems: one table from the XDS error code
to the HL7 error code (table 0357) and whether the sender should send again (AR), each problem
naming the document it is about."""

from __future__ import annotations

from collections.abc import Callable

from ..model.errors import RegistryError, RegistryFailure, StorageFull
from . import ack
from .ack import Problem, Refused
from .cda_documents import CdaDocument


def refused_as_ack(call: Callable[[], list[RegistryError]],
                    documents: list[CdaDocument]) -> list[RegistryError]:
    try:
        return call()
    except RegistryFailure as failure:
        raise as_refusal(failure, documents) from None


# XDS error code (or code and location) → (HL7 error code of table 0357, AR: send again later).
# HL7 v2.5 has no code for "refused by the record's rules": 206 (the record is locked against
# this) says it for the patient's opposition to feeding and a deletion by a non-author.
XDS_TO_HL7: dict[str | tuple[str, str], tuple[str, bool]] = {
    "XDSUnknownPatientId": (ack.UNKNOWN_KEY_IDENTIFIER, False),
    "XDSPatientIdDoesNotMatch": (ack.UNKNOWN_KEY_IDENTIFIER, False),
    "UnresolvedReferenceException": (ack.UNKNOWN_KEY_IDENTIFIER, False),
    "XDSReplaceFailed": (ack.UNKNOWN_KEY_IDENTIFIER, False),
    "XDSDuplicateUniqueIdInRegistry": (ack.DUPLICATE_KEY_IDENTIFIER, False),
    "XDSRegistryDuplicateUniqueIdInMessage": (ack.DUPLICATE_KEY_IDENTIFIER, False),
    "XDSRepositoryDuplicateUniqueIdInMessage": (ack.DUPLICATE_KEY_IDENTIFIER, False),
    "XDSNonIdenticalHash": (ack.DUPLICATE_KEY_IDENTIFIER, False),
    "XDSNonIdenticalSize": (ack.DUPLICATE_KEY_IDENTIFIER, False),
    "XDSRegistryMetadataError": (ack.TABLE_VALUE_NOT_FOUND, False),
    "XDSRepositoryMetadataError": (ack.TABLE_VALUE_NOT_FOUND, False),
    "XDSMetadataUpdateError": (ack.TABLE_VALUE_NOT_FOUND, False),
    "XDSMetadataVersionError": (ack.TABLE_VALUE_NOT_FOUND, False),
    "XDSMetadataUpdateOperationError": (ack.TABLE_VALUE_NOT_FOUND, False),
    ("XDSRegistryError", "SubmissionSet.patientId"): (ack.APPLICATION_RECORD_LOCKED, False),
    "XDSRegistryError": (ack.APPLICATION_INTERNAL_ERROR, False),
    "XDSRepositoryError": (ack.APPLICATION_INTERNAL_ERROR, False),
    "XDSRegistryBusy": (ack.APPLICATION_INTERNAL_ERROR, True),
    "XDSRepositoryBusy": (ack.APPLICATION_INTERNAL_ERROR, True),
    "XDSRegistryOutOfResources": (ack.APPLICATION_INTERNAL_ERROR, True),
    "XDSRepositoryOutOfResources": (ack.APPLICATION_INTERNAL_ERROR, True),
}
OTHER_XDS_ERROR = (ack.TABLE_VALUE_NOT_FOUND, False)


def hl7_code(code: str, location: str = "") -> tuple[str, bool]:
    return XDS_TO_HL7.get((code, location)) or XDS_TO_HL7.get(code) or OTHER_XDS_ERROR


def as_refusal(failure: RegistryFailure, documents: list[CdaDocument]) -> Refused:
    """The actor's refusal as the ACK's problems, each naming the document it is about."""
    problems, reject = [], isinstance(failure, StorageFull)   # sent again once space is freed
    for error in failure.errors:
        if not error.is_error:
            continue
        document = next((d for d in documents if d.name in error.context
                         or d.header.unique_id in error.context), documents[0]
                        if len(documents) == 1 else None)
        where = f"{document.location}^5" if document else "OBX"
        prefix = f"{document.name}: " if document and document.name not in \
            error.context else ""
        code, again = hl7_code(str(getattr(error.code, "value", error.code)),
                               error.location or "")
        reject = reject or again
        problems.append(Problem(code, where, f"{prefix}{error.code}: {error.context}"))
    return Refused(*problems, reject=reject)
