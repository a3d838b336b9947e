"""The one access decision: may this caller do this to this record, or to this document of it?

Every transaction and service asks it (ITI-18, ITI-41/42, ITI-43, ITI-57, ITI-62, ITI-86, the
DMP services), with the caller's `Principal` and the facts of the record and documents
concerned; the rules are the tables below, so a front never carries a rule of its own.

- **Scope**: a VIHF names the one patient it is about (resource-id). A caller acts on that
  record only; another patient's objects are, to them, objects that do not exist.
- **Roles**: what each kind of caller may ask at all (`ROLE_ACTIONS`).
- **Record**: a professional reads a record with the patient's authorisation, or in an
  emergency mode (bris de glace, SAMU centre 15) unless the patient opposed that mode; without
  either, only the documents they wrote. A record whose patient opposed its feeding takes no
  new document. Authorisations gate reading only, not feeding (CI-SIS, P4D TD02).
- **Documents**: MASQUE_PS hides a document from professionals other than its author,
  INVISIBLE_PATIENT from the patient, INVISIBLE_REPRESENTANTS_LEGAUX from legal
  representatives; Deleted documents are for administrators. A hidden document is absent
  from answers, never an error.
- **Updates (ITI-57)**: a document's metadata is its author's (and an administrator's) to
  change; the patient and a legal representative may only mask it from professionals or unmask
  it (MASQUE_PS), and archive or unarchive it. Nobody else may change a visibility code or a
  status: who sees a document is never the decision of a reader.
- **Deletion and removal**: only the author deletes a document (the DMP's Deleted status);
  removal for good (ITI-62, ITI-86) is for administrators, or the author for what they wrote.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from ..model.errors import ErrorCode, RegistryFailure, error
from ..model.facts import DocumentFacts, RecordAccess
from ..model.held import HeldDocument
from ..model.hl7 import patient_key
from ..model.vocabulary import (
    APPROVED,
    CISIS_ARCHIVED,
    CISIS_DELETED,
    INVISIBLE_PATIENT,
    INVISIBLE_REPRESENTANTS,
    MASQUE_PS,
)
from .principal import Principal

DELETED = CISIS_DELETED

# What a patient may oppose (stored with the record): an emergency mode, or the feeding of
# the record by professionals.
BRIS_DE_GLACE, CENTRE_15, FEEDING = "bris_de_glace", "centre_15", "alimentation"
EMERGENCY_MODES = (BRIS_DE_GLACE, CENTRE_15)
OPPOSITIONS = (*EMERGENCY_MODES, FEEDING)


class Action(StrEnum):
    READ = "read"                      # ITI-18, ITI-43
    FEED = "feed"                      # ITI-41, ITI-42: new documents in a record
    UPDATE = "update"                  # ITI-57: new metadata versions, status changes
    REMOVE = "remove"                  # ITI-62, ITI-86: objects and bytes removed for good
    OPEN_RECORD = "open_record"        # DMP service: OpenRecord, CloseRecord
    MANAGE_CONSENT = "manage_consent"  # oppositions and authorisations, who may read
    READ_HISTORY = "read_history"      # the record's access history
    LIST_RECORDS = "list_records"      # the records a professional may read


PROFESSIONAL, PATIENT, REPRESENTATIVE, ADMINISTRATOR = (
    "professional", "patient", "legal_representative", "administrator")
# a system that sends messages (an HL7 v2 sender of the operator's table, hl7v2/senders.py):
# the caller of its messages in the audit trail. It asks the access decision nothing (no
# ROLE_ACTIONS entry): its documents are written as their author, a professional.
APPLICATION = "application"

# role kind → what it may ask at all (the facts then decide: scope, record, document)
ROLE_ACTIONS: dict[str, frozenset[Action]] = {
    PROFESSIONAL: frozenset({Action.READ, Action.FEED, Action.UPDATE, Action.REMOVE,
                             Action.LIST_RECORDS}),
    PATIENT: frozenset({Action.READ, Action.FEED, Action.UPDATE, Action.REMOVE,
                        Action.MANAGE_CONSENT, Action.READ_HISTORY}),
    REPRESENTATIVE: frozenset({Action.READ, Action.FEED, Action.UPDATE, Action.REMOVE,
                               Action.MANAGE_CONSENT, Action.READ_HISTORY}),
    # an administrator runs records, writes no clinical document
    ADMINISTRATOR: frozenset(Action) - {Action.FEED},
}

# visibility code → the reader kinds it hides the document from (the author always sees it)
HIDDEN_FROM: dict[str, frozenset[str]] = {
    MASQUE_PS: frozenset({PROFESSIONAL}),
    INVISIBLE_PATIENT: frozenset({PATIENT}),
    INVISIBLE_REPRESENTANTS: frozenset({REPRESENTATIVE}),
}


def may_ask(principal: Principal, action: Action) -> bool:
    """Whether the caller's role may ask this at all."""
    return principal.is_system or action in ROLE_ACTIONS.get(principal.role, frozenset())


def scope(principal: Principal) -> str | None:
    """The one patient (registry key) this caller may act on; None for the system, which acts
    on every record. A VIHF without a resource-id never gets here (vihf_reading refuses it)."""
    if principal.is_system:
        return None
    return patient_key(principal.patient_id or "")


def in_scope(principal: Principal, patient: str | None) -> bool:
    """Whether a patient (CX or registry key) is the caller's to act on."""
    allowed = scope(principal)
    return allowed is None or (patient is not None and patient_key(patient) == allowed)


def all_in_scope(principal: Principal, patients: Iterable[str | None]) -> bool:
    return all(in_scope(principal, patient) for patient in patients if patient)


def check_scope(principal: Principal, patients: Iterable[str | None], what: str) -> None:
    """Refuse a request naming a patient the caller may not act on. The answer names no
    identifier: the caller learns nothing of the patient they named, nor of any other."""
    if not all_in_scope(principal, patients):
        raise RegistryFailure([error(
            ErrorCode.PATIENT_ID_DOES_NOT_MATCH,
            f"{what} is about another patient than the one the VIHF (resource-id) names",
            "VIHF resource-id")])


def record_facts_needed(principal: Principal) -> frozenset[str]:
    """What of the record may_read_record will look at for this caller, so a query fetches
    only that: a professional's authorisation, and the patient's oppositions only in an
    emergency mode."""
    if principal.role != PROFESSIONAL:
        return frozenset()
    if principal.purpose_of_use in EMERGENCY_MODES:
        return frozenset({"authorization", "oppositions"})
    return frozenset({"authorization"})


def may_read_record(principal: Principal, access: RecordAccess) -> bool:
    """Whether a professional may read the record at all (patients, representatives and
    administrators are not subject to authorisations)."""
    if principal.role != PROFESSIONAL:
        return True
    if access.authorized:
        return True
    return principal.purpose_of_use in EMERGENCY_MODES and \
        principal.purpose_of_use not in access.opposed_modes


def may_feed(principal: Principal, access: RecordAccess) -> bool:
    """Whether the caller may add documents to the record: its role feeds, and the patient did
    not oppose feeding (the patient's own documents excepted: the opposition is to others)."""
    if principal.is_system:
        return True
    if not may_ask(principal, Action.FEED):
        return False
    return FEEDING not in access.opposed_modes or principal.role in (PATIENT, REPRESENTATIVE)


def is_author(principal: Principal, document: DocumentFacts) -> bool:
    return principal.subject_id in (document.author_ids or ())


def may_see(principal: Principal, access: RecordAccess, document: DocumentFacts) -> bool:
    if principal.is_system:
        return True
    if document.status == DELETED:
        return principal.role == ADMINISTRATOR
    if principal.role == ADMINISTRATOR:
        return True
    author = is_author(principal, document)
    if principal.role == PROFESSIONAL and not author and not may_read_record(principal, access):
        return False
    if author:
        return True
    return not any(principal.role in HIDDEN_FROM.get(code, ())
                   for code in document.visibility_codes or ())


# What a caller other than the author, an administrator or the system may change in a
# document's ITI-57 update: the visibility codes they may add or remove, the statuses they may
# set. Attacks stopped (round 2): an authorised professional who is not the author removed
# INVISIBLE_PATIENT (the patient then read a document not yet announced to him) or added
# MASQUE_PS (other professionals lost it) by posting a new version; a legal representative made
# a document invisible to the patient; a reader deprecated another's document.
VISIBILITY_CHANGERS: dict[str, frozenset[str]] = {
    MASQUE_PS: frozenset({PATIENT, REPRESENTATIVE}),     # the patient masks from professionals
    INVISIBLE_PATIENT: frozenset(),                      # the author's, until it is announced
    INVISIBLE_REPRESENTANTS: frozenset(),
}
# A status setter's moves: (from, to). Attack stopped (outside round 19f): keyed by the new
# status alone, Approved (meant for unarchiving) let the patient move a replaced, Deprecated
# report to Approved (or Archived, then Approved): two current versions of one report.
STATUS_SETTERS: dict[tuple[str, str], frozenset[str]] = {
    (APPROVED, CISIS_ARCHIVED): frozenset({PATIENT, REPRESENTATIVE}),  # files a document away
    (CISIS_ARCHIVED, APPROVED): frozenset({PATIENT, REPRESENTATIVE}),  # and back (unarchive)
}


def owns_metadata(principal: Principal, document: DocumentFacts) -> bool:
    """The author, an administrator or the system: may change anything ITI-57 allows."""
    return principal.is_system or principal.role == ADMINISTRATOR or \
        is_author(principal, document)


# The roles that may post a new version of a document they did not write, to change in it
# only the visibility codes VISIBILITY_CHANGERS gives them (every other field, registry/
# update_rights.py); and whose ITI-57 then carries no association but its new versions'
# HasMember and the document status changes STATUS_SETTERS gives them, and versions no Folder
# (a folder has no author: it is its professionals' and administrators'). Attack stopped
# (outside round 19e, E9): the patient's VIHF rewrote a professional's document by a new
# version (its title, comments, typeCode: what queries by type find and every list shows),
# and added links between registered documents (an APND by SubmitAssociation, a HasMember
# riding beside a new version).
MASKERS = frozenset({PATIENT, REPRESENTATIVE})


def may_version(principal: Principal, document: DocumentFacts) -> bool:
    """May post a new metadata version of this document at all (what it changes is then
    held to `may_change_visibility`, and for a masker to the visibility codes alone)."""
    return owns_metadata(principal, document) or principal.role in MASKERS


def masks_only(principal: Principal, document: DocumentFacts) -> bool:
    """A new version by this caller may differ from its latest in visibility codes only."""
    return not owns_metadata(principal, document) and principal.role in MASKERS


def may_link(principal: Principal) -> bool:
    """May add associations by ITI-57 (SubmitAssociation, or riding beside a new version),
    change a Folder's or an association's status, and version a Folder."""
    return principal.is_system or principal.role not in MASKERS


def may_change_visibility(principal: Principal, document: DocumentFacts, code: str) -> bool:
    return owns_metadata(principal, document) or \
        principal.role in VISIBILITY_CHANGERS.get(code, frozenset())


def may_set_status(principal: Principal, document: DocumentFacts, original: str,
                   status: str) -> bool:
    """May move this document from `original` to `status`."""
    if status == DELETED:
        return may_delete(principal, document)
    return owns_metadata(principal, document) or \
        principal.role in STATUS_SETTERS.get((original, status), frozenset())


def may_delete(principal: Principal, document: DocumentFacts) -> bool:
    """Only the author deletes (CI-SIS: the Deleted status by ITI-57)."""
    return principal.is_system or is_author(principal, document)


def may_remove_held(principal: Principal, held: HeldDocument) -> bool:
    """Removal of a document's bytes (ITI-86), on what the repository kept when it stored them
    (the registry's metadata is removed first, ITI-62, so it cannot say whose they are): the
    system; an administrator of the patient's record; within that record, an author of the
    entry stored (who `may_remove` lets remove the entries) or the submitter (same national
    id, same organisation). Stops a caller removing the bytes of a document another
    person or organisation stored, or another patient's, once its metadata is gone. A row
    stored before the repository kept its submitter (empty) is an administrator's alone."""
    if principal.is_system:
        return True
    if not held.patient_id or not in_scope(principal, held.patient_id):
        return False
    if principal.role == ADMINISTRATOR:
        return True
    if not may_ask(principal, Action.REMOVE):
        return False
    if held.is_author(principal.subject_id):      # as ITI-62 lets an author remove the entries
        return True
    return bool(held.submitter) and held.submitter == principal.subject_id \
        and held.organisation == principal.structure_id


def may_remove(principal: Principal, authors: frozenset[str]) -> bool:
    """Removal for good (ITI-62, ITI-86) of an object whose authors are `authors` (for an
    association, the authors of its source object: the one who made the link)."""
    if principal.is_system or principal.role == ADMINISTRATOR:
        return True
    return may_ask(principal, Action.REMOVE) and principal.subject_id in authors
