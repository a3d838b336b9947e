"""What patients decided about access to their record (authorisations, oppositions to
emergency access), the facts about documents the policy needs, and the audit trail."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import Connection, and_, delete, insert, select, update
from sqlalchemy.engine import Row

from ..security.principal import Principal
from ..security.visibility import VISIBILITY_SYSTEM, DocumentFacts, RecordAccess
from .database import fetch, param_mark
from .tables import audit_events, authorizations, patients


def record_access(connection: Connection, patient_id: str, professional_id: str) -> RecordAccess:
    """One round trip, plain SQL: every query by an authenticated caller asks it."""
    mark = param_mark(connection)
    row = fetch(connection, f"SELECT (SELECT opposed_modes FROM patients WHERE patient_id = "
                            f"{mark}) AS opposed, (SELECT COUNT(*) FROM authorizations WHERE "
                            f"patient_id = {mark} AND professional_id = {mark}) AS granted",
                [patient_id, patient_id, professional_id])[0]
    return RecordAccess(bool(row.granted), frozenset((row.opposed or "").split()))


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


def access_and_facts(connection: Connection, patient_id: str, professional_id: str,
                     documents: Sequence[Row]) -> tuple[RecordAccess, dict[str, DocumentFacts]]:
    """record_access and document_facts in one round trip (the policy of every query by an
    authenticated caller): the record's row first, then the documents' values."""
    mark = param_mark(connection)
    uuids = [row.entry_uuid for row in documents]
    in_list = ", ".join([mark] * len(uuids)) or "NULL"
    rows = fetch(connection,
                 "SELECT '' AS entry_uuid, 'record' AS kind, COALESCE((SELECT opposed_modes FROM "
                 f"patients WHERE patient_id = {mark}), '') AS value, CAST((SELECT COUNT(*) "
                 f"FROM authorizations WHERE patient_id = {mark} AND professional_id = {mark}) "
                 "AS VARCHAR(8)) AS scheme "
                 "UNION ALL SELECT entry_uuid, kind, value, scheme FROM object_values "
                 f"WHERE patient_id = {mark} AND kind IN ('confidentiality_code', "
                 f"'author_person') AND entry_uuid IN ({in_list})",
                 [patient_id, patient_id, professional_id, patient_id, *uuids])
    record = next(row for row in rows if row.kind == "record")
    access = RecordAccess(record.scheme not in ("0", None), frozenset(record.value.split()))
    return access, _facts(documents, [row for row in rows if row.kind != "record"])


def _facts(documents: Sequence[Row], values: Sequence[Row]) -> dict[str, DocumentFacts]:
    codes: dict[str, set[str]] = {row.entry_uuid: set() for row in documents}
    authors: dict[str, set[str]] = {row.entry_uuid: set() for row in documents}
    for row in values:
        if row.kind == "author_person":
            authors[row.entry_uuid].add(row.value.split("^", 1)[0])
        elif row.scheme == VISIBILITY_SYSTEM:
            codes[row.entry_uuid].add(row.value)
    return {row.entry_uuid: DocumentFacts(row.status, frozenset(codes[row.entry_uuid]),
                                          frozenset(authors[row.entry_uuid]))
            for row in documents}


def document_facts(connection: Connection, patient_id: str,
                   documents: Sequence[Row]) -> dict[str, DocumentFacts]:
    """Visibility codes and author ids of registered documents, by entryUUID."""
    uuids = [row.entry_uuid for row in documents]
    if not uuids:
        return {}
    mark = param_mark(connection)
    values = fetch(connection, "SELECT entry_uuid, kind, value, scheme FROM object_values "
                               f"WHERE patient_id = {mark} AND kind IN ('confidentiality_code',"
                               f" 'author_person') AND entry_uuid IN "
                               f"({', '.join([mark] * len(uuids))})", [patient_id, *uuids])
    return _facts(documents, values)


# quoted: "transaction" is a keyword in SQLite
AUDIT_COLUMNS = ", ".join(f'"{name}"' for name in (
    "at", "request_id", "transaction", "action", "outcome", "subject_id", "role",
    "structure_id", "purpose_of_use", "patient_id", "documents"))


def audit(connection: Connection, principal: Principal, action: str, outcome: str,
          patient_id: str | None, documents: Sequence[str] = (), transaction: str = "") -> None:
    """One audit record: who (the principal, its request and transaction), did what (C, R, U,
    D) to which patient's documents, with which outcome."""
    now = dt.datetime.now(dt.UTC)
    at = now if connection.dialect.name == "postgresql" else \
        now.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")  # SQLAlchemy's form
    values = (at, principal.request_id or "-",
              principal.transaction or transaction or "-", action, outcome,
              principal.subject_id, principal.role, principal.structure_id,
              principal.purpose_of_use, patient_id, " ".join(documents))
    mark = param_mark(connection)
    connection.exec_driver_sql(f"INSERT INTO audit_events ({AUDIT_COLUMNS}) VALUES "
                               f"({', '.join([mark] * len(values))})", values)


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
