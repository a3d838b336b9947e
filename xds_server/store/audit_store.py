"""The audit trail's rows: written in the transaction of the change they record (or in
batches, for reads: store/audit_writer.py), read back as model `AuditEvent`s."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Sequence

from sqlalchemy import func, select, text

from ..model.audit import AuditEvent, Caller
from .database import UnitOfWork, param_mark
from .tables import audit_events

# the record's fields in the table's column order; quoted: "transaction" is a keyword in SQLite
FIELDS = ("at", "request_id", "transaction", "action", "outcome", "subject_id", "role",
          "structure_id", "purpose_of_use", "patient_id", "documents", "client_address",
          "client_subject", "endpoint", "detail", "client_serial")
# and whether the record waits for the audit record repository (the ATNA queue)
COLUMNS = ", ".join(f'"{name}"' for name in (*FIELDS, "atna_pending"))
_EVENT_FIELDS = frozenset(field.name for field in dataclasses.fields(AuditEvent))
# each text field's width (None: text): a value longer than its column, or one UTF-8 cannot
# encode, failed the whole batch on PostgreSQL and lost other callers' records (issue 16
# re-test c, 1 and 2); the credentials' readers refuse such identities, this keeps any that
# slips through from costing anyone else's record
WIDTHS = {name: getattr(audit_events.c[name].type, "length", None) for name in FIELDS[1:]}
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")     # NUL (PostgreSQL), lone surrogates (UTF-8)


def storable(value: str | None, width: int | None) -> str | None:
    """`value` as a column of `width` holds it: cut to the width, NUL and lone surrogates
    written U+FFFD (the record kept, and seen to be odd)."""
    if value is None or (value.isascii() and "\x00" not in value
                         and (width is None or len(value) <= width)):
        return value
    value = _UNSTORABLE.sub("\ufffd", value)
    return value if width is None else value[:width]


def _values(uow: UnitOfWork, event: AuditEvent) -> tuple:
    moment = event.at if uow.dialect == "postgresql" else \
        event.at.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")  # SQLAlchemy's
    return (moment, *(storable(getattr(event, name), WIDTHS[name]) for name in FIELDS[1:]),
            uow.forward_audits)


def write(uow: UnitOfWork, events: Sequence[AuditEvent]) -> None:
    """Several records in one statement. On PostgreSQL a batch goes by COPY: a read audit per
    query is most of what the database writes, and a row copied costs it a fraction of an
    INSERT executed."""
    if not events:
        return
    rows = [_values(uow, event) for event in events]
    connection = uow.connection
    driver = connection.connection.driver_connection
    if uow.dialect == "postgresql" and not driver.pgconn.pipeline_status:
        # (a registration writes its own record inside its pipeline, where COPY cannot run)
        with driver.cursor() as cursor, cursor.copy(
                f"COPY audit_events ({COLUMNS}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    mark = param_mark(connection)
    connection.exec_driver_sql(f"INSERT INTO audit_events ({COLUMNS}) VALUES "
                               f"({', '.join([mark] * (len(FIELDS) + 1))})", rows)


def record(uow: UnitOfWork, caller: Caller, action: str, outcome: str, patient_id: str | None,
           documents: Sequence[str] = (), transaction: str = "", detail: str = "") -> None:
    """One record of what `caller` did, now; `detail` the other objects the transaction's
    audit message names (submission_set=uniqueId, query=id)."""
    write(uow, [AuditEvent.of(caller, action, outcome, patient_id, documents, transaction,
                              detail)])


def trail(uow: UnitOfWork, patient_id: str | None = None, since: dt.datetime | None = None,
          until: dt.datetime | None = None, last: int | None = None) -> list[AuditEvent]:
    """The records of a patient (or all), oldest first, within [since, until); with `last`,
    only the most recent `last` of them."""
    query = select(audit_events)
    if patient_id is not None:
        query = query.where(audit_events.c.patient_id == patient_id)
    if since is not None:
        query = query.where(audit_events.c.at >= since)
    if until is not None:
        query = query.where(audit_events.c.at < until)
    if last is None:
        rows = list(uow.connection.execute(query.order_by(audit_events.c.at,
                                                          audit_events.c.id)))
    else:
        rows = list(uow.connection.execute(query.order_by(
            audit_events.c.at.desc(), audit_events.c.id.desc()).limit(last)))[::-1]
    return [_event(row) for row in rows]


@dataclasses.dataclass(frozen=True)
class Queued:
    """A record waiting for the audit record repository, with the key of its row (patient
    first, as every patient-scoped row is found)."""

    patient_id: str | None
    row_id: int
    event: AuditEvent


def forwarding_queue(uow: UnitOfWork, limit: int) -> list[Queued]:
    """The oldest records still to send (the partial index of pending rows)."""
    rows = uow.connection.execute(
        select(audit_events).where(text("atna_pending")).order_by(audit_events.c.id)
        .limit(limit))
    return [Queued(row.patient_id, row.id, _event(row)) for row in rows]


def mark_forwarded(uow: UnitOfWork, queued: Sequence[Queued]) -> None:
    """The records the repository has: out of the queue (their trail rows stay)."""
    mark = param_mark(uow.connection)
    with_patient = [(item.patient_id, item.row_id) for item in queued if item.patient_id]
    without = [(item.row_id,) for item in queued if not item.patient_id]
    if with_patient:
        uow.connection.exec_driver_sql(
            f"UPDATE audit_events SET atna_pending = {_FALSE} WHERE patient_id = {mark} "
            f"AND id = {mark}", with_patient)
    if without:
        uow.connection.exec_driver_sql(
            f"UPDATE audit_events SET atna_pending = {_FALSE} WHERE patient_id IS NULL "
            f"AND id = {mark}", without)


def forwarding_backlog(uow: UnitOfWork) -> int:
    """How many records wait for the audit record repository."""
    return uow.connection.execute(
        select(func.count()).select_from(audit_events).where(text("atna_pending"))).scalar_one()


_FALSE = "(1 = 0)"      # false on SQLite (0) and PostgreSQL (boolean) alike


def _event(row) -> AuditEvent:
    return AuditEvent(**{key: value for key, value in row._mapping.items()
                         if key in _EVENT_FIELDS})
