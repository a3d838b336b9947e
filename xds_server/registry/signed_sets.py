"""What an ITI-57 or an ITI-62 may change of a registered signed submission set while
XDS_REQUIRE_SUBMISSION_SIGNATURE is on (outside test 19b): the registry took the set because its
signature was verified over its documents' bytes (ITI-41, or ITI-42 from a verifying
repository, repositories.py); an update or a removal must not leave it registered as "signed"
over something the signature does not cover.

Each rule (the transaction), what holds, and the attack it stops:

G. (ITI-57) A new DocumentEntry version keeps its latest's hash, size and repositoryUniqueId
   (new bytes come by ITI-41 or an RPLC ITI-42, where the signature is verified). Attack (F1):
   a version of the signed CDA, or of the signature itself, naming hash 000… at an unknown or
   listed repository: the current document of a "signed" set unsigned and unretrievable.
H. (ITI-57) A signature's new version keeps every code of one (model/signature_entry.py,
   entry_problems), another document's takes none (claims_to_be_signature). Attack (F3): a CDA
   given a signature's classCode/typeCode/formatCode (two signatures in one set), or the
   signature given a CDA's (a set with no recognisable signature, its `signs` left on the old
   version); N5 (round 19c): the formatCode kept alone, the signature found as a lab report.
I. (ITI-57 status, ITI-62) A signature document, or its `signs` association, is not
   deprecated, deleted or removed alone while the set it signs keeps documents; with every
   document of that set it may go. Attack (F2): the author removes (ITI-62) or deletes (ITI-57
   UpdateAvailabilityStatus) the signature entry only; the set's CDA stays Approved, signed by
   nothing, a state ITI-41/42 never accept.
J. (a registration without a signature: the HL7 v2 front without a seal, docs/hl7v2.md) It
   does not replace (RPLC, XFRM_RPLC) a document of a signed set. Attack: an MLLP ORU/MDM
   with OBX-11 'C' (a correction) silently replacing a signed CDA with unsigned bytes; the
   source sends the correction as a signed ITI-41 instead.

L. (ITI-41/42, ITI-57) An APND or XFRM does not join a signature document and a non-signature,
   either way, whichever end is new or registered (RPLC and XFRM_RPLC: rule K2). Attack
   (outside round 19d, D5): a correctly signed set whose signature APNDs (XFRMs) a registered
   lab report, or whose report APNDs a registered signature; GetRelatedDocuments then gives a
   signature as an addendum (a transform) of a report, or a report as one of a signature.
M. (ITI-41/42) A submission set holds nothing by reference (a HasMember from it to an object
   not in the submission, IHE's SubmissionSetStatus=Reference): a signed set holds only what
   its signature signs, and the Manifest's digests are SHA-256 over the bytes its submission
   carries, which a registered document's are not (they were not received, so the signature
   cannot have signed them). Attack (D2): set B, signed over its own CDA, also holds set A's
   CDA by reference; rules J and K counted A's CDA as signed by B's signature, and A's
   signature could then be archived, deleted or removed alone. (A HasMember added later from a
   registered submission set is refused in every profile: register.py, update_links.py; an
   ITI-57's own set may hold registered objects, but carries no `signs`, repositories.py rule
   F, so nothing it holds counts as signed.)

These rules name the routes found one by one; rule K (signed_state.py) checks the end state they
protect after every change, whatever its route.

A registered document is a signature when its classCode is a signature's or it is the source of
a `signs` association (the DSG profile holds only the formatCode, which the registry does not
keep in a column; under the requirement every registered signature signs its set). A set
"keeps" a document while a version of it (same logicalId) is Approved or Archived and not
deprecated, deleted or removed by the same request. IHE ITI-62 removes objects and their
associations together, all or nothing (remove.py): removing the set's documents with the
signature is allowed, as is deprecating or deleting them with it in one ITI-57.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING

from ..model import vocabulary as v
from ..model.errors import ErrorCode, RegistryError, error
from ..model.metadata import DocumentEntry, Submission
from ..model.registered import DocumentRecord
from ..model.signature_entry import SIGNATURE_CLASS, claims_to_be_signature, entry_problems
from ..security.access import DELETED
from ..security.principal import SYSTEM, Principal
from ..store import registry_store as store
from ..store.database import UnitOfWork
from .query_policy import hidden_objects

if TYPE_CHECKING:   # update_plan reads register.py, which checks rules L and M from here
    from .update_plan import UpdatePlan

UPDATE = ErrorCode.METADATA_UPDATE_ERROR
META = ErrorCode.REGISTRY_METADATA_ERROR
REQUIRED = "while XDS_REQUIRE_SUBMISSION_SIGNATURE is on"
GONE = frozenset({v.DEPRECATED, DELETED})
RELATING = frozenset({v.APND, v.XFRM, v.IS_SNAPSHOT_OF})   # 19e E6: the snapshot too


def update_errors(uow: UnitOfWork, submission: Submission,
                  plan: UpdatePlan) -> list[RegistryError]:
    """Rules G, H and I on an ITI-57, once its versions and status changes are read."""
    name = submission.source_name
    errors = []
    for document in submission.documents:
        latest = plan.latest.get(document.entry_uuid)
        if latest is None:
            continue
        label = f"DocumentEntry {name(document.entry_uuid)} (uniqueId {document.unique_id})"
        if document.entry_uuid in plan.rebound:
            errors.append(error(UPDATE, f"{label}: a new version keeps the hash, size and "
                                        f"repositoryUniqueId of version {latest.version or '1'} "
                                        f"({latest.hash}, {latest.size}, "
                                        f"{latest.repository_unique_id}) {REQUIRED}: new bytes "
                                        "come by ITI-41 or a replacement (RPLC), where their "
                                        "signature is verified (rule G)",
                                "DocumentEntry.hash"))
        errors += _kind_kept(uow, label, document, latest)
    errors += relationship_errors(uow, submission, plan.patient, UPDATE)
    # a version deprecated by its new version is not leaving: its links go to the new one
    leaving = {c.association.target for c in plan.status_changes if c.new in GONE}
    errors += [error(UPDATE, text, "Association.NewStatus")
               for text in _alone(uow, plan.patient, leaving, plan.principal,
                                  "deprecated or deleted",
                                  "deprecate or delete them with it (UpdateAvailabilityStatus)")]
    return errors


def _kind_kept(uow: UnitOfWork, label: str, document: DocumentEntry,
               latest: DocumentRecord) -> list[RegistryError]:
    """Rule H: a signature's new version keeps every code of one (the DMP's three when its
    latest had the DMP's classCode, else IHE DSG's formatCode), a non-signature's takes none
    (outside round 19c N5: keeping the formatCode alone, a signature became a lab report to a
    query by classCode)."""
    if not is_signature(uow, latest):
        if not claims_to_be_signature(document):
            return []
        return [error(UPDATE, f"{label}: a new version of a non-signature document must not "
                              "take a signature document's classCode, typeCode or formatCode "
                              f"{REQUIRED} (rule H)", "DocumentEntry.classCode")]
    problems = entry_problems(document, dmp=latest.class_code == SIGNATURE_CLASS.code)
    return [error(UPDATE, f"{label}: a new version of a signature document must keep a "
                          f"signature document's codes {REQUIRED} (rule H): {problem}",
                  f"DocumentEntry.{field}") for field, problem in problems]


def registration_errors(uow: UnitOfWork, submission: Submission,
                        patient: str) -> list[RegistryError]:
    """Rules L and M on a registration, once its references are found this record's
    (register.py): no end named here is another patient's, nor hidden from the caller."""
    return [*_by_reference(submission), *relationship_errors(uow, submission, patient, META)]


def _by_reference(submission: Submission) -> list[RegistryError]:
    """Rule M: what the submission set holds is in the submission. The target is not looked
    up: the refusal is the same whatever it names."""
    name = submission.source_name
    package = submission.submission_set.entry_uuid if submission.submission_set else ""
    local = {o.entry_uuid for o in (*submission.documents, *submission.folders,
                                    *submission.associations)}
    return [error(META, f"Association {name(a.entry_uuid)}: the SubmissionSet {name(package)} "
                        f"holds {name(a.target)}, which is not in this submission, by reference "
                        f"(Association.SubmissionSetStatus "
                        f"'{a.slot(v.SUBMISSION_SET_STATUS) or '(none)'}'), {REQUIRED}: a signed "
                        "set holds only the documents its signature signs, and the signature's "
                        "Manifest digests the bytes this submission carries, not a registered "
                        "document's; send the document in the set (rule M)",
                  "Association.targetObject")
            for a in submission.associations
            if a.type == v.HAS_MEMBER and a.source == package and a.target not in local]


def relationship_errors(uow: UnitOfWork, submission: Submission, patient: str,
                        code: ErrorCode) -> list[RegistryError]:
    """Rule L: an APND or XFRM of the request, between documents of the request (a new
    version is what rule H keeps it) or registered documents of this record."""
    relating = [a for a in submission.associations if a.type in RELATING]
    if not relating:
        return []
    signature = {d.entry_uuid: claims_to_be_signature(d) for d in submission.documents}
    outside = sorted({ref for a in relating for ref in (a.source, a.target)
                      if ref not in signature})
    for row in store.objects(uow, "document", patient, outside):
        signature[row.entry_uuid] = is_signature(uow, row)   # type: ignore[arg-type]
    name = submission.source_name
    errors = []
    for association in relating:
        source, target = signature.get(association.source), signature.get(association.target)
        if source is None or target is None or source == target:
            continue   # not two documents (the reference checks say so), or of one kind
        errors.append(error(code, f"Association {name(association.entry_uuid)}: "
                                  f"{association.type.rsplit(':', 1)[-1]} from {_kind(source)} "
                                  f"{name(association.source)} to {_kind(target)} "
                                  f"{name(association.target)} joins a signature document and "
                                  f"another document {REQUIRED}: a signature is related to "
                                  "what it signs by `signs` only, and an addendum, a "
                                  "transform or a snapshot of a document is a document "
                                  "(rule L)",
                            "Association.associationType"))
    return errors


def _kind(signature: bool) -> str:
    return "signature document" if signature else "non-signature document"


def removal_errors(uow: UnitOfWork, patient: str, removed: Collection[str],
                   principal: Principal = SYSTEM) -> list[RegistryError]:
    """Rule I on an ITI-62."""
    return [error(ErrorCode.REGISTRY_ERROR, text, "ObjectRef")
            for text in _alone(uow, patient, set(removed), principal, "removed",
                                            "remove them with it (ITI-62)")]


def is_signature(uow: UnitOfWork, document: DocumentRecord) -> bool:
    if document.class_code == SIGNATURE_CLASS.code:
        return True
    return any(row.type == v.SIGNS for row in store.associations_touching(
        uow, document.patient_id, [document.entry_uuid], "source"))


def _alone(uow: UnitOfWork, patient: str, leaving: set[str], principal: Principal, verb: str,
           how: str) -> list[str]:
    """The refusals of rule I: each signature (or `signs` association) among `leaving`
    whose signed set keeps a document that is not leaving with it. The set's documents are
    named only when none is hidden from the caller (outside round 19d, D4: to a patient, a
    document not yet announced to them does not exist)."""
    if not leaving:
        return []
    rows = {row.entry_uuid: row for row in (
        *store.associations_touching(uow, patient, sorted(leaving), "source"),
        *store.objects(uow, "association", patient, sorted(leaving)))}
    signs = [row for row in rows.values() if row.type == v.SIGNS and row.status == v.APPROVED
             and (row.entry_uuid in leaving or row.source in leaving)]
    sets = {row.entry_uuid for row in store.objects(
        uow, "submission_set", patient, sorted({row.target for row in signs}))}
    refusals = []
    for row in signs:
        if row.target not in sets:
            if row.source not in leaving and row.target not in leaving:
                # DSG's `signs` to each document: the document stays, its signer gone
                refusals.append(f"signs association {row.entry_uuid} cannot be {verb} alone "
                                f"{REQUIRED}: document {row.target} would stay registered "
                                f"without its signer {row.source}; {how} (rule I)")
            continue
        kept = _kept(uow, patient, row.target, row.source, leaving)
        if kept:
            named = "" if hidden_objects(uow, principal, patient, kept) else \
                f" {', '.join(kept)}"
            what = f"signature document {row.source}" if row.source in leaving \
                else f"signs association {row.entry_uuid}"
            refusals.append(f"{what} cannot be {verb} alone {REQUIRED}: submission set "
                            f"{row.target} would stay registered, its document(s){named} "
                            f"signed by nothing; {how} (rule I)")
    return refusals


def _kept(uow: UnitOfWork, patient: str, signed_set: str, signature: str,
          leaving: set[str]) -> list[str]:
    """The documents of the set (but its signature) with a current version not leaving."""
    members = [row.target for row in store.associations_touching(uow, patient, [signed_set],
                                                                 "source")
               if row.type == v.HAS_MEMBER and row.entry_uuid not in leaving
               and row.target != signature]
    documents = store.objects(uow, "document", patient, members)
    lids = sorted({d.logical_id or d.entry_uuid for d in documents})
    versions = store.objects(uow, "document", patient, lids, by="logical_id") if lids else []
    current = {d.logical_id or d.entry_uuid for d in (*documents, *versions)
               if d.status not in GONE and d.entry_uuid not in leaving}
    return sorted(d.entry_uuid for d in documents
                  if (d.logical_id or d.entry_uuid) in current)


def replacement_errors(uow: UnitOfWork, submission: Submission) -> list[RegistryError]:
    """Rule J, on a registration whose set carries no signature document (the signed ones are
    verified: ITI-41, or ITI-42 from a verifying repository)."""
    if not unsigned_replacement(submission):
        return []
    name = submission.source_name
    replacing = [a for a in submission.associations if a.type in v.REPLACING]
    found = store.find_by_uuids(uow, {a.target for a in replacing})
    errors = []
    for association in replacing:
        target = found.get(association.target)
        if target is None or target.kind != "document" or \
                not _signed(uow, target.patient_id, target.entry_uuid):
            continue
        errors.append(error(ErrorCode.REGISTRY_METADATA_ERROR,
                            f"Association {name(association.entry_uuid)}: an unsigned "
                            f"submission set may not replace document {association.target}, "
                            f"which a signed submission set registered, {REQUIRED}: send the "
                            "replacement as a signed set (ITI-41) (rule J)",
                            "Association.targetObject"))
    return errors


def unsigned_replacement(submission: Submission) -> bool:
    """A set without a signature document that replaces something (rule J looks further)."""
    return any(a.type in v.REPLACING for a in submission.associations) and \
        not any(claims_to_be_signature(d) for d in submission.documents)


def _signed(uow: UnitOfWork, patient: str, document: str) -> bool:
    """Whether a `signs` association names this document or a set that holds it."""
    incoming = store.associations_touching(uow, patient, [document], "target")
    if any(row.type == v.SIGNS for row in incoming):
        return True
    sets = [row.source for row in incoming if row.type == v.HAS_MEMBER]
    return any(row.type == v.SIGNS
               for row in store.associations_touching(uow, patient, sets, "target"))
