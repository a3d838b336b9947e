"""Reads of the Get* stored queries that answer in one statement what took two or three, or that
go with others in one round trip (database.read_together).

A Get* is a few round trips to PostgreSQL where Echo makes none: on a busy machine each is a
chance to lose the core, so these cost less than their SQL suggests (issue 20, branch
getperf5: GetDocuments x10 was 2 statements, 4 with a Deprecated version among its documents;
GetAll 4, 7 with one).
"""

from __future__ import annotations

from collections.abc import Sequence

from ..model.registered import Record, version_number
from ..model.vocabulary import DEPRECATED
from .database import Read, UnitOfWork
from .keys import encoded, unpack_id
from .registry_columns import KIND_CODES, READ_COLUMNS, STATUS_CODES
from .registry_store import _DECODE, _KEY, _MAKERS, _one_of, _read
from .tables import OBJECT_TABLES

# each kind's columns after the patient id, of the table named t (patients has a status too)
_SELECTED = {kind: ", ".join(f"t.{name}" for name in columns[1:])
             for kind, columns in READ_COLUMNS.items()}


def objects_by_id(uow: UnitOfWork, kind: str, by: str, values: Sequence[str],
                  unique_ids: Sequence[str]) -> list[Record]:
    """The objects of `kind` whose `by` column (unique_id or logical_id) is one of `values`, in
    each patient's record where object_index holds one of `unique_ids` for that kind; by
    patient id, then in registration order. What `find_by_unique_ids` then `objects` for each
    patient found give, in one statement (an update may have moved a version to another
    record: every record holding the uniqueId is read)."""
    if not values or not unique_ids or by not in ("unique_id", "logical_id"):
        raise ValueError("objects_by_id reads by unique_id or logical_id, with ids")
    held, held_params = _one_of(uow, "unique_id", sorted(set(unique_ids)))
    wanted, wanted_params = _one_of(uow, by, list(values))
    make, decode = _MAKERS[kind], _DECODE[kind]
    # the patient id by a probe of the patients' key a row (a join planned a scan of them)
    rows = _read(uow, "SELECT (SELECT p.patient_id FROM patients p WHERE p.patient_key = "
                      f"t.patient_key), {_SELECTED[kind]} FROM {OBJECT_TABLES[kind].name} t "
                      "WHERE t.patient_key IN (SELECT i.patient_key FROM "
                      f"object_index i WHERE i.{held} AND i.kind = ?) AND t.{wanted} "
                      "ORDER BY t.registered_seq",
                 [*held_params, *encoded("kind", [kind]), *wanted_params])
    records = [make(decode(row[0], row[1:])) for row in rows]
    records.sort(key=lambda record: record.patient_id)    # stable: registration order kept
    return records


def superseded_read(uow: UnitOfWork, kind: str, patient_id: str,
                    uuids: Sequence[str] | None = None) -> Read:
    """Which of one patient's DocumentEntries or Folders (these, or, `uuids` None, every one
    that is Deprecated: only those can have a later version) have a later version, in whichever
    patient's record it is: versions share the logicalId and the uniqueId (an update cannot
    change it: registry/update_versions.py), and object_index holds the uniqueId of every
    version for every patient. Makes the set of their entryUUIDs. One statement where
    query_versions read the records whole, then the index, then every version's whole row."""
    table = OBJECT_TABLES[kind].name
    # the status and the kind are the registry's own small codes, written into the SQL: with
    # them as parameters PostgreSQL planned every execution anew (its generic plan's estimate
    # never beat the custom ones': 0 generic plans in 55 GetAll, ~0.5 ms of planning each)
    kind_code = int(KIND_CODES[kind])
    if uuids is None:
        condition, params = f"t.status = {int(STATUS_CODES[DEPRECATED])}", []
    else:
        condition, params = _one_of(uow, "entry_uuid", list(uuids))
        condition = "t." + condition
    # the versions by a probe of (patient_key, logical_id) in each record found (a join
    # planned a scan of the record's every row); a version's number as query_versions reads it
    sql = (f"SELECT t.entry_uuid, t.version, (SELECT max(CAST(COALESCE(v.version, '1') AS "
           f"INTEGER)) FROM {table} v WHERE v.logical_id = t.logical_id AND v.patient_key IN "
           "(SELECT i.patient_key FROM object_index i WHERE i.unique_id = t.unique_id AND "
           f"i.kind = {kind_code})) FROM {table} t WHERE t.patient_key = {_KEY} AND {condition}")
    if uow.dialect == "postgresql":
        sql = sql.replace("?", "%s")
    return Read(sql, [patient_id, *params], _later)


def _later(rows: list[tuple]) -> set[str]:
    return {unpack_id(uuid) for uuid, own, latest in rows
            if latest is not None and latest > int(own or "1")}


def superseded_among(records: Sequence[Record]) -> set[str]:
    """Which of these DocumentEntry or Folder records have a later version among them: what
    superseded_read answers when `records` hold every version of each (objects_by_id's read
    by uniqueId or logicalId does, before any record is left out)."""
    latest: dict[str, int] = {}
    for record in records:
        lid = record.logical_id or record.entry_uuid
        latest[lid] = max(latest.get(lid, 0), version_number(record.version))
    return {record.entry_uuid for record in records if record.status == DEPRECATED
            and version_number(record.version) < latest[record.logical_id or record.entry_uuid]}
