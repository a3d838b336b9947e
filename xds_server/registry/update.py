"""Update Document Set (ITI-57, ITI TF-2b §3.57, the Metadata Update supplement): new versions
of DocumentEntries and Folders, changes of availability status, associations added between
registered objects, checked against the registry and written in one transaction.

The operations, each the association (or object) that carries it, and where it is checked:
- a new version of a DocumentEntry or Folder, announced by a HasMember from the submission set
  with `PreviousVersion` (update_versions.py; it may move the object to another patient);
- `UpdateAvailabilityStatus` from the submission set: a registered object (or association)
  moves from `OriginalStatus` to `NewStatus` (Approved, Deprecated, and the CI-SIS Archived
  and Deleted for documents) (update_links.py);
- `SubmitAssociation` from the submission set: the association it targets, in the request, is
  added between registered objects (update_links.py).
New documents go by ITI-42 or ITI-41: an ITI-57 DocumentEntry without a registered lid is
refused. What the patient and a legal representative may change of a document they did not
write (its visibility codes and status, no association) is update_rights.py's.
"""

from __future__ import annotations

from collections.abc import Callable

from ..model import vocabulary as v
from ..model.errors import ErrorCode, RegistryError, RegistryFailure, error
from ..model.metadata import Submission
from ..security.access import (
    ADMINISTRATOR,
    DELETED,
    Action,
    check_scope,
    may_ask,
    may_delete,
    may_set_status,
)
from ..security.principal import Principal
from ..store import audit_store
from ..store import registry_store as store
from ..store.database import UnitOfWork, pipelined
from ..store.locks import lock_records
from . import signed_moves, signed_sets, signed_state, update_rights
from .feeding import open_record
from .register import RegistryWriter, written_by
from .update_links import OPERATIONS, check_references, check_status_change, check_submitted
from .update_plan import ARCHIVED, UPDATE, UpdatePlan, short
from .update_versions import check_document_version, check_folder_version

__all__ = ["ARCHIVED", "DELETED", "MetadataUpdater"]


class MetadataUpdater:
    """The ITI-57 side of the registry writer."""

    def __init__(self, writer: RegistryWriter, signatures_required: bool = False) -> None:
        """`signatures_required`: registered signed sets keep what their signature covers
        (signed_sets.py)."""
        self.writer = writer
        self.signatures_required = signatures_required

    def update(self, submission: Submission, principal: Principal,
               decode_errors: list[RegistryError] | None = None,
               within: Callable[[UnitOfWork], None] | None = None,
               held: Callable[..., list[RegistryError]] | None = None
               ) -> list[RegistryError]:
        """`within` runs in the update's transaction (the HL7 v2 front logs its message);
        `held(uow, only=entryUUIDs)` checks there that new versions naming other bytes than
        their latest name bytes held (repositories.py, rule A)."""
        findings = list(decode_errors or [])
        findings += self.writer.profile.check(submission, update=True)
        if any(f.is_error for f in findings):
            raise RegistryFailure(findings)
        check_scope(principal, [submission.submission_set.patient_id], "the update")
        with self.writer.database.transaction() as uow:
            lock_records(uow, *written_by(submission))
            plan = self._check(uow, submission, principal)
            if held is not None and plan.rebound and (unheld := held(uow, only=plan.rebound)):
                raise RegistryFailure(unheld)
            watched = signed_state.watch(
                uow, [plan.patient, *(former for _, former in plan.moved.values())],
                self.signatures_required, touches=signed_state.touched_by(submission, plan),
                signing=signed_state.signs_into(submission, plan))
            with pipelined(uow):
                self.writer.write(uow, submission, plan)
                self._apply(uow, plan)
                changed = [d.unique_id for d in submission.documents] + \
                    [c.association.target for c in plan.status_changes]
                detail = f"submission_set={submission.submission_set.unique_id}"
                audit_store.record(uow, principal, "U", "success", plan.patient,
                                   changed, "ITI-57", detail)
                for former in sorted({patient for _, patient in plan.moved.values()}):
                    # the former record's history says a version left it, not where it went
                    audit_store.record(uow, principal, "U", "success", former,
                                       [d.unique_id for d in submission.documents], "ITI-57",
                                       f"{detail}\npatient_change=moved to another record")
                if within is not None:
                    within(uow)
            signed_state.hold(watched, uow, UPDATE, "Association.NewStatus", principal)
        return findings

    # --- checks --------------------------------------------------------------------------------

    def _check(self, uow: UnitOfWork, submission: Submission,
               principal: Principal) -> UpdatePlan:
        submission_set = submission.submission_set
        assert submission_set is not None
        patient = open_record(uow, submission_set.patient_id, "SubmissionSet")
        plan = UpdatePlan(patient, principal=principal)
        errors: list[RegistryError] = []
        new_ids = {o.entry_uuid for o in (submission_set, *submission.documents,
                                          *submission.folders, *submission.associations)}
        for entry in store.find_existing(uow, new_ids, [submission_set.unique_id]):
            # the id the caller sent, not what it names: another patient's object, or one
            # hidden from them, is not described (outside round 19g, 19g-3: its kind was told)
            sent = entry.entry_uuid if entry.entry_uuid in new_ids else \
                f"the SubmissionSet's uniqueId {submission_set.unique_id}"
            errors.append(error(ErrorCode.REGISTRY_METADATA_ERROR,
                                f"{sent} is already registered: an update needs new "
                                "entryUUIDs and a new submission set", "entryUUID"))
        model_object = self.writer.stored_form.model_object
        for document in submission.documents:
            errors += check_document_version(uow, submission, document, plan)
            errors += update_rights.version_errors(submission, document, plan, model_object)
        for folder in submission.folders:
            errors += update_rights.folder_errors(submission, folder, plan)
            errors += check_folder_version(uow, submission, folder, plan)
        submitted = {a.target for a in submission.associations
                     if a.type == v.SUBMIT_ASSOCIATION}
        for association in submission.associations:
            if association.type == v.UPDATE_AVAILABILITY_STATUS:
                errors += check_status_change(uow, submission, association, plan)
            elif association.type == v.SUBMIT_ASSOCIATION:
                errors += check_submitted(uow, submission, association, plan)
            elif association.entry_uuid not in submitted and \
                    association.type not in OPERATIONS:
                errors += check_references(uow, submission, association, plan)
        errors += update_rights.link_errors(submission, plan)
        errors += self._check_policy(uow, plan, principal)
        if self.signatures_required and plan.moved:
            errors = signed_moves.move_errors(uow, plan) + errors   # says the way out first
        if self.signatures_required and not errors:
            errors += signed_sets.update_errors(uow, submission, plan)
        if errors:
            raise RegistryFailure(errors)
        return plan

    @staticmethod
    def _check_policy(uow: UnitOfWork, plan: UpdatePlan,
                      principal: Principal) -> list[RegistryError]:
        """Only what the caller may see can be updated (what they may not see was answered as
        not registered by the checks before); only its author deletes a document."""
        if principal.is_system:
            return []
        if not may_ask(principal, Action.UPDATE):
            return [error(UPDATE, f"a caller with the role {principal.role} may not update a "
                                  "record's metadata", "VIHF role")]
        targets = sorted({c.association.target for c in plan.status_changes
                          if c.kind == "document"})
        facts = {row.entry_uuid: row
                 for row in store.objects(uow, "document", plan.patient, targets)}
        errors = []
        for change in plan.status_changes:
            fact = facts.get(change.association.target)
            if change.kind == "document" and fact is not None:
                if change.new == DELETED and not may_delete(principal, fact):
                    errors.append(error(UPDATE, f"only the author of document "
                                                f"{change.association.target} may delete it",
                                        "Association.NewStatus"))
                elif not may_set_status(principal, fact, change.original, change.new):
                    errors.append(error(UPDATE, f"a caller with the role {principal.role} may "
                                                f"not move document {change.association.target} "
                                                f"from {short(change.original)} to "
                                                f"{short(change.new)} (only its author or an "
                                                "administrator may; the patient and a legal "
                                                "representative archive an Approved document "
                                                "and unarchive an Archived one)",
                                        "Association.NewStatus"))
            elif change.new == DELETED and change.kind != "document" and \
                    principal.role != ADMINISTRATOR:
                # a folder or an association has no author: deleting it is an administrator's
                errors.append(error(UPDATE, f"only an administrator may delete the "
                                            f"{change.kind} {change.association.target}",
                                    "Association.NewStatus"))
        return errors

    # --- writing -------------------------------------------------------------------------------

    @staticmethod
    def _apply(uow: UnitOfWork, plan: UpdatePlan) -> None:
        for entry_uuid, status in plan.inherited_status.items():
            if status != v.APPROVED:
                store.set_status(uow, "document", plan.patient, [entry_uuid], status)
        for entry_uuid, (kind, former) in plan.moved.items():
            store.set_status(uow, kind, former, [entry_uuid], v.DEPRECATED)
        for change in plan.status_changes:
            store.set_status(uow, change.kind, plan.patient,
                             [change.association.target], change.new)
