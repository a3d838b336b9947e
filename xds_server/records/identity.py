"""The identity side of the records actor, for a patient identity feed (HL7 v2 PAM-FR, IHE
ITI-30 with the merge rules of ITI-8): a patient admitted or updated with their local
identifiers and what they decided about their record, two records merged (A40), an identifier
changed (A47).

Each change is one transaction with its audit record and with what the front writes beside it
(`within`: the HL7 v2 message log), so a change is either all there, acknowledged, or not at
all. A merge moves the merged record's objects (their registered form rewritten by the wiring's
`repatient`, the ebXML front's) to the survivor: ITI-8 asks the registry to answer for the
surviving identifier only. The merged record stays, with the status MERGED, so the audit trail
and the identifier history keep naming it; it takes no new document and no second merge.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..model.hl7 import patient_key
from ..model.patients import CLOSED, MERGED, OPEN, ConsentChange
from ..security.principal import Principal
from ..store import audit_store, feed_store
from ..store import records_store as store
from ..store.database import Database, UnitOfWork
from ..store.locks import lock_records
from .actor import RecordsRefusal, UnknownRecord, _modes

Within = Callable[[UnitOfWork], None]
Repatient = Callable[[bytes, str], bytes]
AUDITED_AS = "ITI-30"


class IdentityConflict(RecordsRefusal):
    """A local identifier already names another patient, or a merge that cannot be; `side`
    says which record of a merge is at fault ('surviving', 'merged' or '' for both)."""

    def __init__(self, message: str, side: str = "") -> None:
        super().__init__(message)
        self.side = side


@dataclass(frozen=True)
class Admitted:
    patient_id: str
    created: bool
    new_identifiers: tuple[str, ...]
    consent_changed: bool


class IdentityFeed:
    def __init__(self, database: Database, repatient: Repatient) -> None:
        self.database = database
        self.repatient = repatient

    def resolve(self, identifiers: Sequence[str]) -> str | None:
        """The record one of these identifiers (INS or local) names, if any: the INS first."""
        with self.database.reading() as uow:
            for identifier in identifiers:
                key = patient_key(identifier)
                if store.patient_status(uow, key) is not None:
                    return key
                for patient, _ in feed_store.holders(uow, key):
                    return patient
        return None

    def identifiers(self, patient_id: str) -> list[tuple[str, str]]:
        with self.database.reading() as uow:
            return feed_store.identifiers_of(uow, patient_key(patient_id))

    def admit(self, patient_id: str, local_ids: Sequence[str], consent: ConsentChange,
              principal: Principal, within: Within | None = None) -> Admitted:
        """Create the record of a patient with a qualified INS when there is none (a closed
        record stays closed: closing it is the patient's act); keep their local identifiers;
        apply what they decided. An identifier held by another patient is an identity
        conflict (identitovigilance), refused whole."""
        key = patient_key(patient_id)
        locals_ = [patient_key(i) for i in local_ids]
        with self.database.transaction() as uow:
            lock_records(uow, [key])   # a record's writers take turns (consent read, then set)
            status = store.patient_status(uow, key)
            if status == MERGED:
                raise IdentityConflict(f"patient {key} was merged into another record (A40); "
                                       "its identifier no longer names a record")
            for identifier in locals_:
                others = [p for p, _ in feed_store.holders(uow, identifier) if p != key]
                if others:
                    raise IdentityConflict(f"local identifier {identifier} already names "
                                           "another patient")
            created = status is None
            if created:        # a closed record stays closed: closing is the patient's act
                store.open_record(uow, key)
            new = feed_store.add_identifiers(uow, key, locals_)
            changed = self._consent(uow, key, consent)
            audit_store.record(uow, principal, "C" if created else "U", "success", key, (),
                               AUDITED_AS, _detail(new=new, consent=consent)
                               if (new or changed) else "")
            if within is not None:
                within(uow)
        return Admitted(key, created, tuple(new), changed)

    def merge(self, surviving: str, merged: str, principal: Principal,
              within: Within | None = None) -> list[str]:
        """Move `merged`'s record into `surviving`'s (A40); returns the documents moved.
        Refused: the same record, an unknown one, or one already merged (which is also what
        makes a cycle impossible: a merged record is never a survivor again)."""
        target, source = patient_key(surviving), patient_key(merged)
        if target == source:
            raise IdentityConflict("a record cannot be merged into itself")
        with self.database.transaction() as uow:
            lock_records(uow, [target, source])   # no submission lands in a record being merged
            for key, what in ((target, "surviving"), (source, "merged")):
                status = store.patient_status(uow, key)
                if status is None:
                    raise UnknownRecord(f"the {what} patient {key} is not known")
                if status == MERGED:
                    raise IdentityConflict(f"the {what} patient {key} was already merged into "
                                           "another record", side=what)
            self._merge_consent(uow, source, target)
            moved = self._move_record(uow, source, target, feed_store.MERGED, principal,
                                      "ITI-8", f"merged={source}\nsurviving={target}")
            if within is not None:
                within(uow)
        return moved

    def change_identifier(self, old: str, new: str, principal: Principal,
                          within: Within | None = None) -> list[str]:
        """A47: the record known as `old` is `new` from now on (an INS corrected: the record
        moves as in a merge, into a record created for it; a local identifier: renamed)."""
        source, target = patient_key(old), patient_key(new)
        with self.database.transaction() as uow:
            lock_records(uow, [source, target])
            if store.patient_status(uow, source) not in (OPEN, CLOSED):
                holders = feed_store.holders(uow, source)
                if not holders:
                    raise UnknownRecord(f"no record for identifier {source}")
                patient = holders[0][0]
                if any(p != patient for p, _ in feed_store.holders(uow, target)):
                    raise IdentityConflict(f"identifier {target} already names another "
                                           "patient")
                feed_store.drop_identifier(uow, patient, source)
                feed_store.add_identifiers(uow, patient, [target])
                audit_store.record(uow, principal, "U", "success", patient, (), "ITI-30",
                                   f"identifier={source} -> {target}")
                if within is not None:
                    within(uow)
                return []
            if store.patient_status(uow, target) is not None:
                raise IdentityConflict(f"patient {target} already has a record: a merge (A40) "
                                       "joins two records, not A47")
            record = store.record(uow, source)
            store.open_record(uow, target)
            if record is not None and record.opposed_modes:
                store.set_opposed_modes(uow, target, sorted(record.opposed_modes))
            moved = self._move_record(uow, source, target, feed_store.REPLACED, principal,
                                      "ITI-30", f"identifier={source} -> {target}")
            if within is not None:
                within(uow)
        return moved

    def _move_record(self, uow: UnitOfWork, source: str, target: str, kept_as: str,
                     principal: Principal, transaction: str, detail: str) -> list[str]:
        """Move `source`'s documents into `target`'s record (A40, A47): `source` is merged and
        kept as one of `target`'s identifiers; both records' audit trails say so."""
        moved = feed_store.move_patient(uow, source, target,
                                        lambda xml: self.repatient(xml, target))
        feed_store.set_status(uow, source, MERGED)
        feed_store.add_identifiers(uow, target, [source], kept_as)
        audit_store.record(uow, principal, "U", "success", target, moved, transaction, detail)
        audit_store.record(uow, principal, "D", "success", source, moved, transaction, detail)
        return moved

    # --- rules --------------------------------------------------------------------------------

    @staticmethod
    def _consent(uow: UnitOfWork, key: str, consent: ConsentChange) -> bool:
        if consent.empty:
            return False
        record = store.record(uow, key)
        current = set(record.opposed_modes) if record is not None else set()
        wanted = (current | set(_modes(sorted(consent.oppose)))) - set(consent.withdraw)
        changed = wanted != current
        if changed:
            store.set_opposed_modes(uow, key, sorted(wanted))
        for professional in consent.grant:
            changed = store.grant(uow, key, professional) or changed
        for professional in consent.revoke:
            changed = store.revoke(uow, key, professional) or changed
        return changed

    @staticmethod
    def _merge_consent(uow: UnitOfWork, source: str, target: str) -> None:
        """The survivor keeps every opposition either record had: an opposition the patient
        expressed is never lost by a merge."""
        old, new = store.record(uow, source), store.record(uow, target)
        union = set(old.opposed_modes if old else ()) | set(new.opposed_modes if new else ())
        if new is not None and union != set(new.opposed_modes):
            store.set_opposed_modes(uow, target, sorted(union))


def _detail(new: Sequence[str], consent: ConsentChange) -> str:
    lines = [f"identifier={i}" for i in new]
    lines += [f"oppose={m}" for m in sorted(consent.oppose)]
    lines += [f"withdraw={m}" for m in sorted(consent.withdraw)]
    lines += [f"authorise={p}" for p in consent.grant]
    lines += [f"no_longer_authorise={p}" for p in consent.revoke]
    return "\n".join(lines)
