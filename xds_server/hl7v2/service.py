"""One HL7 v2 message in, its acknowledgement out: the dispatch by MSH-9, the message log that
makes a message sent twice act once, the sender as the caller the actors and the audit trail
see, and every refusal as an ACK (never an exception, never a stack trace on the wire).

Idempotence: a message is known by its sender (MSH-3^MSH-4), its type and event (MSH-9) and
its control id (MSH-10). Sent again with the same content (its ACK was lost), it gets the ACK
it was given, and nothing is done twice; with other content, it is rejected (AR, 205): a
sender that reuses a control id for another message would otherwise have it ignored. The
type is part of the key because the ANS's own examples reuse one control id for the first
transmission, the replacement and the deletion of a document (MDM T02, T10, T04).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import secrets
from dataclasses import dataclass

from ..model.errors import STORAGE_FULL, is_disk_full
from ..records.message_log import Logged, MessageLog
from ..security.access import APPLICATION, PROFESSIONAL
from ..security.principal import Principal
from ..store.database import StoreConflict, StoreUnavailable, UnitOfWork
from . import ack
from .ack import AE, AR, Problem, Refused, acknowledgement
from .documents import DocumentFeed, DocumentsOutcome
from .er7 import Er7Error, Header, header_of, parse
from .fields import check_fields
from .patient_feed import EVENTS, FeedOutcome, PatientFeed
from .senders import Sender, SenderTable
from .structure import check_structure

log = logging.getLogger("xds_server.hl7v2")

DOCUMENT_EVENTS = {"ORU": frozenset({"R01"}), "MDM": frozenset({"T02", "T04", "T10", "T11"})}
CANCEL = "T11"
PROCESSING_IDS = frozenset({"P", "T", "D"})
MAX_CONTROL_ID = 40


@dataclass(frozen=True)
class Peer:
    """The connection a message came on, for the audit trail."""

    address: str = ""          # host:port, for the audit trail
    host: str = ""             # the address alone, as the sender table's networks hold it
    certificate_subject: str = ""
    certificate_serial: str = ""
    endpoint: str = ""


class Hl7Service:
    def __init__(self, patients: PatientFeed, documents: DocumentFeed,
                 messages: MessageLog, senders: SenderTable) -> None:
        self.senders = senders
        self.patients = patients
        self.documents = documents
        self.messages = messages

    def handle(self, data: bytes, peer: Peer = Peer(), request_id: str = "") -> bytes:
        """The ACK for `data`, whatever it holds."""
        request_id = request_id or secrets.token_hex(8)
        header = header_of(data)
        if header is None:
            log.info("request_id=%s hl7 from %s: no readable MSH", request_id, peer.address)
            return acknowledgement(None, AR, [Problem(
                ack.SEGMENT_SEQUENCE_ERROR, "MSH^1",
                "the message does not start with a readable MSH segment")])
        try:
            return self._handle(data, header, peer, request_id)
        except StoreUnavailable as exc:
            if is_disk_full(exc):       # the database's disk: storage full, not unavailable
                return self._storage_full(header, exc, request_id)
            log.warning("request_id=%s hl7 %s from %s: database unavailable", request_id,
                        header.control_id, header.sender)
            return acknowledgement(header, AR, [Problem(
                ack.APPLICATION_INTERNAL_ERROR, "",
                f"the registry database is unavailable; send again later "
                f"(request {request_id})")])
        except Exception as exc:
            if is_disk_full(exc):     # a write filled the disk: not a bug; sent again later
                return self._storage_full(header, exc, request_id)
            log.exception("request_id=%s hl7 %s from %s: internal error", request_id,
                          header.control_id, header.sender)
            return acknowledgement(header, AR, [Problem(
                ack.APPLICATION_INTERNAL_ERROR, "",
                f"internal error; the server log has request {request_id}")])

    @staticmethod
    def _storage_full(header: Header, exc: BaseException, request_id: str) -> bytes:
        log.error("request_id=%s hl7 %s from %s: storage full: %s: writes are refused "
                  "until space is freed", request_id, header.control_id, header.sender, exc)
        return acknowledgement(header, AR, [Problem(
            ack.APPLICATION_INTERNAL_ERROR, "", f"{STORAGE_FULL} (request {request_id})")])

    def _handle(self, data: bytes, header: Header, peer: Peer, request_id: str) -> bytes:
        key = self._key(header)
        digest = hashlib.sha256(_normalised(data)).hexdigest()
        logged = self.messages.seen(header.sender[:256], key)
        if logged is not None:
            return self._replayed(header, logged, digest, request_id)
        caller = self._caller(header, peer, request_id)
        bound = ""
        try:
            problems = self._check_header(header)
            if problems:
                raise Refused(*problems, reject=True)
            # before anything is read further: only a listed sender, proven by its connection
            sender = self.senders.authorise(header, peer.host, peer.certificate_subject)
            bound = f"sender_bound_by={sender.binding}"
            message = parse(data)
            warnings = check_structure(message.names(), header.message_type.upper(),
                                       header.trigger_event.upper())
            warnings += check_fields(message, header.message_type.upper())
            answer: list[bytes] = []

            def within_for(outcome: FeedOutcome | DocumentsOutcome):
                def within(uow: UnitOfWork) -> None:
                    reply = acknowledgement(header, outcome.code,
                                            [*warnings, *outcome.problems])
                    answer.append(reply)
                    Logged(header.sender[:256], key, digest, reply, outcome.patient_id,
                           dataclasses.replace(caller, patient_id=outcome.patient_id),
                           outcome.action, "success", outcome.documents,
                           caller.transaction, _detail(header, outcome.detail, bound))(uow)
                return within

            outcome = self._dispatch(message, header, caller, sender, within_for)
            if not answer:       # nothing was written (a warning only): log it on its own
                reply = acknowledgement(header, outcome.code, [*warnings, *outcome.problems])
                entry = Logged(header.sender[:256], key, digest, reply, outcome.patient_id,
                               caller, outcome.action, "success", outcome.documents,
                               caller.transaction, _detail(header, outcome.detail, bound))
                if not self.messages.write(entry):
                    return self._raced(header, digest, request_id)
                answer.append(reply)
            log.info("request_id=%s hl7 %s^%s %s from %s: %s %s", request_id,
                     header.message_type, header.trigger_event, header.control_id,
                     header.sender, outcome.code, " ".join(outcome.documents) or
                     outcome.patient_id or "")
            return answer[-1]
        except StoreConflict:
            return self._raced(header, digest, request_id)
        except (Refused, Er7Error) as refusal:
            return self._refused(header, key, digest, caller, refusal, request_id, bound)

    # --- the answers ---------------------------------------------------------------------------

    def _refused(self, header: Header, key: str, digest: str, caller: Principal,
                 refusal: Refused | Er7Error, request_id: str, bound: str = "") -> bytes:
        if isinstance(refusal, Er7Error):
            refusal = Refused(Problem(refusal.code, refusal.location, str(refusal)),
                              reject=True)
        twin = self.messages.seen(header.sender[:256], key)
        if twin is not None:      # the same message, done meanwhile on another connection
            return self._replayed(header, twin, digest, request_id)
        code = AR if refusal.reject else AE
        reply = acknowledgement(header, code, refusal.problems)
        log.info("request_id=%s hl7 %s^%s %s from %s: %s %s", request_id, header.message_type,
                 header.trigger_event, header.control_id, header.sender, code,
                 "; ".join(f"{p.code} {p.location}: {p.text}" for p in refusal.problems[:5]))
        # audited, not logged: a refused message had no effect, so the sender may send the
        # corrected one under the same control id
        self.messages.write(Logged(header.sender[:256], key, digest, reply, None, caller, "C",
                                   "failure", (), caller.transaction,
                                   _detail(header, "; ".join(p.text
                                                             for p in refusal.problems),
                                           bound),
                                   keep=False))
        return reply

    def _replayed(self, header: Header, logged, digest: str, request_id: str) -> bytes:
        if logged.digest == digest:
            log.info("request_id=%s hl7 %s from %s: sent again, answered as before",
                     request_id, header.control_id, header.sender)
            return logged.ack
        log.info("request_id=%s hl7 %s from %s: control id reused with other content",
                 request_id, header.control_id, header.sender)
        return acknowledgement(header, AR, [Problem(
            ack.DUPLICATE_KEY_IDENTIFIER, "MSH^1^10",
            f"control id '{header.control_id}' (MSH-10) was already used by this sender for "
            f"another {header.message_type}^{header.trigger_event} message: nothing done")])

    def _raced(self, header: Header, digest: str, request_id: str) -> bytes:
        """The same message, acted on by another connection meanwhile: its answer."""
        logged = self.messages.seen(header.sender[:256], self._key(header))
        if logged is None:
            return acknowledgement(header, AR, [Problem(
                ack.APPLICATION_RECORD_LOCKED, "", "the record was being changed by another "
                "message; send again")])
        return self._replayed(header, logged, digest, request_id)

    # --- dispatch ------------------------------------------------------------------------------

    def _dispatch(self, message, header: Header, caller: Principal, sender: Sender,
                  within_for):
        kind, event = header.message_type.upper(), header.trigger_event.upper()
        if kind == "ADT":
            return self.patients.handle(
                message, event, lambda patient: dataclasses.replace(
                    caller, patient_id=patient, transaction=_transaction(event)),
                within_for)
        return self.documents.handle(
            message, event == CANCEL, sender,
            # the registry labels what it does as over SOAP (ITI-42 import, ITI-57 update)
            lambda patient, person, organisation: dataclasses.replace(
                caller, subject_id=(person or caller.subject_id)[:64], role=PROFESSIONAL,
                structure_id=organisation[:64],
                patient_id=f"{patient}^NH", transaction=""),
            within_for)

    @staticmethod
    def _check_header(header: Header) -> list[Problem]:
        kind, event = header.message_type.upper(), header.trigger_event.upper()
        if not header.control_id:
            return [Problem(ack.REQUIRED_FIELD_MISSING, "MSH^1^10", "MSH-10 (message control "
                                                                    "id) is empty")]
        if len(header.control_id) > MAX_CONTROL_ID:
            return [Problem(ack.DATA_TYPE_ERROR, "MSH^1^10",
                            f"MSH-10 is longer than {MAX_CONTROL_ID} characters")]
        if kind != "ADT" and kind not in DOCUMENT_EVENTS:
            return [Problem(ack.UNSUPPORTED_MESSAGE_TYPE, "MSH^1^9^1^1",
                            f"message type '{kind}': this server takes ADT (PAM-FR), ORU^R01 "
                            "and MDM^T02/T04/T10/T11")]
        if event not in (EVENTS if kind == "ADT" else DOCUMENT_EVENTS[kind]):
            return [Problem(ack.UNSUPPORTED_EVENT_CODE, "MSH^1^9^1^2",
                            f"event '{kind}^{event}' is not one this server acts on")]
        if header.processing_id[:1].upper() not in PROCESSING_IDS:
            return [Problem(ack.UNSUPPORTED_PROCESSING_ID, "MSH^1^11",
                            f"processing id '{header.processing_id}': P, T or D")]
        if not header.version.startswith("2."):
            return [Problem(ack.UNSUPPORTED_VERSION_ID, "MSH^1^12",
                            f"version '{header.version}': HL7 v2.x")]
        return []

    @staticmethod
    def _key(header: Header) -> str:
        return f"{header.message_type}^{header.trigger_event}^{header.control_id}"[:64]

    @staticmethod
    def _caller(header: Header, peer: Peer, request_id: str) -> Principal:
        """The sending application and facility (MSH-3^MSH-4), an application: the audit
        trail's caller of the message (the connection's address and certificate beside)."""
        return Principal(subject_id=header.sender[:64], role=APPLICATION,
                         structure_id=header.sending_facility[:64], request_id=request_id,
                         transaction=_transaction(header.trigger_event.upper(),
                                                  header.message_type.upper()),
                         client_address=peer.host or peer.address,
                         client_subject=peer.certificate_subject,
                         client_serial=peer.certificate_serial, endpoint=peer.endpoint)


def _transaction(event: str, kind: str = "ADT") -> str:
    """The audit trail's name of the transaction: ITI-8 for a merge, ITI-30 for the rest of
    the feed, the message type for documents."""
    if kind != "ADT":
        return f"{kind}^{event}"[:16]
    return "ITI-8" if event == "A40" else "ITI-30"


def _normalised(data: bytes) -> bytes:
    """The message as its segments: the same message with LF or CRLF separators, or with
    trailing blank lines, is the same message; so is one whose MSH-7 (the time it was sent)
    a sender regenerates when it sends it again after a lost ACK."""
    lines = [line for line in data.replace(b"\r\n", b"\r").replace(b"\n", b"\r")
             .split(b"\r") if line.strip()]
    if lines and lines[0].startswith(b"MSH") and len(lines[0]) > 3:
        fields = lines[0].split(lines[0][3:4])
        if len(fields) > 6:
            fields[6] = b""
            lines[0] = lines[0][3:4].join(fields)
    return b"\r".join(lines)


def _detail(header: Header, detail: str, bound: str = "") -> str:
    lines = [f"message={header.message_type}^{header.trigger_event}",
             f"control_id={header.control_id}", f"sender={header.sender}",
             *([bound] if bound else [])]
    return "\n".join([*lines, *([detail] if detail else [])])
