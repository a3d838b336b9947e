"""The facts about documents the access decision needs, read from the registry's rows."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, and_, select
from sqlalchemy.engine import Row

from ..model.audit import Caller
from ..model.facts import DocumentFacts, RecordAccess
from . import audit_store, records_store
from .database import UnitOfWork
from .registry_store import object_rows
from .tables import object_values


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


def record_access(connection: Connection, patient_id: str, professional_id: str) -> RecordAccess:
    return records_store.record_access(UnitOfWork(connection), patient_id, professional_id)


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


def audit(connection: Connection, caller: Caller, action: str, outcome: str,
          patient_id: str | None, documents: Sequence[str] = (), transaction: str = "",
          detail: str = "") -> None:
    """audit_store.record within the registry's connection."""
    audit_store.record(UnitOfWork(connection), caller, action, outcome, patient_id, documents,
                       transaction, detail)


def store_rows(connection: Connection, patient_id: str, uuids: Sequence[str]) -> list[Row]:
    return object_rows(connection, "document", patient_id, list(uuids))
