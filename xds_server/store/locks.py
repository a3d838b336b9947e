"""Writers of one patient's record, or of one uniqueId, take turns.

Every registry write checks the registry, then writes (a new version follows the latest one, a
replacement needs an Approved target, a status change names the status it changes, a uniqueId
must be new). Under READ COMMITTED two such transactions can both check the same state and
both write: two "version 2" of one document, both Approved, then no update by uniqueId works
again (found by an outsider with 12 parallel PATCHes, and 4 parallel SOAP ITI-57). The attack
or accident this stops: any two concurrent writes of one record deciding on the same stale
state (versions, replacements, status changes, a merge racing a submission into the merged
record, one uniqueId registered twice).

So the writer takes, before its first read, a transaction-scoped lock on the record's patient
and on every uniqueId it registers: the second writer waits for the first to commit and then
checks the state the first left. On PostgreSQL these are advisory locks (no row, no table
lock; readers never wait); they are taken in one sorted order, so two writers never wait for
each other in a cycle. SQLite's writers already take turns: `Database.transaction` begins
IMMEDIATE there, so a writer holds the database from its first read to its commit.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from .database import UnitOfWork, fetch, param_mark


def _key(namespace: bytes, value: str) -> int:
    """A signed 64-bit lock key (PostgreSQL's bigint); a collision only makes two writers of
    unrelated records take turns."""
    digest = hashlib.blake2b(namespace + value.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def lock_records(uow: UnitOfWork, patients: Iterable[str],
                 unique_ids: Iterable[str] = ()) -> None:
    """Wait for, then hold until commit, the right to write these patients' records and to
    register these uniqueIds."""
    if uow.dialect != "postgresql":
        return
    keys = sorted({_key(b"patient\0", p) for p in patients if p}
                  | {_key(b"uid\0", u) for u in unique_ids if u})
    if not keys:
        return
    mark = param_mark(uow.connection)
    # unnest keeps the array's (sorted) order: the locks are taken in it
    fetch(uow.connection, f"SELECT pg_advisory_xact_lock(k) FROM unnest({mark}::bigint[]) "
                          "AS k", [keys])
