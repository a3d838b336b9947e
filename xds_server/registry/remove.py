"""Delete Document Set (ITI-62, ITI TF-2c §3.62.4.1.3): remove registry objects for good, all or
nothing, leaving no association pointing at nothing and no object that nothing holds.

- an id the registry does not hold → UnresolvedReferenceException;
- an object some association still references, that association not removed with it →
  ReferencesExistException;
- a DocumentEntry or Folder left without the HasMember of its submission set, or a submission
  set left holding nothing → XDSUnreferencedObjectException.

The access decision (security/access.py) comes first: to a caller, another patient's objects
and the documents hidden from them are ids the registry does not hold; what they see they
remove only as an administrator, or as the author of what they wrote (an association: as the
author of its source object; a folder has no author: administrators only). Error texts name
only objects the caller may see. The DMP itself never removes (CI-SIS: deletion is the
Deleted status, by ITI-57).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection

from ..model import vocabulary as v
from ..model.errors import ErrorCode, RegistryError, RegistryFailure, error
from ..model.registered import IndexEntry
from ..security.access import may_remove, scope
from ..security.principal import Principal
from ..store import audit_store
from ..store import registry_store as store
from ..store.database import Database, UnitOfWork
from ..store.locks import lock_records
from . import signed_sets, signed_state
from .query_policy import hidden_objects


class RegistryRemover:
    def __init__(self, database: Database, signatures_required: bool = False) -> None:
        """`signatures_required`: a signed set's signature goes only with its documents
        (signed_sets.py, rule I)."""
        self.database = database
        self.signatures_required = signatures_required

    def remove(self, object_ids: list[str], principal: Principal) -> None:
        if not object_ids:
            raise RegistryFailure([error(ErrorCode.REGISTRY_ERROR, "RemoveObjectsRequest: "
                                         "the ObjectRefList names no object", "ObjectRef")])
        with self.database.transaction() as uow:
            by_kind, patient = self._check(uow, object_ids, principal)
            watched = signed_state.watch(uow, [patient], self.signatures_required,
                                         touches=[u for uuids in by_kind.values() for u in uuids])
            store.delete_objects(uow, patient, by_kind)
            signed_state.hold(watched, uow, ErrorCode.REGISTRY_ERROR, "ObjectRef", principal)
            audit_store.record(uow, principal, "D", "success", patient,
                               by_kind.get("document", []), "ITI-62")

    def _known(self, uow: UnitOfWork, object_ids: list[str],
               principal: Principal) -> dict[str, IndexEntry]:
        """The objects named that exist for this caller: of their patient, not hidden."""
        allowed = scope(principal)
        known = {uuid: entry for uuid, entry in store.find_by_uuids(uow, object_ids).items()
                 if allowed is None or entry.patient_id == allowed}
        if allowed is not None and known:
            hidden = hidden_objects(uow, principal, allowed, list(known))
            known = {uuid: entry for uuid, entry in known.items() if uuid not in hidden}
        return known

    def _check(self, uow: UnitOfWork, object_ids: list[str],
               principal: Principal) -> tuple[dict[str, list[str]], str]:
        known = self._known(uow, object_ids, principal)
        missing = [i for i in object_ids if i not in known]
        if missing:
            raise RegistryFailure([error(ErrorCode.UNRESOLVED_REFERENCE,
                                         f"object {i} is not in this registry", "ObjectRef")
                                   for i in missing])
        patients = {entry.patient_id for entry in known.values()}
        if len(patients) > 1:
            raise RegistryFailure([error(ErrorCode.REGISTRY_ERROR, "the objects to remove "
                                         "belong to several patients; remove them one patient "
                                         "at a time", "ObjectRef")])
        patient = patients.pop()
        # the record's writers take turns (store/locks.py): an ITI-57 making a new version of a
        # document while this removes its earlier one would each check a state the other
        # changes (rule K reads the record after this lock, so it sees the other's commit)
        lock_records(uow, [patient])
        self._check_permission(uow, principal, patient, known)
        removed = set(object_ids)
        by_kind: dict[str, list[str]] = defaultdict(list)
        for entry in known.values():
            by_kind[entry.kind].append(entry.entry_uuid)
        seen = _Seen(uow, principal, patient)
        errors: list[RegistryError] = []
        touching = store.associations_touching(uow, patient, sorted(removed))
        for row in touching:
            if row.entry_uuid in removed:
                continue
            for side in (row.source, row.target):
                if side in removed:
                    errors.append(error(
                        ErrorCode.REFERENCES_EXIST,
                        f"{known[side].kind} {side} is still referenced by "
                        f"{seen.name_of_association(row)}, which is not removed with it",
                        "ObjectRef"))
        errors += self._unreferenced(uow, patient, removed)
        if self.signatures_required:
            errors += signed_sets.removal_errors(uow, patient, removed, principal)
        if errors:
            raise RegistryFailure(errors)
        return dict(by_kind), patient

    @staticmethod
    def _check_permission(uow: UnitOfWork, principal: Principal, patient: str,
                          known: dict[str, IndexEntry]) -> None:
        """Administrators remove what they see; others what they wrote."""
        if principal.is_system or may_remove(principal, frozenset()):
            return
        associations = [uuid for uuid, entry in known.items() if entry.kind == "association"]
        sources = {row.entry_uuid: row.source for row in
                   store.objects(uow, "association", patient, associations)}
        authors = store.authors_of(uow, patient, sorted({*known, *sources.values()}))
        refused = [entry for uuid, entry in known.items()
                   if not may_remove(principal, authors.get(sources.get(uuid, uuid),
                                                            frozenset()))]
        if refused:
            raise RegistryFailure([error(
                ErrorCode.REGISTRY_ERROR,
                f"{entry.kind} {entry.entry_uuid}: only an administrator, or its author, may "
                "remove it" + (" (for an association: the author of its source object)"
                               if entry.kind == "association" else ""), "ObjectRef")
                for entry in refused])

    @staticmethod
    def _unreferenced(uow: UnitOfWork, patient: str,
                      removed: set[str]) -> list[RegistryError]:
        """Objects that would be left hanging by the removed HasMember associations."""
        errors = []
        memberships = [row for row in store.objects(uow, "association", patient,
                                                        sorted(removed))
                       if row.type == v.HAS_MEMBER]
        # only a submission set holds an object in the registry's sense: a folder's HasMember
        # (a document filed in a folder) may go alone (NIST 30003)
        kinds = store.find_by_uuids(uow, {row.source for row in memberships})
        memberships = [row for row in memberships if row.source in kinds
                       and kinds[row.source].kind == "submission_set"]
        staying = {row.target for row in memberships if row.target not in removed}
        targets = store.find_by_uuids(uow, staying)
        for row in memberships:
            target = targets.get(row.target)     # the member stays, its link to a set goes
            if target is not None and target.kind in ("document", "folder"):
                errors.append(error(
                    ErrorCode.UNREFERENCED_OBJECT,
                    f"removing association {row.entry_uuid} would leave {target.kind} "
                    f"{row.target} held by no submission set", "ObjectRef"))
        sources = sorted({row.source for row in memberships if row.source not in removed})
        held = {a.source for a in store.associations_touching(uow, patient, sources, "source")
                if a.type == v.HAS_MEMBER and a.entry_uuid not in removed}
        for source in sources:     # each a submission set (kinds, above)
            if source not in held:
                errors.append(error(ErrorCode.UNREFERENCED_OBJECT,
                                    f"removing its members would leave submission set {source} "
                                    "holding nothing; remove it too", "ObjectRef"))
        return errors


class _Seen:
    """Names an association in an error text only when the caller may see both its ends."""

    def __init__(self, uow: UnitOfWork, principal: Principal, patient: str) -> None:
        self.uow, self.principal, self.patient = uow, principal, patient

    def name_of_association(self, row) -> str:
        hidden: Collection[str] = hidden_objects(self.uow, self.principal,
                                                   self.patient, [row.source, row.target])
        if hidden:
            return "an association you may not see"
        return f"association {row.entry_uuid} ({_short(row.type)})"


def _short(urn: str) -> str:
    return urn.rsplit(":", 1)[-1]
