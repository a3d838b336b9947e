"""The log of the messages a feed acted on (HL7 v2): by sender and control id, the digest of
what was received and the acknowledgement given. Written in the transaction of the message's
effect (`entry` is the `within` the actors take), with the message's audit record, so an
acknowledged message is never lost and a message sent again after a lost acknowledgement is
answered from here, with no second effect.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..model.audit import Caller
from ..store import audit_store, feed_store
from ..store.database import Database, StoreConflict, UnitOfWork
from ..store.feed_store import LoggedMessage

__all__ = ["Logged", "LoggedMessage", "MessageLog"]


@dataclass(frozen=True)
class Logged:
    """One message's row and audit record, as `within` writes them."""

    sender: str
    control_id: str
    digest: str
    ack: bytes
    patient_id: str | None
    caller: Caller
    action: str                       # C, R, U, D
    outcome: str                      # success, failure
    documents: Sequence[str] = ()
    transaction: str = "HL7v2"
    detail: str = ""
    # False for a message that was refused: it had no effect, so its control id stays free
    # for the corrected message (only its audit record is written)
    keep: bool = True

    def __call__(self, uow: UnitOfWork) -> None:
        if self.keep:
            feed_store.log_message(uow, self.sender, self.control_id, self.digest, self.ack,
                                   self.patient_id)
        audit_store.record(uow, self.caller, self.action, self.outcome, self.patient_id,
                           self.documents, self.transaction, self.detail)


class MessageLog:
    def __init__(self, database: Database) -> None:
        self.database = database

    def seen(self, sender: str, control_id: str) -> LoggedMessage | None:
        return self.database.read(lambda uow: feed_store.logged(uow, sender, control_id))

    def write(self, entry: Logged) -> bool:
        """The row and audit record of a message that changed nothing (refused, or a warning
        only), in their own transaction; False when the same message was logged meanwhile."""
        try:
            with self.database.transaction() as uow:
                entry(uow)
        except StoreConflict:
            return False
        return True
