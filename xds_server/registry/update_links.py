"""The associations of an ITI-57: status changes (UpdateAvailabilityStatus), associations added
to registered objects (SubmitAssociation), and the references of any other association.

To a caller under the access policy, another patient's object and a document hidden from them
are not registered: every refusal about one reads as about an object that does not exist.
"""

from __future__ import annotations

from ..model import vocabulary as v
from ..model.errors import ErrorCode, RegistryError, error
from ..model.metadata import Association, Submission
from ..model.registered import IndexEntry, version_number
from ..store import registry_store as store
from ..store.database import UnitOfWork
from .register import closed_set
from .update_plan import (
    ARCHIVED,
    ASSOCIATION_PROPAGATION,
    DELETED,
    OPERATION,
    RECONCILIATION,
    UPDATE,
    StatusChange,
    UpdatePlan,
    short,
)

AVAILABILITY_STATUSES = (v.APPROVED, v.DEPRECATED, ARCHIVED, DELETED)
# the submission set's own operations on registered objects and associations
OPERATIONS = (v.UPDATE_AVAILABILITY_STATUS, v.SUBMIT_ASSOCIATION)


def _label(submission: Submission, association: Association) -> str:
    return f"Association {submission.source_name(association.entry_uuid)}"


# --- UpdateAvailabilityStatus ------------------------------------------------------------------

def check_status_change(uow: UnitOfWork, submission: Submission,
                        association: Association, plan: UpdatePlan) -> list[RegistryError]:
    """An UpdateAvailabilityStatus association. A request the registry cannot decode (slots
    missing, unknown, not statuses, no change) is XDSMetadataUpdateOperationError ("cannot
    decode the requested metadata update", MU Table 4.2.4.1-2; NIST test 20002); a well-formed
    one that does not fit the registry is XDSMetadataUpdateError. The target is the latest
    version of its object (ITI TF-2b 3.57.4.1.3.3.2.3: a status change of an older, Deprecated
    version would leave two current versions), which may be the version this same request
    submits, or an association (a folder membership or a relationship, NIST 20001)."""
    label = f"{_label(submission, association)} (UpdateAvailabilityStatus)"
    original = association.slot(v.ORIGINAL_STATUS)
    new = association.slot(v.NEW_STATUS)
    malformed = []
    if association.source != submission.submission_set.entry_uuid:
        malformed.append("its sourceObject must be the submission set")
    for name, value in (("OriginalStatus", original), ("NewStatus", new)):
        if value is None:
            malformed.append(f"the {name} slot is missing")
        elif value not in AVAILABILITY_STATUSES:
            malformed.append(f"{name} '{value}' is not an availability status")
    others = sorted(set(association.slots) - {v.ORIGINAL_STATUS, v.NEW_STATUS})
    if others:
        malformed.append(f"slots {', '.join(others)} do not belong on it (only "
                         "OriginalStatus and NewStatus)")
    if original is not None and original == new:
        malformed.append("NewStatus is the same as OriginalStatus")
    if malformed:
        return [error(OPERATION, f"{label}: {p}", "Association.UpdateAvailabilityStatus")
                for p in malformed]
    kind, current, problem = _status_target(uow, submission, association.target, plan)
    if problem is None and current != original:
        problem = f"OriginalStatus is {short(original)} but the object is {short(current)}"
    if problem is None and kind == "association" and new not in (v.APPROVED, v.DEPRECATED):
        problem = f"an association is Approved or Deprecated, not {short(new)}"
    if problem is not None:
        return [error(UPDATE, f"{label}: {problem}", "Association.UpdateAvailabilityStatus")]
    assert original is not None and new is not None and kind is not None
    plan.status_changes.append(StatusChange(association, kind, original, new))
    return []


def _status_target(uow: UnitOfWork, submission: Submission, target: str,
                   plan: UpdatePlan) -> tuple[str | None, str | None, str | None]:
    """(kind, current status, problem) of the object a status change targets."""
    if target in {d.entry_uuid for d in submission.documents}:
        return "document", plan.inherited_status.get(target, v.APPROVED), None
    if target in {f.entry_uuid for f in submission.folders}:
        return "folder", v.APPROVED, None
    if target in {a.target for a in submission.associations
                  if a.type == v.SUBMIT_ASSOCIATION}:
        return "association", v.APPROVED, None      # added by this request (NIST 20005)
    entry = store.find_by_uuids(uow, [target]).get(target)
    if entry is None or entry.patient_id != plan.patient or \
            entry.kind not in ("document", "folder", "association") or \
            plan.hidden(uow, [target]):
        return None, None, (f"targetObject {target} is not a registered DocumentEntry, Folder "
                            "or Association of this patient")
    row = store.objects(uow, entry.kind, plan.patient, [target])[0]
    if entry.kind == "association":
        return _association_target(uow, plan, row)
    versions = store.objects(uow, entry.kind, plan.patient,
                                 [row.logical_id or target], by="logical_id")
    latest = max(versions, key=lambda r: version_number(r.version))
    if latest.entry_uuid != target or target in plan.deprecate | plan.deprecate_folders:
        return None, None, (f"targetObject {target} is version {row.version or '1'} of "
                            f"logicalId {row.logical_id or target}, not its latest version "
                            f"({latest.version or '1'}): only the latest version's status "
                            "changes")
    return entry.kind, row.status, None


def _association_target(uow: UnitOfWork, plan: UpdatePlan, row
                        ) -> tuple[str | None, str | None, str | None]:
    """An association's status changes when it links documents or files one in a folder (the
    supplement's Update Association Status: NIST 20001 deprecates and undeprecates an APND); a
    submission set's HasMember records what was submitted and keeps its status (the NIST
    registry simulator refuses it the same way)."""
    source = store.find_by_uuids(uow, [row.source]).get(row.source)
    if row.type == v.HAS_MEMBER and (source is None or source.kind != "folder"):
        return None, None, (f"targetObject {row.entry_uuid} is a submission set's HasMember: "
                            "it records a submission and keeps its status")
    if row.type in OPERATIONS:
        return None, None, f"targetObject {row.entry_uuid} is a metadata update operation"
    hidden = plan.hidden(uow, [row.source, row.target])
    if hidden:
        return None, None, (f"targetObject {row.entry_uuid} is not a registered DocumentEntry, "
                            "Folder or Association of this patient")
    return "association", row.status, None


# --- SubmitAssociation -------------------------------------------------------------------------

def check_submitted(uow: UnitOfWork, submission: Submission, operation: Association,
                    plan: UpdatePlan) -> list[RegistryError]:
    """A SubmitAssociation: the submission set adds the association it targets, between two
    registered objects (MU supplement, Submit Associations). Both ends are Approved objects of
    this patient, neither a submission set; a HasMember files a DocumentEntry in a Folder, a
    relationship links two DocumentEntries; the same link, Approved, must not exist already
    (NIST 20001, 21004). A link between two patients' objects is XDSPatientIDReconciliationError
    (NIST 20100a/b). A replacement (RPLC, XFRM_RPLC) is not added this way: it arrives with its
    new DocumentEntry (ITI-41/42), which deprecates what it replaces; added between registered
    documents it would leave both current.

    An end may be a new version this request submits, if its update does not propagate
    associations (AssociationPropagation "no"): the source links it by hand, and propagation
    would plan the same links for it (CP-ITI-1029 on the update planning rules of 3.57.4.1.3.1.1,
    as NIST 20006 tests it: XDSMetadataUpdateOperationError otherwise)."""
    label = f"{_label(submission, operation)} (SubmitAssociation)"
    added = {a.entry_uuid: a for a in submission.associations}.get(operation.target)
    if operation.source != submission.submission_set.entry_uuid:
        return [error(UPDATE, f"{label}: its sourceObject must be the submission set",
                      "Association.sourceObject")]
    if added is None or added.type in OPERATIONS:
        return [error(UPDATE, f"{label}: its targetObject {operation.target} is not an "
                              "association of this request", "Association.targetObject")]
    name = submission.source_name(added.entry_uuid)
    what = f"{label}: the {short(added.type)} association {name}"
    if added.type in v.REPLACING:
        return [error(UPDATE, f"{what}: a replacement is submitted with its new DocumentEntry "
                              "(ITI-41 or ITI-42), not between registered documents",
                      "Association.associationType")]
    ends, errors = {}, []
    for side in ("source", "target"):
        found, problem = _end(uow, submission, plan, getattr(added, side))
        if problem:
            errors.append(error(problem[0], f"{what}: {side}Object {problem[1]}",
                                f"Association.{side}Object"))
        else:
            ends[side] = found
    if errors:
        return errors
    wanted = ("folder", "document") if added.type == v.HAS_MEMBER else ("document", "document")
    if (ends["source"].kind, ends["target"].kind) != wanted:
        return [error(UPDATE, f"{what} must link a {wanted[0]} to a {wanted[1]}, not a "
                              f"{ends['source'].kind} to a {ends['target'].kind}",
                      "Association.associationType")]
    existing = [row for row in store.associations_touching(uow, plan.patient,
                                                           [added.source], "source")
                if row.target == added.target and row.type == added.type
                and row.status == v.APPROVED]
    if existing:
        return [error(UPDATE, f"{what}: the Approved association {existing[0].entry_uuid} "
                              "already links these objects", "Association.targetObject")]
    if added.type == v.HAS_MEMBER:
        plan.touched_folders.add(added.source)
    return []


def _end(uow: UnitOfWork, submission: Submission, plan: UpdatePlan, ref: str):
    """(the object, None) or (None, (code, what is wrong with it)): a new version of this
    request, or a registered object."""
    versions = {o.entry_uuid: ("document" if o in submission.documents else "folder", o)
                for o in (*submission.documents, *submission.folders)}
    if ref in versions:
        kind, obj = versions[ref]
        membership = next((a for a in submission.associations if a.type == v.HAS_MEMBER
                           and a.target == ref), None)
        propagation = (membership.slot(ASSOCIATION_PROPAGATION) or "yes").lower() \
            if membership else "yes"
        if propagation != "no":
            return None, (OPERATION, f"{submission.source_name(ref)} is a new version this "
                                     "request submits with association propagation: its "
                                     "links are the registry's to plan (AssociationPropagation "
                                     "'no' adds them by hand)")
        return IndexEntry(ref, obj.unique_id, kind, plan.patient), None
    return _registered_end(uow, plan, ref)


def _registered_end(uow: UnitOfWork, plan: UpdatePlan, ref: str):
    entry = store.find_by_uuids(uow, [ref]).get(ref)
    visible = entry is not None and (plan.principal.is_system or (
        entry.patient_id == plan.patient and not plan.hidden(uow, [ref])))
    if not visible or entry.kind not in ("document", "folder"):
        kind = entry.kind if visible and entry is not None else None
        return None, (UPDATE, f"{ref} is not a registered DocumentEntry or Folder of this "
                              f"patient{f' (it is a {kind})' if kind else ''}")
    if entry.patient_id != plan.patient:       # the system only: the others do not see it
        return None, (RECONCILIATION, f"{ref} belongs to another patient: an association "
                                      "links objects of one patient")
    row = store.objects(uow, entry.kind, plan.patient, [ref])[0]
    if row.status != v.APPROVED:
        return None, (UPDATE, f"{ref} is {short(row.status)}, not Approved")
    return entry, None


# --- any other association ---------------------------------------------------------------------

def check_references(uow: UnitOfWork, submission: Submission,
                     association: Association, plan: UpdatePlan) -> list[RegistryError]:
    """An association an update carries beside its operations (a relationship of the new
    version, a folder membership): an end outside the request is a registered object of this
    patient, as in ITI-42 (register.py); a HasMember comes from the request's set or a Folder,
    never from a registered submission set or document (register.closed_set)."""
    local = {o.entry_uuid for o in (submission.submission_set, *submission.documents,
                                    *submission.folders, *submission.associations)}
    if association.type == v.SIGNS:
        # outside rounds 19f-1, 19g-1: a `signs` riding beside a new version (into a folder,
        # into a signed set from a CDA's version) made rule K count a holder or a signer no
        # signature's Manifest names; every profile (with signatures required, rule F too)
        return [error(UPDATE, f"{_label(submission, association)}: a signs association is "
                              "submitted with its signature document (ITI-41 or ITI-42), "
                              "whose Manifest names what it signs; an update's new version "
                              "of a signature keeps its signs by propagation",
                      "Association.associationType")]
    if association.type in v.REPLACING:
        # outside round 19e, E3: an RPLC from the update's new version to another registered
        # document was written and deprecated nothing: both current (as check_submitted says)
        return [error(UPDATE, f"{_label(submission, association)}: a replacement "
                              f"({short(association.type)}) is submitted with its new "
                              "DocumentEntry (ITI-41 or ITI-42), which deprecates what it "
                              "replaces; an update's new version is a version, not a "
                              "replacement", "Association.associationType")]
    errors = []
    for side in ("source", "target"):
        ref = getattr(association, side)
        if ref in local:
            continue
        entry = store.find_by_uuids(uow, [ref]).get(ref)
        visible = entry is not None and (plan.principal.is_system or (
            entry.patient_id == plan.patient and not plan.hidden(uow, [ref])))
        if not visible:
            errors.append(error(ErrorCode.REGISTRY_METADATA_ERROR,
                                f"{_label(submission, association)}: {side}Object {ref} is "
                                "neither in this submission nor in the registry",
                                f"Association.{side}Object"))
        elif entry.patient_id != plan.patient:
            errors.append(error(ErrorCode.PATIENT_ID_DOES_NOT_MATCH,
                                f"{_label(submission, association)}: {side}Object {ref} "
                                "belongs to another patient", f"Association.{side}Object"))
        elif side == "source" and association.type == v.HAS_MEMBER and \
                entry.kind != "folder":
            errors.append(closed_set(_label(submission, association), ref, entry.kind))
    return errors
