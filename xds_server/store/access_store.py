"""What patients decided about access to their record (authorisations, oppositions to
emergency access), the facts about documents the policy needs, and the audit trail."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import Connection, and_, delete, insert, select, update
from sqlalchemy.engine import Row

from ..security.access import DocumentFacts, RecordAccess
from ..security.principal import Principal
from .database import fetch, param_mark
from .registry_store import object_rows
from .tables import audit_events, authorizations, object_values, patients


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


def _has(row: Row, column: str) -> bool:
    try:
        getattr(row, column)
    except (AttributeError, KeyError):   # SQLAlchemy's NoSuchColumnError is a KeyError
        return False
    return True


def facts_of(row: Row) -> DocumentFacts:
    """A document row's policy facts (columns kept at registration, migration 0004)."""
    return DocumentFacts(row.status, frozenset((row.visibility_codes or "").split()),
                         frozenset((row.author_ids or "").split()))


def document_facts(connection: Connection, patient_id: str,
                   documents: Sequence[Row]) -> dict[str, DocumentFacts]:
    """Visibility codes and author ids of registered documents, by entryUUID (rows that do not
    carry the columns, such as lean Find* rows, are read again)."""
    if documents and not _has(documents[0], "author_ids"):
        documents = store_rows(connection, patient_id, [row.entry_uuid for row in documents])
    return {row.entry_uuid: facts_of(row) for row in documents}


def access_and_facts(connection: Connection, patient_id: str, professional_id: str,
                     documents: Sequence[Row]) -> tuple[RecordAccess, dict[str, DocumentFacts]]:
    return (record_access(connection, patient_id, professional_id),
            document_facts(connection, patient_id, documents))


def authors_of(connection: Connection, patient_id: str,
               uuids: Sequence[str]) -> dict[str, frozenset[str]]:
    """The national ids of the authors of these documents and submission sets (an author
    removes what they wrote); an object with no author, or of another kind, is absent."""
    found = {row.entry_uuid: frozenset((row.author_ids or "").split())
             for row in object_rows(connection, "document", patient_id, list(uuids))}
    rest = [uuid for uuid in uuids if uuid not in found]
    if rest:
        rows = connection.execute(select(object_values.c.entry_uuid, object_values.c.value)
                                  .where(and_(object_values.c.patient_id == patient_id,
                                              object_values.c.kind == "author_person",
                                              object_values.c.entry_uuid.in_(rest))))
        sets: dict[str, set[str]] = {}
        for row in rows:
            sets.setdefault(row.entry_uuid, set()).add(row.value.split("^", 1)[0])
        found.update({uuid: frozenset(ids - {""}) for uuid, ids in sets.items()})
    return found


# quoted: "transaction" is a keyword in SQLite
AUDIT_COLUMNS = ", ".join(f'"{name}"' for name in (
    "at", "request_id", "transaction", "action", "outcome", "subject_id", "role",
    "structure_id", "purpose_of_use", "patient_id", "documents", "client_address",
    "client_subject", "endpoint", "detail", "client_serial"))


def audit_many(connection: Connection, records: Sequence[tuple]) -> None:
    """Several audit records in one statement: (principal, action, outcome, patient_id,
    documents, transaction[, at]) each; `at`, when the record was queued, defaults to now.
    On PostgreSQL a batch goes by COPY: a read audit per query is most of what the database
    writes, and a row copied costs it a fraction of an INSERT executed."""
    if not records:
        return
    rows = [_audit_values(connection, *record) for record in records]
    driver = connection.connection.driver_connection
    if connection.dialect.name == "postgresql" and not driver.pgconn.pipeline_status:
        # (a registration writes its own record inside its pipeline, where COPY cannot run)
        with driver.cursor() as cursor, cursor.copy(
                f"COPY audit_events ({AUDIT_COLUMNS}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    mark = param_mark(connection)
    connection.exec_driver_sql(f"INSERT INTO audit_events ({AUDIT_COLUMNS}) VALUES "
                               f"({', '.join([mark] * len(rows[0]))})", rows)


def _audit_values(connection: Connection, principal: Principal, action: str, outcome: str,
                  patient_id: str | None, documents: Sequence[str], transaction: str,
                  at: dt.datetime | None = None, detail: str = "") -> tuple:
    moment = at or dt.datetime.now(dt.UTC)
    stored = moment if connection.dialect.name == "postgresql" else \
        moment.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")  # SQLAlchemy's
    return (stored, principal.request_id or "-", principal.transaction or transaction or "-",
            action, outcome, principal.subject_id, principal.role, principal.structure_id,
            principal.purpose_of_use, patient_id, " ".join(dict.fromkeys(documents)),
            principal.client_address[:64], principal.client_subject[:256],
            principal.endpoint[:256], detail, principal.client_serial[:64])


def audit(connection: Connection, principal: Principal, action: str, outcome: str,
          patient_id: str | None, documents: Sequence[str] = (), transaction: str = "",
          detail: str = "") -> None:
    """One audit record: who (the principal, its request and transaction), did what (C, R, U,
    D) to which patient's documents, with which outcome; `detail` the other objects the
    transaction's audit message names (submission_set=uniqueId, query=id)."""
    audit_many(connection, [(principal, action, outcome, patient_id, documents, transaction,
                             None, detail)])


def audit_trail(connection: Connection, patient_id: str | None = None,
                since: dt.datetime | None = None, until: dt.datetime | None = None,
                last: int | None = None) -> list[Row]:
    """Audit records in time order; with `last`, only the most recent `last` of them."""
    query = select(audit_events)
    if patient_id is not None:
        query = query.where(audit_events.c.patient_id == patient_id)
    if since is not None:
        query = query.where(audit_events.c.at >= since)
    if until is not None:
        query = query.where(audit_events.c.at < until)
    if last is None:
        return list(connection.execute(query.order_by(audit_events.c.at, audit_events.c.id)))
    newest = connection.execute(query.order_by(audit_events.c.at.desc(),
                                               audit_events.c.id.desc()).limit(last))
    return list(reversed(list(newest)))


def store_rows(connection: Connection, patient_id: str, uuids: Sequence[str]) -> list[Row]:
    return object_rows(connection, "document", patient_id, list(uuids))
