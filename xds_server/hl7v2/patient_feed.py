"""The PAM-FR patient identity feed (IHE ITI-30, with the merge of ITI-8): ADT messages as
changes of the records actor's identity side (records/identity.py).

- A28 A31 A01 A04 A05 A08, and the movements of ITI-31 (A02 A03 A06 A07 A11 A12 A13 A21 A22
  A38 A52 A53 A54 A55 Z99): the record of the patient's INS created or reopened, their local
  identifiers kept, ZFA/ROL applied;
- A40: the record MRG-1 names merged into PID-3's, its documents moved to the survivor;
- A47: the identifier MRG-1 names becomes PID-3's.

Everything is done in one transaction with the message's log row (`within`), so the ACK AA
is given only for what is committed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ..records.actor import RecordsRefusal, UnknownRecord
from ..records.identity import IdentityConflict, IdentityFeed, Within
from ..security.principal import Principal
from . import ack
from .ack import AA, Problem, Refused
from .er7 import Message
from .identity import identifiers, read_consent, read_identity

ADMIT = frozenset({"A28", "A31", "A01", "A04", "A05", "A08", "A02", "A03", "A06", "A07", "A11",
                   "A12", "A13", "A21", "A22", "A38", "A52", "A53", "A54", "A55", "Z99"})
MERGE, CHANGE_IDENTIFIER = "A40", "A47"
EVENTS = ADMIT | {MERGE, CHANGE_IDENTIFIER}


@dataclass
class FeedOutcome:
    """What a feed message did: the ACK code, its warnings, and what the audit record names."""

    code: str
    patient_id: str | None
    action: str
    problems: list[Problem] = field(default_factory=list)
    documents: list[str] = field(default_factory=list)
    detail: str = ""
    changed: bool = True


class PatientFeed:
    def __init__(self, identities: IdentityFeed, accept_test_ins: bool) -> None:
        self.identities = identities
        self.accept_test_ins = accept_test_ins

    def handle(self, message: Message, event: str, principal_for: Callable[[str], Principal],
               within: Callable[[FeedOutcome], Within]) -> FeedOutcome:
        """Apply one ADT message; Refused for what is wrong with it. `principal_for(patient)`
        is the sender acting on that record; `within(outcome)` logs the message in the
        transaction of its effect."""
        if event == MERGE:
            return self._merge(message, principal_for, within)
        if event == CHANGE_IDENTIFIER:
            return self._change(message, principal_for, within)
        return self._admit(message, event, principal_for, within)

    def _admit(self, message: Message, event: str, principal_for, within) -> FeedOutcome:
        identity = read_identity(message, self.accept_test_ins)
        consent = read_consent(message)
        if not identity.qualified:
            why = ("PID-3 holds no INS" if identity.ins is None else
                   f"the identity status (PID-32) is '{identity.status or 'empty'}', not "
                   "VALI (qualified)")
            return FeedOutcome(AA, None, "R", [Problem(
                ack.MESSAGE_ACCEPTED, "PID^1^32" if identity.ins else "PID^1^3",
                f"{why}: no DMP record was created or changed", ack.WARNING)],
                detail=f"event={event}\nnot_qualified={identity.status}", changed=False)
        assert identity.ins is not None
        outcome = FeedOutcome(AA, identity.ins, "U", detail=f"event={event}")
        try:
            admitted = self.identities.admit(identity.ins, identity.local_ids, consent,
                                             principal_for(identity.ins), within(outcome))
        except IdentityConflict as exc:
            raise Refused(Problem(ack.DUPLICATE_KEY_IDENTIFIER, "PID^1^3", str(exc))) from None
        except RecordsRefusal as exc:
            raise Refused(Problem(ack.TABLE_VALUE_NOT_FOUND, "ZFA", str(exc))) from None
        outcome.action = "C" if admitted.created else "U"
        return outcome

    def _pair(self, message: Message, same_kind: bool = False) -> tuple[str, str]:
        """(PID-3's identifier, MRG-1's) of an A40 or A47: INS first, else local; with
        `same_kind` (A47), PID-3's of the kind MRG-1 names (a local identifier renamed)."""
        if message.first("MRG") is None:
            raise Refused(Problem(ack.SEGMENT_SEQUENCE_ERROR, "MRG",
                                  "an A40 or A47 needs its MRG segment"))
        identity = read_identity(message, self.accept_test_ins)
        ins, local = identifiers(message, "MRG", 1, self.accept_test_ins)
        old = ins or (local[0] if local else None)
        if old is None:
            raise Refused(Problem(ack.REQUIRED_FIELD_MISSING, "MRG^1^1",
                                  "MRG-1 names no identifier"))
        if same_kind and ins is None and identity.local_ids:
            new = identity.local_ids[0]
        else:
            new = identity.ins or identity.local_ids[0]
        if identity.ins is not None and not identity.qualified:
            raise Refused(Problem(ack.TABLE_VALUE_NOT_FOUND, "PID^1^32",
                                  f"the identity status (PID-32) is '{identity.status}', not "
                                  "VALI: a record is merged into a qualified identity only"))
        return new, old

    def _merge(self, message: Message, principal_for, within) -> FeedOutcome:
        surviving_id, merged_id = self._pair(message)
        surviving = self.identities.resolve([surviving_id])
        merged = self.identities.resolve([merged_id])
        if surviving is None or merged is None:
            which = "PID^1^3" if surviving is None else "MRG^1^1"
            raise Refused(Problem(ack.UNKNOWN_KEY_IDENTIFIER, which,
                                  f"{surviving_id if surviving is None else merged_id} names "
                                  "no record of this registry"))
        outcome = FeedOutcome(AA, surviving, "U",
                              detail=f"event=A40\nmerged={merged}\nsurviving={surviving}")
        try:
            outcome.documents = self.identities.merge(surviving, merged,
                                                      principal_for(surviving),
                                                      within(outcome))
        except UnknownRecord as exc:
            raise Refused(Problem(ack.UNKNOWN_KEY_IDENTIFIER, "MRG^1^1", str(exc))) from None
        except IdentityConflict as exc:
            # the field of the record at fault: PID-3 names the survivor, MRG-1 the merged
            where = "PID^1^3" if exc.side == "surviving" else "MRG^1^1"
            raise Refused(Problem(ack.DUPLICATE_KEY_IDENTIFIER, where, str(exc))) from None
        return outcome

    def _change(self, message: Message, principal_for, within) -> FeedOutcome:
        new, old = self._pair(message, same_kind=True)
        outcome = FeedOutcome(AA, new, "U", detail=f"event=A47\nold={old}\nnew={new}")
        try:
            outcome.documents = self.identities.change_identifier(old, new, principal_for(new),
                                                                  within(outcome))
        except UnknownRecord as exc:
            raise Refused(Problem(ack.UNKNOWN_KEY_IDENTIFIER, "MRG^1^1", str(exc))) from None
        except IdentityConflict as exc:
            raise Refused(Problem(ack.DUPLICATE_KEY_IDENTIFIER, "PID^1^3", str(exc))) from None
        return outcome
