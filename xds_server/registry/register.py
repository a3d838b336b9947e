"""Register Document Set-b (ITI-42): check a submission against the registry, then store it in
one database transaction; a rejected submission changes nothing.

Lifecycle (ITI TF-2 §3.42.4.1.3.5): a RPLC or XFRM_RPLC deprecates its target and the target's
addenda and transforms, and the replacement joins the folders of the original.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from ..model import vocabulary as v
from ..model.errors import ErrorCode, RegistryError, RegistryFailure, error
from ..model.hl7 import patient_key
from ..model.ids import urn_uuid
from ..model.metadata import Association, Submission
from ..model.registered import IndexEntry
from ..security.access import check_scope
from ..security.principal import Principal
from ..store import audit_store
from ..store import registry_store as store
from ..store.database import Database, UnitOfWork, pipelined
from ..store.locks import lock_records
from ..validation.profiles import IHE, MetadataProfile
from . import signed_sets, signed_state
from .feeding import check_feeding, open_record
from .query_policy import hidden_objects
from .stored_form import StoredForm

META = ErrorCode.REGISTRY_METADATA_ERROR
SIGNED_KINDS = ("document",)    # what a registered `signs` target may be (IHE DSG)


@dataclass
class _Plan:
    """What the transaction will write, built while the checks run."""

    patient: str
    deprecate: set[str] = field(default_factory=set)
    deprecate_folders: set[str] = field(default_factory=set)
    touched_folders: set[str] = field(default_factory=set)
    extra_associations: list[Association] = field(default_factory=list)


def now_dtm() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y%m%d%H%M%S")


class RegistryWriter:
    """The write side of the registry actor."""

    def __init__(self, database: Database, stored_form: StoredForm,
                 profile: MetadataProfile = IHE) -> None:
        self.database = database
        self.stored_form = stored_form
        self.profile = profile

    def register(self, submission: Submission, principal: Principal,
                 decode_errors: list[RegistryError] | None = None,
                 within: Callable[[UnitOfWork], None] | None = None,
                 held: Callable[[UnitOfWork], list[RegistryError]] | None = None,
                 signed_state_on: bool = False,
                 signed_sets_on: bool = False) -> list[RegistryError]:
        """Store `submission` or raise RegistryFailure; returns the warnings on success.

        `within` runs inside the same database transaction (the repository records its
        documents there, so registration and storage commit together); `held` checks there,
        before anything is written, that the bytes the entries name are held
        (repositories.py, rule A); `signed_state_on`: the record's signed sets are checked once
        it is written (signed_state.py, rule K); `signed_sets_on`: signatures are required, the
        submission is held to rules L and M (signed_sets.py)."""
        findings = list(decode_errors or [])
        findings += self.profile.check(submission)
        findings += first_versions(submission)
        if any(f.is_error for f in findings):
            raise RegistryFailure(findings)
        check_scope(principal, [submission.submission_set.patient_id], "the submission")
        warnings = findings
        with self.database.transaction() as uow:
            lock_records(uow, *written_by(submission))
            plan = self._check_against_registry(uow, submission, principal, signed_sets_on)
            if held is not None and (unheld := held(uow)):
                raise RegistryFailure(unheld)
            for versioned in (*submission.documents, *submission.folders):
                # first versions (first_versions): the version number is the registry's, not
                # the submitted VersionInfo (ebRIM's default "1.1" made ITI-57 fail on int())
                versioned.logical_id, versioned.version = versioned.entry_uuid, "1"
            watched = signed_state.watch(uow, [plan.patient], signed_state_on, adds_signs=True,
                                         touches=signed_state.touched_by(submission, plan),
                                         signing=signed_state.signs_into(submission, plan))
            with pipelined(uow):
                self.write(uow, submission, plan)
                if within is not None:
                    within(uow)
                documents = [d.unique_id for d in submission.documents]
                detail = f"submission_set={submission.submission_set.unique_id}"
                audit_store.record(uow, principal, "C", "success", plan.patient, documents,
                                   "ITI-42", detail)
                if principal.transaction not in ("", "ITI-42"):
                    # registered for a repository (or a front) in this process: the register
                    # is an ITI-42 of its own, from it to the registry (ITI TF-2b 3.42.5)
                    audit_store.record(uow, register_source(principal), "C", "success",
                                       plan.patient, documents, "ITI-42", detail)
            signed_state.hold(watched, uow, META, "Association.targetObject",
                              principal)
        return warnings

    # --- checks that need the registry ---------------------------------------------------------

    def _check_against_registry(self, uow: UnitOfWork, submission: Submission,
                                principal: Principal, signed_sets_on: bool = False) -> _Plan:
        submission_set = submission.submission_set
        assert submission_set is not None
        name = submission.source_name
        patient = open_record(uow, submission_set.patient_id,
                              f"SubmissionSet {name(submission_set.entry_uuid)}")
        errors: list[RegistryError] = []
        check_feeding(uow, principal, patient)
        plan = _Plan(patient)

        new_ids = {o.entry_uuid for o in (submission_set, *submission.documents,
                                          *submission.folders, *submission.associations)}
        unique_ids = [o.unique_id for o in (submission_set, *submission.documents,
                                            *submission.folders)]
        existing = store.find_existing(uow, new_ids, unique_ids)
        for entry in existing:
            if entry.entry_uuid in new_ids:
                errors.append(error(META, f"entryUUID {entry.entry_uuid} "
                                          f"({name(entry.entry_uuid)}) is already registered; "
                                          "UUIDs must be new", "entryUUID"))
        errors += self._check_unique_ids(uow, submission,
                                         [e for e in existing if e.unique_id in unique_ids],
                                         principal, patient)
        errors += self._check_references(uow, submission, plan, principal)
        if signed_sets_on and not errors:
            errors += signed_sets.registration_errors(uow, submission, plan.patient)
        if errors:
            raise RegistryFailure(errors)
        return plan

    def _check_unique_ids(self, uow: UnitOfWork, submission: Submission,
                          existing_entries: list[IndexEntry], principal: Principal,
                          patient: str) -> list[RegistryError]:
        """A uniqueId names one object of one record. A document submitted again (the same
        uniqueId, the same bytes) is accepted only into its own record and only from a caller
        who sees it: a copy in another record, or one made by someone it is hidden from, would
        give them a claim on bytes that are not theirs (ITI-86 removes by uniqueId)."""
        errors: list[RegistryError] = []
        name = submission.source_name
        documents = {d.unique_id: d for d in submission.documents}
        packages = {p.unique_id: p for p in (submission.submission_set, *submission.folders)
                    if p is not None}
        seen: set[str | None] = set()
        for existing in existing_entries:
            if existing.unique_id in seen:
                continue  # the same document registered several times: one verdict
            seen.add(existing.unique_id)
            if existing.unique_id in packages:
                obj = packages[existing.unique_id]
                errors.append(error(ErrorCode.DUPLICATE_UNIQUE_ID_IN_REGISTRY,
                                    f"{type(obj).__name__} {name(obj.entry_uuid)}: uniqueId "
                                    f"'{obj.unique_id}' is already registered",
                                    f"{type(obj).__name__}.uniqueId"))
                continue
            document = documents.get(existing.unique_id or "")
            if document is None or existing.kind != "document":
                # its kind only when the caller may see it (19g-3)
                told = f" for a {existing.kind}" if existing.patient_id == patient and not \
                    hidden_objects(uow, principal, patient, [existing.entry_uuid]) else ""
                errors.append(error(ErrorCode.DUPLICATE_UNIQUE_ID_IN_REGISTRY,
                                    f"uniqueId '{existing.unique_id}' is already registered"
                                    f"{told}", "uniqueId"))
                continue
            if existing.patient_id != patient or hidden_objects(
                    uow, principal, patient, [existing.entry_uuid]):
                errors.append(error(ErrorCode.DUPLICATE_UNIQUE_ID_IN_REGISTRY,
                                    f"DocumentEntry {name(document.entry_uuid)}: uniqueId "
                                    f"'{document.unique_id}' is already registered",
                                    "DocumentEntry.uniqueId"))
                continue
            # The same document submitted again (same uniqueId) must be the same bytes.
            for row in store.documents_by_unique_id(uow, existing.patient_id,
                                                    document.unique_id):
                if (row.hash or "").lower() != (document.hash or "").lower():
                    errors.append(error(
                        ErrorCode.NON_IDENTICAL_HASH,
                        f"DocumentEntry {name(document.entry_uuid)}: uniqueId "
                        f"'{document.unique_id}' is already registered with hash {row.hash}, "
                        f"this submission says {document.hash}", "DocumentEntry.hash"))
                    break
        return errors

    def _check_references(self, uow: UnitOfWork, submission: Submission,
                          plan: _Plan, principal: Principal) -> list[RegistryError]:
        """Targets outside the submission must exist, belong to the patient, be Approved. To
        a caller under the access policy, another patient's object and a document hidden from
        them do not exist."""
        errors: list[RegistryError] = []
        name = submission.source_name
        local = {o.entry_uuid for o in (*submission.documents, *submission.folders,
                                        *submission.associations)}
        if submission.submission_set:
            local.add(submission.submission_set.entry_uuid)
        outside = {ref for a in submission.associations for ref in (a.source, a.target)
                   if ref not in local}
        known = store.find_by_uuids(uow, outside)
        if not principal.is_system:
            known = {ref: entry for ref, entry in known.items()
                     if entry.patient_id == plan.patient}
            hidden = hidden_objects(uow, principal, plan.patient, sorted(known))
            known = {ref: entry for ref, entry in known.items() if ref not in hidden}
        statuses = self._statuses(uow, plan.patient, known.values())
        for association in submission.associations:
            label = f"Association {name(association.entry_uuid)}"
            for side in ("source", "target"):
                ref = getattr(association, side)
                if ref in local:
                    continue
                entry = known.get(ref)
                if entry is None:
                    errors.append(error(META, f"{label}: {side}Object {ref} is neither in this "
                                              "submission nor in the registry",
                                        f"Association.{side}Object"))
                elif entry.patient_id != plan.patient:
                    errors.append(error(ErrorCode.PATIENT_ID_DOES_NOT_MATCH,
                                        f"{label}: {side}Object {ref} belongs to another patient",
                                        f"Association.{side}Object"))
                elif _needs_approved(association, entry.kind) and \
                        statuses.get(ref) != v.APPROVED:
                    errors.append(error(META, f"{label}: {side}Object {ref} is "
                                              f"{_short(statuses.get(ref, '?'))}, not Approved",
                                        f"Association.{side}Object"))
            if association.type == v.SIGNS and association.target in known and \
                    known[association.target].kind not in SIGNED_KINDS:
                errors.append(error(META, f"{label}: a signs association targets the "
                                          "SubmissionSet of its own submission or a "
                                          f"DocumentEntry (IHE DSG); {association.target} is "
                                          f"a registered {known[association.target].kind}, "
                                          "whose members its Manifest did not sign (outside "
                                          "rounds 19f-1, 19g)", "Association.targetObject"))
            if association.type in v.DOCUMENT_RELATIONSHIPS and association.target in known \
                    and association.type != v.SIGNS:
                if known[association.target].kind != "document":
                    errors.append(error(META, f"{label}: target of {_short(association.type)} "
                                              "must be a DocumentEntry",
                                        "Association.targetObject"))
                elif association.type in v.REPLACING:
                    plan.deprecate.add(association.target)
            if association.type == v.HAS_MEMBER:
                entry = known.get(association.source)
                if entry is not None and entry.kind == "folder":
                    plan.touched_folders.add(association.source)
                elif entry is not None and entry.patient_id == plan.patient:
                    errors.append(closed_set(label, association.source, entry.kind))
        errors += _replaced_twice(submission)
        if plan.deprecate and not errors:
            self._plan_replacements(uow, submission, plan)
        return errors

    def _statuses(self, uow: UnitOfWork, patient: str, entries) -> dict[str, str]:
        statuses: dict[str, str] = {}
        by_kind: dict[str, list[str]] = {}
        for entry in entries:
            if entry.patient_id == patient:
                by_kind.setdefault(entry.kind, []).append(entry.entry_uuid)
        for kind, uuids in by_kind.items():
            for row in store.objects(uow, kind, patient, uuids):
                statuses[row.entry_uuid] = row.status
        return statuses

    def _plan_replacements(self, uow: UnitOfWork, submission: Submission,
                           plan: _Plan) -> None:
        """What a replacement changes besides its target: the target's addenda and
        transforms are deprecated with it, and the replacement joins the target's folders."""
        replaced = sorted(plan.deprecate)
        touching = store.associations_touching(uow, plan.patient, replaced, "target")
        for row in touching:
            if row.type in (v.APND, v.XFRM) and row.status == v.APPROVED:
                plan.deprecate.add(row.source)  # addenda and transforms go with the original
        replacement_of = {a.target: a.source for a in submission.associations
                          if a.type in v.REPLACING}
        memberships = [row for row in touching
                       if row.type == v.HAS_MEMBER and row.target in replacement_of]
        holders = store.find_by_uuids(uow, {row.source for row in memberships})
        for row in memberships:
            holder = holders.get(row.source)
            if holder is not None and holder.kind == "folder":
                plan.extra_associations.append(Association(
                    entry_uuid=urn_uuid(), type=v.HAS_MEMBER,
                    source=row.source, target=replacement_of[row.target]))
                plan.touched_folders.add(row.source)

    # --- writing -------------------------------------------------------------------------------

    def write(self, uow: UnitOfWork, submission: Submission, plan: _Plan) -> None:
        """Store the submission's objects as registered (Approved, new versions numbered,
        folders stamped), each with its registered form, and what the plan changes."""
        submission_set = submission.submission_set
        assert submission_set is not None
        timestamp = now_dtm()
        for obj in (submission_set, *submission.documents, *submission.folders):
            obj.extra_slots = {}  # reported as XDSExtraMetadataNotSaved, not stored
        for versioned in (*submission.documents, *submission.folders):
            versioned.logical_id = versioned.logical_id or versioned.entry_uuid
            versioned.version = versioned.version or "1"
        for folder in submission.folders:
            folder.last_update_time = timestamp
        associations = [*submission.associations, *plan.extra_associations]
        registered = self.stored_form.registered
        stored = {obj.entry_uuid: registered(obj)
                  for obj in (submission_set, *submission.documents, *submission.folders,
                              *associations)}
        store.register(uow, plan.patient, submission_set, submission.documents,
                     submission.folders, associations, stored)
        if plan.deprecate:
            store.set_status(uow, "document", plan.patient, sorted(plan.deprecate),
                             v.DEPRECATED)
        if plan.deprecate_folders:
            store.set_status(uow, "folder", plan.patient, sorted(plan.deprecate_folders),
                             v.DEPRECATED)
        if plan.touched_folders:
            store.touch_folders(uow, plan.patient, sorted(plan.touched_folders), timestamp)


def written_by(submission: Submission) -> tuple[list[str], list[str]]:
    """What a submission's checks decide on, for `lock_records`: its patient, and the ids of
    what it registers or changes (uniqueIds, the logicalIds it versions, the objects its
    associations name: a replaced or status-changed document, a folder it adds to)."""
    objects = (submission.submission_set, *submission.documents, *submission.folders)
    ids = {o.unique_id for o in objects if o is not None}
    ids |= {o.logical_id for o in (*submission.documents, *submission.folders) if o.logical_id}
    ids |= {ref for a in submission.associations for ref in (a.source, a.target)}
    patient = submission.submission_set.patient_id if submission.submission_set else ""
    return [patient_key(patient)] if patient else [], sorted(i for i in ids if i)


def first_versions(submission: Submission) -> list[RegistryError]:
    """A registration's objects are first versions: an object's `lid`, when given, is its own
    id (a symbolic lid was resolved with the ids, ebxml/decode.py), as IHE's Metadata Update
    has it (ITI TF-3 4.1.x: the logicalId of an object's first version is its entryUUID; NIST
    15800 checks the original's id and lid are the same); a new version of a registered
    object comes by ITI-57, which checks its author, its previous version and the signed-set
    rules. Attack stopped (outside round 19d, D1): an ITI-41/42 entry with `lid` naming a
    registered document, this record's or another's, became a second Approved "version 1" of
    it, written by anyone, and rule K counted it as a version of that document (a CDA as
    "a current version" of a signature). The refusal is the same whatever the lid names: it
    is not looked up, so it tells nothing of another record."""
    name = submission.source_name
    errors = []
    for obj in (submission.submission_set, *submission.documents, *submission.folders):
        if obj is None or not obj.logical_id or obj.logical_id == obj.entry_uuid:
            continue
        kind = type(obj).__name__
        errors.append(error(META, f"{kind} {name(obj.entry_uuid)}: lid '{name(obj.logical_id)}' "
                                  "is not this entry's own id: a registered object is the "
                                  "first version of its logicalId, which is its entryUUID "
                                  "(Metadata Update, ITI TF-3 4.1.x); a new version of a "
                                  "registered object is sent by ITI-57", f"{kind}.lid"))
    return errors


def _replaced_twice(submission: Submission) -> list[RegistryError]:
    """A document is replaced once: two replacements (RPLC, XFRM_RPLC) of one target in one
    submission each found it Approved and both became current, a forked history (issue 16
    re-test, m4; one submission after the other, the second finds it Deprecated)."""
    by_target: dict[str, list[str]] = {}
    for association in submission.associations:
        if association.type in v.REPLACING:
            by_target.setdefault(association.target, []).append(association.source)
    name = submission.source_name
    return [error(META, f"document {name(target)} is replaced by {len(sources)} documents of "
                        f"this submission ({', '.join(name(s) for s in sources)}); a "
                        "document is replaced once", "Association.targetObject")
            for target, sources in by_target.items() if len(sources) > 1]


def closed_set(label: str, holder: str, kind: str = "submission_set") -> RegistryError:
    """A HasMember from a registered object that is not a Folder: a submission set holds what
    its own submission gave it (a front adds documents to a Folder, not to an earlier set),
    and a DocumentEntry or an association holds nothing (ebRIM: a HasMember's source is a
    RegistryPackage). Attacks stopped: outside round 19d, D2, a HasMember from a signed set to
    another document made rule K count it as covered by that set's signature, which never
    signed its bytes; round 19e, E1, a HasMember from a DSG-signed document (its `signs`
    point at it) to another document did the same, and a patient reached it in two
    requests."""
    if kind == "submission_set":
        return error(META, f"{label}: sourceObject {holder} is a registered SubmissionSet: a "
                           "submission set holds the objects of its own submission, and nothing "
                           "is added to it later, a Folder is (rule M, every profile: "
                           "docs/security.md)", "Association.sourceObject")
    return error(META, f"{label}: sourceObject {holder} is a registered "
                       f"{KIND_NAMES.get(kind, kind)}: a HasMember comes from the SubmissionSet "
                       "of its submission or from a Folder (rule M, every profile)",
                 "Association.sourceObject")


KIND_NAMES = {"document": "DocumentEntry", "association": "Association", "folder": "Folder"}


def _needs_approved(association: Association, kind: str) -> bool:
    """Relationships and folder additions need an Approved target; a set may reference any."""
    return association.type != v.HAS_MEMBER or kind == "folder"


def _short(urn: str) -> str:
    return urn.rsplit(":", 1)[-1]


def register_source(principal: Principal) -> Principal:
    """The caller of the in-process register (ITI-42) a front's provide makes: its Source is
    the endpoint that received the provide (the repository, the FHIR or HL7 v2 front), its
    Destination the registry (this server, by its audit source id), on behalf of the same
    person (ITI-42's Human Requestor)."""
    return dataclasses.replace(principal, transaction="ITI-42",
                               client_subject=principal.endpoint,
                               client_address=urlsplit(principal.endpoint).hostname or "",
                               client_serial="", endpoint="")

