"""Versions in stored-query answers: the Metadata Update option's $MetadataLevel and
$XDSAssociationStatus (ITI TF-2a 3.18.4.1.2.3.5.1, MU supplement).

"The default value of $MetadataLevel is 1. If $MetadataLevel is 1, the Document Registry shall
not return the following metadata patterns in the Stored Query response: DocumentEntry and
Folder objects that are not the latest version, [...] Folder objects that have availabilityStatus
of [...] Deprecated, Association objects that have availabilityStatus of [...] Deprecated."
"Stored Query requests coded with $MetadataLevel value of 2 shall return without the above
restrictions as is appropriate for the individual Stored Query and its other parameters."
(ITI TF-2a 3.18.4.1.2.3.5.1.1.) A consumer that knows nothing of metadata update thus sees one
current version of each object, as before the option existed; one that asks level 2 sees the
history (NIST 20000d/e: GetFolderAndContents by uniqueId returns every Folder version).

$XDSAssociationStatus lists the association statuses a query returns (absent: every status the
level allows). Versions are found across patients: an update may move a DocumentEntry or Folder
to another patient (update_versions.py), and all versions share the uniqueId object_index holds.

Not done: the level 1 rule on DocumentEntries whose documentAvailability is Offline (this
registry keeps that attribute in the entry's XML only; no NIST test of the kit sets it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from sqlalchemy import Connection
from sqlalchemy.engine import Row

from ..model import vocabulary as v
from ..store import registry_store as store
from ..validation.errors import ErrorCode, RegistryFailure, error
from .query_args import QueryArgs
from .query_result import QueryResult

LEVELS = (1, 2)


def metadata_level(args: QueryArgs) -> int:
    """1 (the default) or 2; another value is the caller's mistake, said precisely."""
    level = int(args.value("$MetadataLevel") or 1)
    if level not in LEVELS:
        raise RegistryFailure([error(ErrorCode.REGISTRY_ERROR,
                                     f"{args.query.name}: $MetadataLevel {level} is not 1 or 2 "
                                     "(ITI TF-2a 3.18.4.1.2.3.5.1.1)", "$MetadataLevel")])
    return level


def association_filter(args: QueryArgs) -> Callable[[Row], bool]:
    """Which associations the query may return: not Deprecated at level 1, and of a status
    $XDSAssociationStatus lists when given."""
    listed = set(args.values("$XDSAssociationStatus"))
    level = metadata_level(args)

    def shown(row: Row) -> bool:
        if level == 1 and row.status == v.DEPRECATED:
            return False
        return not listed or row.status in listed

    return shown


def versions_of(connection: Connection, kind: str, rows: Iterable[Row]) -> list[Row]:
    """Every version of these DocumentEntries or Folders (their logicalIds), in whichever
    patient's record each version is."""
    rows = list(rows)
    if not rows:
        return []
    lids = sorted({row.logical_id or row.entry_uuid for row in rows})
    patients = {entry.patient_id for entry in
                store.find_by_unique_ids(connection, {row.unique_id for row in rows}, kind)}
    return [version for patient in sorted(patients)
            for version in store.object_rows(connection, kind, patient, lids, by="logical_id")]


def _number(row: Row) -> int:
    return int(row.version or "1")


def not_latest(connection: Connection, kind: str, rows: list[Row]) -> set[str]:
    """The entryUUIDs of these rows of which a later version exists. Only a Deprecated row can
    be one: a new version deprecates the one it follows, and only the latest version's status
    changes (update.py), so an answer without Deprecated rows costs nothing here."""
    candidates = [row for row in rows if row.status == v.DEPRECATED]
    if not candidates:
        return set()
    by_patient: dict[str, list[str]] = {}
    for row in candidates:
        by_patient.setdefault(row.patient_id, []).append(row.entry_uuid)
    full = [row for patient, uuids in by_patient.items()      # Find* rows are lean
            for row in store.object_rows(connection, kind, patient, uuids)]
    latest: dict[str, int] = {}
    for version in versions_of(connection, kind, full):
        lid = version.logical_id or version.entry_uuid
        latest[lid] = max(latest.get(lid, 0), _number(version))
    return {row.entry_uuid for row in full
            if _number(row) < latest.get(row.logical_id or row.entry_uuid, 0)}


def hidden_at_level(connection: Connection, kind: str, rows: list[Row], level: int) -> set[str]:
    """The rows of `kind` (document or folder) a level 1 answer leaves out."""
    if level != 1 or not rows:
        return set()
    hidden = not_latest(connection, kind, rows)
    if kind == "folder":
        hidden |= {row.entry_uuid for row in rows if row.status == v.DEPRECATED}
    return hidden


def level_view(connection: Connection, result: QueryResult, args: QueryArgs) -> QueryResult:
    """The answer as $MetadataLevel and $XDSAssociationStatus allow; an association whose end
    was left out goes too (it would name an object the answer does not show)."""
    level = metadata_level(args)
    shown = association_filter(args)
    removed = hidden_at_level(connection, "document", result.documents, level) | \
        hidden_at_level(connection, "folder", result.folders, level)
    associations = [row for row in result.associations if shown(row)]
    removed |= {row.entry_uuid for row in result.associations} - \
        {row.entry_uuid for row in associations}
    while True:
        kept = [row for row in associations
                if row.source not in removed and row.target not in removed]
        if len(kept) == len(associations):
            break
        removed |= {row.entry_uuid for row in associations} - {row.entry_uuid for row in kept}
        associations = kept
    if not removed:
        return result
    return QueryResult(documents=[r for r in result.documents if r.entry_uuid not in removed],
                       submission_sets=result.submission_sets,
                       folders=[r for r in result.folders if r.entry_uuid not in removed],
                       associations=associations)
