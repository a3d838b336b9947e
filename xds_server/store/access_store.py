"""What patients decided about access to their record (authorisations, oppositions to
emergency access), the facts about documents the policy needs, and the audit trail."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import Connection, and_, delete, insert, select, update
from sqlalchemy.engine import Row

from ..security.principal import Principal
from ..security.visibility import VISIBILITY_SYSTEM, DocumentFacts, RecordAccess
from .tables import audit_events, authorizations, object_values, patients


def record_access(connection: Connection, patient_id: str, professional_id: str) -> RecordAccess:
    authorized = connection.execute(select(authorizations.c.professional_id).where(and_(
        authorizations.c.patient_id == patient_id,
        authorizations.c.professional_id == professional_id))).first() is not None
    opposed = connection.execute(select(patients.c.opposed_modes).where(
        patients.c.patient_id == patient_id)).scalar() or ""
    return RecordAccess(authorized, frozenset(opposed.split()))


def set_opposed_modes(connection: Connection, patient_id: str, modes: Sequence[str]) -> None:
    connection.execute(update(patients).where(patients.c.patient_id == patient_id)
                       .values(opposed_modes=" ".join(sorted(set(modes)))))


def grant(connection: Connection, patient_id: str, professional_id: str) -> bool:
    """Authorise a professional; False when they already were."""
    if record_access(connection, patient_id, professional_id).authorized:
        return False
    connection.execute(insert(authorizations).values(
        patient_id=patient_id, professional_id=professional_id,
        granted_at=dt.datetime.now(dt.UTC)))
    return True


def revoke(connection: Connection, patient_id: str, professional_id: str) -> bool:
    result = connection.execute(delete(authorizations).where(and_(
        authorizations.c.patient_id == patient_id,
        authorizations.c.professional_id == professional_id)))
    return bool(result.rowcount)


def authorized_professionals(connection: Connection, patient_id: str) -> list[Row]:
    return list(connection.execute(select(authorizations).where(
        authorizations.c.patient_id == patient_id).order_by(authorizations.c.granted_at)))


def authorized_records(connection: Connection, professional_id: str) -> list[Row]:
    return list(connection.execute(select(authorizations).where(
        authorizations.c.professional_id == professional_id)
        .order_by(authorizations.c.granted_at)))


def document_facts(connection: Connection, patient_id: str,
                   documents: Sequence[Row]) -> dict[str, DocumentFacts]:
    """Visibility codes and author ids of registered documents, by entryUUID."""
    uuids = [row.entry_uuid for row in documents]
    codes: dict[str, set[str]] = {u: set() for u in uuids}
    authors: dict[str, set[str]] = {u: set() for u in uuids}
    if uuids:
        rows = connection.execute(select(object_values).where(and_(
            object_values.c.patient_id == patient_id, object_values.c.entry_uuid.in_(uuids),
            object_values.c.kind.in_(("confidentiality_code", "author_person")))))
        for row in rows:
            if row.kind == "author_person":
                authors[row.entry_uuid].add(row.value.split("^", 1)[0])
            elif row.scheme == VISIBILITY_SYSTEM:
                codes[row.entry_uuid].add(row.value)
    return {row.entry_uuid: DocumentFacts(row.status, frozenset(codes[row.entry_uuid]),
                                          frozenset(authors[row.entry_uuid]))
            for row in documents}


def audit(connection: Connection, principal: Principal, action: str, outcome: str,
          patient_id: str | None, documents: Sequence[str] = (), transaction: str = "") -> None:
    """One audit record: who (the principal, its request and transaction), did what (C, R, U,
    D) to which patient's documents, with which outcome."""
    connection.execute(insert(audit_events).values(
        at=dt.datetime.now(dt.UTC), request_id=principal.request_id or "-",
        transaction=principal.transaction or transaction or "-", action=action,
        outcome=outcome, subject_id=principal.subject_id, role=principal.role,
        structure_id=principal.structure_id, purpose_of_use=principal.purpose_of_use,
        patient_id=patient_id, documents=" ".join(documents)))


def audit_trail(connection: Connection, patient_id: str | None = None,
                since: dt.datetime | None = None, until: dt.datetime | None = None) -> list[Row]:
    query = select(audit_events).order_by(audit_events.c.at, audit_events.c.id)
    if patient_id is not None:
        query = query.where(audit_events.c.patient_id == patient_id)
    if since is not None:
        query = query.where(audit_events.c.at >= since)
    if until is not None:
        query = query.where(audit_events.c.at < until)
    return list(connection.execute(query))
