"""Who may see which document of a record: the DMP rules as data, decided in one function.

A professional sees a record with the patient's authorisation, or in an emergency mode
(bris de glace, SAMU centre 15) unless the patient opposed that mode; without either, only the
documents they wrote. Visibility codes then hide documents from some readers: MASQUE_PS from
professionals other than the author, INVISIBLE_PATIENT from the patient,
INVISIBLE_REPRESENTANTS_LEGAUX from legal representatives. Deleted documents are seen by
administrators only. A hidden document is absent from answers, never an error.
"""

from __future__ import annotations

from dataclasses import dataclass

from .principal import Principal

VISIBILITY_SYSTEM = "1.2.250.1.213.1.1.4.13"
MASQUE_PS = "MASQUE_PS"
INVISIBLE_PATIENT = "INVISIBLE_PATIENT"
INVISIBLE_REPRESENTANTS = "INVISIBLE_REPRESENTANTS_LEGAUX"
DELETED = "urn:asip:ci-sis:2010:StatusType:Deleted"
EMERGENCY_MODES = ("bris_de_glace", "centre_15")

# visibility code → the reader kinds it hides the document from (the author always sees it)
HIDDEN_FROM: dict[str, frozenset[str]] = {
    MASQUE_PS: frozenset({"professional"}),
    INVISIBLE_PATIENT: frozenset({"patient"}),
    INVISIBLE_REPRESENTANTS: frozenset({"legal_representative"}),
}


@dataclass(frozen=True)
class RecordAccess:
    """What the patient decided about this reader and this record."""

    authorized: bool = False                 # an authorisation for this professional
    opposed_modes: frozenset[str] = frozenset()   # emergency modes the patient refused


@dataclass(frozen=True)
class DocumentFacts:
    status: str
    visibility_codes: frozenset[str]         # codes of 1.2.250.1.213.1.1.4.13 it carries
    author_ids: frozenset[str]               # national ids of its authors


def record_facts_needed(principal: Principal) -> frozenset[str]:
    """What of the record may_read_record will look at for this caller, so a query fetches
    only that: a professional's authorisation, and the patient's oppositions only in an
    emergency mode."""
    if principal.role != "professional":
        return frozenset()
    if principal.purpose_of_use in EMERGENCY_MODES:
        return frozenset({"authorization", "oppositions"})
    return frozenset({"authorization"})


def may_read_record(principal: Principal, access: RecordAccess) -> bool:
    """Whether a professional may read the record at all (patients, representatives and
    administrators are not subject to authorisations)."""
    if principal.role != "professional":
        return True
    if access.authorized:
        return True
    return principal.purpose_of_use in EMERGENCY_MODES and \
        principal.purpose_of_use not in access.opposed_modes


def may_see(principal: Principal, access: RecordAccess, document: DocumentFacts) -> bool:
    if principal.is_system:
        return True
    if document.status == DELETED:
        return principal.role == "administrator"
    if principal.role == "administrator":
        return True
    is_author = principal.subject_id in document.author_ids
    if principal.role == "professional" and not is_author and \
            not may_read_record(principal, access):
        return False
    if is_author:
        return True
    return not any(principal.role in HIDDEN_FROM.get(code, ())
                   for code in document.visibility_codes)


def may_delete(principal: Principal, document: DocumentFacts) -> bool:
    """Only the author deletes (CI-SIS: the Deleted status by ITI-57)."""
    return principal.is_system or principal.subject_id in document.author_ids
