"""The records actor: a patient's record (opened, closed), what the patient decided about it
(oppositions to emergency access or to feeding, the professionals authorised to read it) and
who did what to it (the access history).

Every front that manages records calls it: the DMP services (dmp/), the command line, and next
the HL7 v2 patient feed. Who may do what is the access decision's (security/access.py); a
refusal is a `RecordsRefusal` that names no other patient, which each front words its own way.
Changes made by an authenticated caller are audited in their own transaction, so the patient's
history shows who changed what; the system's (XDS_SECURITY=none, the command line) are not.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence

from ..model.audit import AuditEvent
from ..model.hl7 import is_uuid_urn, patient_key
from ..model.patients import Authorization, PatientRecord
from ..registry.caller_view import CallerView
from ..registry.query_policy import current_versions
from ..security.access import (
    ADMINISTRATOR,
    OPPOSITIONS,
    PROFESSIONAL,
    Action,
    in_scope,
    may_ask,
)
from ..security.principal import SYSTEM, Principal
from ..store import audit_store, registry_store
from ..store import records_store as store
from ..store.database import Database, UnitOfWork

AUDITED_AS = "records"      # the transaction the trail names when the front named none


class RecordsRefusal(Exception):
    """A records request refused; the text says why and names no other patient."""


class NotAllowed(RecordsRefusal):
    """The caller may not do this (their role), or not on this record (their scope)."""


class UnknownRecord(RecordsRefusal):
    """No record (or no open record) for this patient."""


class InvalidMode(RecordsRefusal):
    """An opposition that is not one of security.access.OPPOSITIONS."""


class Records:
    def __init__(self, database: Database) -> None:
        self.database = database

    # --- the record ---------------------------------------------------------------------------

    def open(self, patient_id: str, principal: Principal = SYSTEM,
             opposed_modes: Sequence[str] | None = None) -> bool:
        """Open (or reopen) a record, with the patient's oppositions when given; False when
        it was open already."""
        self._allow(principal, Action.OPEN_RECORD, patient_id)
        modes = None if opposed_modes is None else _modes(opposed_modes)
        with self.database.transaction() as uow:
            opened = store.open_record(uow, patient_id)
            if modes is not None:
                store.set_opposed_modes(uow, patient_key(patient_id), modes)
            self._audit(uow, principal, patient_id)
        return opened

    def close(self, patient_id: str, principal: Principal = SYSTEM) -> None:
        """Close an open record: new submissions for it are refused from then on."""
        self._allow(principal, Action.OPEN_RECORD, patient_id)
        with self.database.transaction() as uow:
            if not store.close_record(uow, patient_id):
                raise UnknownRecord(f"no open record for patient {patient_id}")
            self._audit(uow, principal, patient_id)

    def forget(self, patient_id: str, principal: Principal = SYSTEM) -> None:
        """Delete a record that holds nothing (a test patient once its documents are removed);
        UnknownRecord when it is unknown or still holds registry objects."""
        self._allow(principal, Action.OPEN_RECORD, patient_id)
        with self.database.transaction() as uow:
            if not store.forget_record(uow, patient_id):
                raise UnknownRecord(f"no empty record for patient {patient_key(patient_id)} "
                                    "(unknown, or it still holds registry objects)")
            self._audit(uow, principal, patient_id)

    def record(self, patient_id: str) -> PatientRecord | None:
        with self.database.reading() as uow:
            return store.record(uow, patient_id)

    def records(self) -> list[PatientRecord]:
        """Every record, open or closed (an operator's listing)."""
        with self.database.reading() as uow:
            return store.records(uow)

    # --- what the patient decided -------------------------------------------------------------

    def set_oppositions(self, patient_id: str, opposed_modes: Sequence[str],
                        principal: Principal = SYSTEM) -> list[str]:
        """Replace the patient's oppositions; returns them, sorted."""
        self._allow(principal, Action.MANAGE_CONSENT, patient_id)
        modes = _modes(opposed_modes)
        with self.database.transaction() as uow:
            self._known(uow, patient_id)
            store.set_opposed_modes(uow, patient_key(patient_id), modes)
            self._audit(uow, principal, patient_id)
        return sorted(modes)

    def authorize(self, patient_id: str, professional_id: str,
                  principal: Principal = SYSTEM) -> bool:
        """Authorise a professional to read the record; False when they already were."""
        self._allow(principal, Action.MANAGE_CONSENT, patient_id)
        with self.database.transaction() as uow:
            self._known(uow, patient_id)
            added = store.grant(uow, patient_key(patient_id), professional_id)
            if added:
                self._audit(uow, principal, patient_id)
        return added

    def revoke(self, patient_id: str, professional_id: str,
               principal: Principal = SYSTEM) -> bool:
        """Withdraw a professional's authorisation; False when there was none."""
        self._allow(principal, Action.MANAGE_CONSENT, patient_id)
        with self.database.transaction() as uow:
            removed = store.revoke(uow, patient_key(patient_id), professional_id)
            if removed:
                self._audit(uow, principal, patient_id)
        return removed

    def professionals(self, patient_id: str,
                      principal: Principal = SYSTEM) -> list[Authorization]:
        """Who the patient authorised, in the order they were."""
        self._allow(principal, Action.MANAGE_CONSENT, patient_id)
        with self.database.reading() as uow:
            return store.authorized_professionals(uow, patient_key(patient_id))

    def records_of(self, professional_id: str,
                   principal: Principal = SYSTEM) -> list[Authorization]:
        """The records a professional is authorised to read (a professional asks only their
        own)."""
        self._allow(principal, Action.LIST_RECORDS, None)
        if principal.role == PROFESSIONAL and principal.subject_id != professional_id:
            raise NotAllowed("a professional lists only their own records")
        with self.database.reading() as uow:
            return store.authorized_records(uow, professional_id)

    def history(self, patient_id: str, principal: Principal = SYSTEM,
                since: dt.datetime | None = None, last: int | None = None) -> list[AuditEvent]:
        """Who did what to the record, oldest first: from `since`, the `last` most recent."""
        self._allow(principal, Action.READ_HISTORY, patient_id)
        with self.database.reading() as uow:
            events = audit_store.trail(uow, patient_key(patient_id), since=since, last=last)
            if principal.is_system or principal.role == ADMINISTRATOR:
                return events
            hidden = _hidden_documents(uow, principal, patient_key(patient_id), events)
        return _without(events, hidden)

    # --- rules --------------------------------------------------------------------------------

    @staticmethod
    def _allow(principal: Principal, action: Action, patient_id: str | None) -> None:
        if not may_ask(principal, action):
            raise NotAllowed(f"a {principal.role} may not do this")
        if patient_id is not None and not in_scope(principal, patient_id):
            raise NotAllowed("the VIHF (resource-id) is for another patient")

    @staticmethod
    def _known(uow: UnitOfWork, patient_id: str) -> None:
        if store.patient_status(uow, patient_id) is None:
            raise UnknownRecord(f"no record for patient {patient_key(patient_id)}")

    @staticmethod
    def _audit(uow: UnitOfWork, principal: Principal, patient_id: str) -> None:
        """An authenticated caller's change, in the record's history (as reads are)."""
        if not principal.is_system:
            audit_store.record(uow, principal, "U", "success", patient_key(patient_id), (),
                               AUDITED_AS)


def _hidden_documents(uow: UnitOfWork, principal: Principal, key: str,
                      events: list[AuditEvent]) -> set[str]:
    """The ids (uniqueIds, entryUUIDs) named in these events of objects the caller may not
    see, decided as every query and retrieval decides (registry/caller_view.py,
    query_policy.current_versions): a document on its CURRENT version, whichever version the
    event named. Attacks stopped: round 2, the patient's AccessHistory named a document
    invisible to him, who read it and when; issue 16 re-test c (3), the entryUUID of a version
    listed before an update added INVISIBLE_PATIENT (or INVISIBLE_REPRESENTANTS_LEGAUX,
    MASQUE_PS) was judged on that version's own codes, which had none."""
    named = {d for event in events for d in (event.documents or "").split()}
    if not named:
        return set()
    view = CallerView(uow, principal, key, store.record_access(uow, key, principal.subject_id))
    uuids = sorted(d for d in named if is_uuid_urn(d))
    hidden = view.hidden(uuids)
    current, refused = current_versions(uow, key, sorted(named - set(uuids)))
    view.know_documents(current)
    masked = view.hidden([row.entry_uuid for row in current])
    hidden |= refused | {row.unique_id for row in current if row.entry_uuid in masked}
    # a hidden version's uniqueId, and a hidden document's other versions, are hidden too
    if hidden:
        for row in registry_store.objects(uow, "document", key, sorted(hidden & set(uuids)),
                                          by="entry_uuid"):
            hidden.add(row.unique_id or "")
    return hidden


def _without(events: list[AuditEvent], hidden: set[str]) -> list[AuditEvent]:
    """The events with the hidden documents taken out; an event about hidden documents only
    is left out whole (that someone read something the caller may not see is itself told)."""
    if not hidden:
        return events
    kept = []
    for event in events:
        named = (event.documents or "").split()
        shown = [d for d in named if d not in hidden]
        if named and not shown:
            continue
        kept.append(dataclasses.replace(event, documents=" ".join(shown))
                    if len(shown) != len(named) else event)
    return kept


def _modes(modes: Sequence[str]) -> list[str]:
    chosen = list(modes)
    unknown = sorted(set(chosen) - set(OPPOSITIONS))
    if unknown:
        raise InvalidMode(f"unknown access mode(s) {', '.join(unknown)}; "
                          f"known: {', '.join(OPPOSITIONS)}")
    return chosen
