"""Rows of the patients' records: open or closed, the patient's oppositions, the professionals
they authorised. Every function takes a unit of work and speaks model objects."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import and_, delete, exists, insert, select, update
from sqlalchemy.engine import Row

from ..model.facts import RecordAccess
from ..model.hl7 import patient_key
from ..model.patients import CLOSED, MERGED, OPEN, Authorization, PatientRecord
from .database import UnitOfWork, fetch, param_mark
from .tables import authorizations, object_index, patients


def _record(row: Row) -> PatientRecord:
    return PatientRecord(row.patient_id, row.status, row.opened_at, row.closed_at,
                         frozenset((row.opposed_modes or "").split()))


def _authorization(row: Row) -> Authorization:
    return Authorization(row.patient_id, row.professional_id, row.granted_at)


def open_record(uow: UnitOfWork, patient_id: str) -> bool:
    """Open a patient's record; True when it was new or reopened."""
    key = patient_key(patient_id)
    current = patient_status(uow, key)
    if current in (OPEN, MERGED):      # a merged record lives on in its survivor's
        return False
    if current == CLOSED:
        uow.connection.execute(update(patients).where(patients.c.patient_id == key)
                               .values(status=OPEN, closed_at=None))
    else:
        uow.connection.execute(insert(patients).values(patient_id=key, status=OPEN,
                                                       opened_at=dt.datetime.now(dt.UTC)))
    return True


def close_record(uow: UnitOfWork, patient_id: str) -> bool:
    """Close an open record; False when there was none."""
    result = uow.connection.execute(
        update(patients).where(and_(patients.c.patient_id == patient_key(patient_id),
                                    patients.c.status == OPEN))
        .values(status=CLOSED, closed_at=dt.datetime.now(dt.UTC)))
    return result.rowcount == 1


def forget_record(uow: UnitOfWork, patient_id: str) -> bool:
    """Delete a record that holds no registry object (a test patient after its run), with its
    authorisations; False when it holds objects or is unknown. Its audit trail stays."""
    key = patient_key(patient_id)
    holds = exists().where(object_index.c.patient_key == patients.c.patient_key)
    result = uow.connection.execute(delete(patients).where(
        and_(patients.c.patient_id == key, ~holds)))
    if result.rowcount != 1:
        return False
    uow.connection.execute(delete(authorizations).where(authorizations.c.patient_id == key))
    return True


def patient_status(uow: UnitOfWork, patient_id: str) -> str | None:
    """OPEN, CLOSED, or None for a patient the registry does not know."""
    return uow.connection.execute(select(patients.c.status).where(
        patients.c.patient_id == patient_key(patient_id))).scalar_one_or_none()


def record(uow: UnitOfWork, patient_id: str) -> PatientRecord | None:
    row = uow.connection.execute(select(patients).where(
        patients.c.patient_id == patient_key(patient_id))).first()
    return _record(row) if row is not None else None


def records(uow: UnitOfWork) -> list[PatientRecord]:
    return [_record(row) for row in
            uow.connection.execute(select(patients).order_by(patients.c.patient_id))]


def set_opposed_modes(uow: UnitOfWork, patient_id: str, modes: Sequence[str]) -> None:
    uow.connection.execute(update(patients).where(patients.c.patient_id == patient_id)
                           .values(opposed_modes=" ".join(sorted(set(modes)))))


def record_access(uow: UnitOfWork, patient_id: str, professional_id: str) -> RecordAccess:
    """One round trip, plain SQL: every query by an authenticated caller asks it."""
    connection = uow.connection
    mark = param_mark(connection)
    opposed, granted = fetch(
        connection, f"SELECT (SELECT opposed_modes FROM patients WHERE patient_id = {mark}), "
                    f"(SELECT COUNT(*) FROM authorizations WHERE patient_id = {mark} AND "
                    f"professional_id = {mark})", [patient_id, patient_id, professional_id])[0]
    return RecordAccess(bool(granted), frozenset((opposed or "").split()))


def grant(uow: UnitOfWork, patient_id: str, professional_id: str) -> bool:
    """Authorise a professional; False when they already were."""
    if record_access(uow, patient_id, professional_id).authorized:
        return False
    uow.connection.execute(insert(authorizations).values(
        patient_id=patient_id, professional_id=professional_id,
        granted_at=dt.datetime.now(dt.UTC)))
    return True


def revoke(uow: UnitOfWork, patient_id: str, professional_id: str) -> bool:
    result = uow.connection.execute(delete(authorizations).where(and_(
        authorizations.c.patient_id == patient_id,
        authorizations.c.professional_id == professional_id)))
    return bool(result.rowcount)


def authorized_professionals(uow: UnitOfWork, patient_id: str) -> list[Authorization]:
    return [_authorization(row) for row in uow.connection.execute(
        select(authorizations).where(authorizations.c.patient_id == patient_id)
        .order_by(authorizations.c.granted_at))]


def authorized_records(uow: UnitOfWork, professional_id: str) -> list[Authorization]:
    return [_authorization(row) for row in uow.connection.execute(
        select(authorizations).where(authorizations.c.professional_id == professional_id)
        .order_by(authorizations.c.granted_at))]
