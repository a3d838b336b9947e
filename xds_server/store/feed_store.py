"""Rows of the HL7 v2 patient feed: a patient's other identifiers (local ids, merged INS), the
log of the messages acted on, and the move of a merged patient's rows to the survivor (A40).
Every function takes a unit of work and speaks plain values."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from typing import NamedTuple

from sqlalchemy import and_, delete, insert, select, update

from .database import UnitOfWork, fetch, param_mark
from .tables import (
    OBJECT_TABLES,
    authorizations,
    hl7_messages,
    object_index,
    patient_identifiers,
    patients,
)

LOCAL, MERGED, REPLACED = "local", "merged", "replaced"


class LoggedMessage(NamedTuple):
    digest: str
    ack: bytes


# --- identifiers -----------------------------------------------------------------------------

def add_identifiers(uow: UnitOfWork, patient_id: str, identifiers: Iterable[str],
                    kind: str = LOCAL) -> list[str]:
    """Keep `identifiers` as the patient's (those not kept yet); returns the new ones. An
    identifier another patient holds is left to them (the caller checked)."""
    wanted = list(dict.fromkeys(identifiers))
    if not wanted:
        return []
    held = set(uow.connection.execute(select(patient_identifiers.c.identifier).where(and_(
        patient_identifiers.c.patient_id == patient_id,
        patient_identifiers.c.identifier.in_(wanted)))).scalars())
    new = [identifier for identifier in wanted if identifier not in held]
    if new:
        now = dt.datetime.now(dt.UTC)
        uow.connection.execute(insert(patient_identifiers), [
            {"patient_id": patient_id, "identifier": identifier, "kind": kind,
             "assigned_at": now} for identifier in new])
    return new


def holders(uow: UnitOfWork, identifier: str) -> list[tuple[str, str]]:
    """(patient, kind) of every record that holds `identifier`."""
    return [(row.patient_id, row.kind) for row in uow.connection.execute(
        select(patient_identifiers.c.patient_id, patient_identifiers.c.kind)
        .where(patient_identifiers.c.identifier == identifier))]


def identifiers_of(uow: UnitOfWork, patient_id: str) -> list[tuple[str, str]]:
    """(identifier, kind) of a patient, oldest first."""
    return [(row.identifier, row.kind) for row in uow.connection.execute(
        select(patient_identifiers.c.identifier, patient_identifiers.c.kind)
        .where(patient_identifiers.c.patient_id == patient_id)
        .order_by(patient_identifiers.c.assigned_at, patient_identifiers.c.identifier))]


def drop_identifier(uow: UnitOfWork, patient_id: str, identifier: str) -> bool:
    result = uow.connection.execute(delete(patient_identifiers).where(and_(
        patient_identifiers.c.patient_id == patient_id,
        patient_identifiers.c.identifier == identifier)))
    return bool(result.rowcount)


# --- the message log -------------------------------------------------------------------------

def logged(uow: UnitOfWork, sender: str, control_id: str) -> LoggedMessage | None:
    """Asked of every message before anything else: plain SQL, one round trip."""
    mark = param_mark(uow.connection)
    rows = fetch(uow.connection, f"SELECT digest, ack FROM hl7_messages WHERE sender = {mark} "
                                 f"AND control_id = {mark}", [sender, control_id])
    return LoggedMessage(rows[0][0], bytes(rows[0][1])) if rows else None


def log_message(uow: UnitOfWork, sender: str, control_id: str, digest: str, ack: bytes,
                patient_id: str | None) -> None:
    """Raises StoreConflict when another worker logged the same message first."""
    uow.connection.execute(insert(hl7_messages), {
        "sender": sender, "control_id": control_id, "digest": digest, "ack": ack,
        "patient_id": patient_id, "received_at": dt.datetime.now(dt.UTC)})


# --- merge and identifier change -------------------------------------------------------------

def set_status(uow: UnitOfWork, patient_id: str, status: str) -> None:
    uow.connection.execute(update(patients).where(patients.c.patient_id == patient_id)
                           .values(status=status))


def move_patient(uow: UnitOfWork, source: str, target: str,
                 repatient: Callable[[bytes], bytes]) -> list[str]:
    """Every registry row of `source` becomes `target`'s, its registered form rewritten by
    `repatient` (the patientId it carries); returns the documents' uniqueIds moved. The
    authorisations the patient gave follow; the audit trail stays as it was written."""
    connection = uow.connection
    # the registry rows carry the patients' keys (0011); both records exist (the caller opened
    # the target's)
    source_key, target_key = (connection.execute(select(patients.c.patient_key).where(
        patients.c.patient_id == patient)).scalar_one() for patient in (source, target))
    moved: list[str] = []
    for kind, table in OBJECT_TABLES.items():
        rows = list(connection.execute(select(table.c.entry_uuid, table.c.xml,
                                              *([table.c.unique_id] if kind == "document"
                                                else []))
                                       .where(table.c.patient_key == source_key)))
        for row in rows:
            values: dict[str, object] = {"patient_key": target_key}
            if kind != "association":
                values["xml"] = repatient(bytes(row.xml))
            connection.execute(update(table).where(and_(
                table.c.patient_key == source_key, table.c.entry_uuid == row.entry_uuid))
                .values(**values))
            if kind == "document":
                moved.append(row.unique_id)
    connection.execute(update(object_index).where(object_index.c.patient_key == source_key)
                       .values(patient_key=target_key))
    granted = set(connection.execute(select(authorizations.c.professional_id).where(
        authorizations.c.patient_id == target)).scalars())
    connection.execute(delete(authorizations).where(and_(
        authorizations.c.patient_id == source,
        authorizations.c.professional_id.in_(granted))))
    connection.execute(update(authorizations).where(authorizations.c.patient_id == source)
                       .values(patient_id=target))
    for identifier, kind in identifiers_of(uow, source):
        if kind != MERGED or identifier != target:
            add_identifiers(uow, target, [identifier], kind)
    connection.execute(delete(patient_identifiers).where(
        patient_identifiers.c.patient_id == source))
    return moved
