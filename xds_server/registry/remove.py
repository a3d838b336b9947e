"""Delete Document Set (ITI-62, ITI TF-2c §3.62.4.1.3): remove registry objects for good, all or
nothing, leaving no association pointing at nothing and no object that nothing holds.

- an id the registry does not hold → UnresolvedReferenceException;
- an object some association still references, that association not removed with it →
  ReferencesExistException;
- a DocumentEntry or Folder left without the HasMember of its submission set, or a submission
  set left holding nothing → XDSUnreferencedObjectException.
The DMP itself never removes (CI-SIS: deletion is the Deleted status, by ITI-57).
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import Connection, Engine

from ..model import vocabulary as v
from ..security.principal import Principal
from ..store import access_store
from ..store import registry_store as store
from ..validation.errors import ErrorCode, RegistryError, RegistryFailure, error


class RegistryRemover:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def remove(self, object_ids: list[str], principal: Principal) -> None:
        if not object_ids:
            raise RegistryFailure([error(ErrorCode.REGISTRY_ERROR, "RemoveObjectsRequest: "
                                         "the ObjectRefList names no object", "ObjectRefList")])
        with self.engine.begin() as connection:
            by_kind, patient = self._check(connection, object_ids)
            store.delete_objects(connection, patient, by_kind)
            access_store.audit(connection, principal, "D", "success", patient,
                               by_kind.get("document", []), "ITI-62")

    def _check(self, connection: Connection,
               object_ids: list[str]) -> tuple[dict[str, list[str]], str]:
        known = store.find_by_uuids(connection, object_ids)
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
        removed = set(object_ids)
        by_kind: dict[str, list[str]] = defaultdict(list)
        for entry in known.values():
            by_kind[entry.kind].append(entry.entry_uuid)
        errors: list[RegistryError] = []
        touching = store.associations_touching(connection, patient, sorted(removed))
        for row in touching:
            if row.entry_uuid in removed:
                continue
            for side in (row.source, row.target):
                if side in removed:
                    errors.append(error(
                        ErrorCode.REFERENCES_EXIST,
                        f"{known[side].kind} {side} is still referenced by association "
                        f"{row.entry_uuid} ({_short(row.type)}), which is not removed with it",
                        "ObjectRef"))
        errors += self._unreferenced(connection, patient, removed)
        if errors:
            raise RegistryFailure(errors)
        return dict(by_kind), patient

    @staticmethod
    def _unreferenced(connection: Connection, patient: str,
                      removed: set[str]) -> list[RegistryError]:
        """Objects that would be left hanging by the removed HasMember associations."""
        errors = []
        memberships = [row for row in store.object_rows(connection, "association", patient,
                                                        sorted(removed))
                       if row.type == v.HAS_MEMBER]
        for row in memberships:
            if row.target not in removed:     # the member stays, its link to a set goes
                target = store.find_by_uuids(connection, [row.target]).get(row.target)
                if target is not None and target.kind in ("document", "folder"):
                    errors.append(error(
                        ErrorCode.UNREFERENCED_OBJECT,
                        f"removing association {row.entry_uuid} would leave {target.kind} "
                        f"{row.target} held by no submission set", "ObjectRef"))
        sources = {row.source for row in memberships if row.source not in removed}
        for source in sorted(sources):
            left = [a for a in store.associations_touching(connection, patient, [source],
                                                           "source")
                    if a.type == v.HAS_MEMBER and a.entry_uuid not in removed]
            entry = store.find_by_uuids(connection, [source]).get(source)
            if not left and entry is not None and entry.kind == "submission_set":
                errors.append(error(ErrorCode.UNREFERENCED_OBJECT,
                                    f"removing its members would leave submission set {source} "
                                    "holding nothing; remove it too", "ObjectRef"))
        return errors


def _short(urn: str) -> str:
    return urn.rsplit(":", 1)[-1]
