"""Restricted Update Document Set (ITI-57, ITI TF-2 §3.57): new versions of DocumentEntries and
Folders and changes of availability status, checked against the registry and written in one
transaction.

A new version keeps its logicalId (`lid`) and uniqueId, gets a new entryUUID and version n+1,
and is announced by a HasMember from the submission set carrying `PreviousVersion=n`; version n
becomes Deprecated. An `UpdateAvailabilityStatus` association from the submission set moves a
registered object from `OriginalStatus` to `NewStatus` (Approved, Deprecated, and the CI-SIS
Archived and Deleted). Anything else an ITI-57 carries is refused: new documents go by ITI-42.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Connection
from sqlalchemy.engine import Row

from ..model import vocabulary as v
from ..model.errors import ErrorCode, RegistryError, RegistryFailure, error
from ..model.metadata import Association, DocumentEntry, Folder, Submission
from ..security.access import DELETED, Action, check_scope, may_ask, may_delete
from ..security.principal import SYSTEM, Principal
from ..store import access_store
from ..store import registry_store as store
from .query_policy import hidden_documents
from .register import RegistryWriter, _Plan, pipelined

UPDATE = ErrorCode.METADATA_UPDATE_ERROR
VERSION = ErrorCode.METADATA_VERSION_ERROR
ARCHIVED = "urn:asip:ci-sis:2010:StatusType:Archived"
ASSOCIATION_PROPAGATION = "AssociationPropagation"
AVAILABILITY_STATUSES = (v.APPROVED, v.DEPRECATED, ARCHIVED, DELETED)
# what identifies the document: an update that changes one of these is a different document
UNCHANGEABLE = (("unique_id", "uniqueId"), ("patient_id", "patientId"),
                ("object_type", "objectType"))


@dataclass
class _StatusChange:
    association: Association
    kind: str
    original: str
    new: str


@dataclass
class _UpdatePlan(_Plan):
    inherited_status: dict[str, str] = field(default_factory=dict)   # new version → status
    status_changes: list[_StatusChange] = field(default_factory=list)
    principal: Principal = SYSTEM

    def hidden(self, connection: Connection, uuids: list[str]) -> set[str]:
        """Which of these are documents the caller may not see: to them, not registered."""
        return hidden_documents(connection, self.principal, self.patient, uuids)


class MetadataUpdater:
    """The ITI-57 side of the registry writer."""

    def __init__(self, writer: RegistryWriter) -> None:
        self.writer = writer

    def update(self, submission: Submission, principal: Principal,
               decode_errors: list[RegistryError] | None = None) -> list[RegistryError]:
        findings = list(decode_errors or [])
        findings += self.writer.profile.check(submission, update=True)
        if any(f.is_error for f in findings):
            raise RegistryFailure(findings)
        check_scope(principal, [submission.submission_set.patient_id], "the update")
        with self.writer.engine.begin() as connection:
            plan = self._check(connection, submission, principal)
            with pipelined(connection):
                self.writer._write(connection, submission, plan)
                self._apply(connection, plan)
                changed = [d.unique_id for d in submission.documents] + \
                    [c.association.target for c in plan.status_changes]
                access_store.audit(connection, principal, "U", "success", plan.patient,
                                   changed, "ITI-57",
                                   f"submission_set={submission.submission_set.unique_id}")
        return findings

    # --- checks --------------------------------------------------------------------------------

    def _check(self, connection: Connection, submission: Submission,
               principal: Principal) -> _UpdatePlan:
        submission_set = submission.submission_set
        assert submission_set is not None
        patient = store.patient_key(submission_set.patient_id)
        if store.patient_status(connection, patient) != store.OPEN:
            raise RegistryFailure([error(
                ErrorCode.UNKNOWN_PATIENT_ID, f"SubmissionSet: patientId "
                f"'{submission_set.patient_id}' is not a patient known to this registry "
                "(or the record is closed)", "SubmissionSet.patientId")])
        plan = _UpdatePlan(patient, principal=principal)
        errors: list[RegistryError] = []
        new_ids = {o.entry_uuid for o in (submission_set, *submission.documents,
                                          *submission.folders, *submission.associations)}
        for entry in store.find_existing(connection, new_ids, [submission_set.unique_id]):
            errors.append(error(ErrorCode.REGISTRY_METADATA_ERROR,
                                f"{entry.entry_uuid} ({entry.kind}) is already registered: "
                                "an update needs new entryUUIDs and a new submission set",
                                "entryUUID"))
        for document in submission.documents:
            errors += self._check_new_version(connection, submission, document, plan)
        for folder in submission.folders:
            errors += self._check_new_folder_version(connection, submission, folder, plan)
        for association in submission.associations:
            if association.type == v.UPDATE_AVAILABILITY_STATUS:
                errors += self._check_status_change(connection, submission, association, plan)
        errors += self._check_policy(connection, plan, principal)
        if errors:
            raise RegistryFailure(errors)
        return plan

    def _latest_version(self, connection: Connection, submission: Submission,
                        obj: DocumentEntry | Folder, kind: str, plan: _UpdatePlan
                        ) -> tuple[Row | None, list[RegistryError]]:
        """The registered version `obj` updates, after the rules every new version follows:
        a lid naming a registered object of this patient, and a HasMember from the submission
        set whose PreviousVersion is that object's latest version."""
        type_name = type(obj).__name__
        label = f"{type_name} {submission.source_name(obj.entry_uuid)}"
        lid = obj.logical_id
        if not lid or lid == obj.entry_uuid:
            return None, [error(UPDATE, f"{label}: an ITI-57 {type_name} must name the "
                                        f"logicalId (lid) of a registered {kind}; new objects "
                                        "are registered with ITI-42 or ITI-41",
                                f"{type_name}.lid")]
        versions = store.object_rows(connection, kind, plan.patient, [lid], by="logical_id")
        latest = max(versions, key=lambda row: int(row.version or "1")) if versions else None
        if latest is None or plan.hidden(connection, [latest.entry_uuid]):
            if latest is None and plan.principal.is_system and \
                    store.find_by_uuids(connection, [lid]).get(lid) is not None:
                return None, [error(UPDATE, f"{label}: logicalId {lid} belongs to another "
                                            "patient: an update cannot change the patient",
                                    f"{type_name}.lid")]
            # No version to follow (or none this caller may see, which is the same to them):
            # the version the update claims to follow does not exist (XDSMetadataVersionError,
            # "the version number included in the update request did not match the existing
            # object", MU supplement Table 4.2.4.1-2; NIST test 15800b).
            return None, [error(VERSION, f"{label}: logicalId {lid} is not registered as a "
                                         f"{kind} of this patient: there is no version to "
                                         "update", f"{type_name}.lid")]
        membership = next((a for a in submission.associations if a.type == v.HAS_MEMBER
                           and a.target == obj.entry_uuid), None)
        previous = membership.slot(v.PREVIOUS_VERSION) if membership else None
        if previous is None:
            return None, [error(UPDATE, f"{label}: the HasMember association from the "
                                        "submission set must carry the PreviousVersion slot",
                                "Association.PreviousVersion")]
        propagation = membership.slot(ASSOCIATION_PROPAGATION) if membership else None
        if propagation is not None and propagation.lower() not in ("yes", "no"):
            # ITI TF-2b 3.57.4.1.3.1.3.4: "yes" or "no"; anything else cannot be decoded
            return None, [error(ErrorCode.METADATA_UPDATE_OPERATION_ERROR,
                                f"{label}: AssociationPropagation '{propagation}' is neither "
                                "'yes' nor 'no'", "Association.AssociationPropagation")]
        if previous != (latest.version or "1"):
            return None, [error(VERSION, f"{label}: PreviousVersion {previous} but the latest "
                                         f"version of logicalId {lid} is "
                                         f"{latest.version or '1'}",
                                "Association.PreviousVersion")]
        current = {"unique_id": latest.unique_id, "patient_id": plan.patient,
                   "object_type": getattr(latest, "object_type", None)}
        errors = []
        for attribute, name in UNCHANGEABLE:
            given = getattr(obj, attribute, None)
            if attribute == "patient_id":
                given = store.patient_key(given or "")
            if given not in (None, "") and current[attribute] is not None and \
                    str(given).lower() != str(current[attribute]).lower():
                errors.append(error(UPDATE, f"{label}: {name} cannot change in an update "
                                            f"('{current[attribute]}' registered, '{given}' "
                                            "sent)", f"{type_name}.{name}"))
        obj.version = str(int(latest.version or "1") + 1)
        return latest, errors

    def _check_new_version(self, connection: Connection, submission: Submission,
                           document: DocumentEntry, plan: _UpdatePlan) -> list[RegistryError]:
        latest, errors = self._latest_version(connection, submission, document, "document",
                                              plan)
        if latest is None:
            return errors
        document.hash = document.hash or latest.hash
        document.size = document.size or (str(latest.size) if latest.size else None)
        document.repository_unique_id = (document.repository_unique_id
                                         or latest.repository_unique_id)
        plan.deprecate.add(latest.entry_uuid)
        plan.inherited_status[document.entry_uuid] = (
            latest.status if latest.status != v.DEPRECATED else v.APPROVED)
        return errors

    def _check_new_folder_version(self, connection: Connection, submission: Submission,
                                  folder: Folder, plan: _UpdatePlan) -> list[RegistryError]:
        """Its memberships stay with the versions they were made for."""
        latest, errors = self._latest_version(connection, submission, folder, "folder", plan)
        if latest is not None:
            plan.deprecate_folders.add(latest.entry_uuid)
        return errors

    def _check_status_change(self, connection: Connection, submission: Submission,
                             association: Association, plan: _UpdatePlan) -> list[RegistryError]:
        """An UpdateAvailabilityStatus association. A request the registry cannot decode
        (slots missing, unknown, not statuses, no change) is XDSMetadataUpdateOperationError
        ("cannot decode the requested metadata update", MU Table 4.2.4.1-2; NIST test 20002);
        a well-formed one that does not fit the registry is XDSMetadataUpdateError. The target
        is the latest version of its object (ITI TF-2b 3.57.4.1.3.3.2.3: a status change of an
        older, Deprecated version would leave two current versions), which may be the version
        this same request submits."""
        label = f"Association {submission.source_name(association.entry_uuid)}"
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
            return [error(ErrorCode.METADATA_UPDATE_OPERATION_ERROR,
                          f"{label} (UpdateAvailabilityStatus): {p}",
                          "Association.UpdateAvailabilityStatus") for p in malformed]
        kind, current, problem = self._status_target(connection, submission,
                                                     association.target, plan)
        if problem is None and current != original:
            problem = f"OriginalStatus is {_short(original)} but the object is {_short(current)}"
        if problem is not None:
            return [error(UPDATE, f"{label} (UpdateAvailabilityStatus): {problem}",
                          "Association.UpdateAvailabilityStatus")]
        assert original is not None and new is not None and kind is not None
        plan.status_changes.append(_StatusChange(association, kind, original, new))
        return []

    @staticmethod
    def _status_target(connection: Connection, submission: Submission, target: str,
                       plan: _UpdatePlan) -> tuple[str | None, str | None, str | None]:
        """(kind, current status, problem) of the object a status change targets."""
        if target in {d.entry_uuid for d in submission.documents}:
            return "document", plan.inherited_status.get(target, v.APPROVED), None
        if target in {f.entry_uuid for f in submission.folders}:
            return "folder", v.APPROVED, None
        entry = store.find_by_uuids(connection, [target]).get(target)
        if entry is None or entry.patient_id != plan.patient or \
                entry.kind not in ("document", "folder") or plan.hidden(connection, [target]):
            return None, None, (f"targetObject {target} is not a registered DocumentEntry or "
                                "Folder of this patient")
        row = store.object_rows(connection, entry.kind, plan.patient, [target])[0]
        versions = store.object_rows(connection, entry.kind, plan.patient,
                                     [row.logical_id or target], by="logical_id")
        latest = max(versions, key=lambda r: int(r.version or "1"))
        if latest.entry_uuid != target or target in plan.deprecate | plan.deprecate_folders:
            return None, None, (f"targetObject {target} is version {row.version or '1'} of "
                                f"logicalId {row.logical_id or target}, not its latest version "
                                f"({latest.version or '1'}): only the latest version's status "
                                "changes")
        return entry.kind, row.status, None

    @staticmethod
    def _check_policy(connection: Connection, plan: _UpdatePlan,
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
        rows = store.object_rows(connection, "document", plan.patient, targets)
        facts = access_store.document_facts(connection, plan.patient, rows)
        errors = []
        for change in plan.status_changes:
            fact = facts.get(change.association.target)
            if change.new == DELETED and fact is not None and not may_delete(principal, fact):
                errors.append(error(UPDATE, f"only the author of document "
                                            f"{change.association.target} may delete it",
                                    "Association.NewStatus"))
        return errors

    # --- writing -------------------------------------------------------------------------------

    @staticmethod
    def _apply(connection: Connection, plan: _UpdatePlan) -> None:
        for entry_uuid, status in plan.inherited_status.items():
            if status != v.APPROVED:
                store.set_status(connection, "document", plan.patient, [entry_uuid], status)
        for change in plan.status_changes:
            store.set_status(connection, change.kind, plan.patient,
                             [change.association.target], change.new)


def _short(urn: str | None) -> str:
    return (urn or "?").rsplit(":", 1)[-1]
