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

from ..model import vocabulary as v
from ..model.registered import AssociationRecord, QueryResult, Record
from ..model.registered import version_number as registered_version
from ..model.stored_queries import StoredQuery
from ..store import query_reads
from ..store import registry_store as store
from ..store.database import UnitOfWork, read_together


def association_filter(query: StoredQuery) -> Callable[[AssociationRecord], bool]:
    """Which associations the query may return: not Deprecated at level 1, and of a status
    $XDSAssociationStatus lists when given (the parameter's values: model/stored_queries.py
    holds $MetadataLevel to 1 or 2)."""
    listed = set(getattr(query, "association_statuses", ()))
    level = query.metadata_level

    def shown(row: Record) -> bool:
        if level == 1 and row.status == v.DEPRECATED:
            return False
        return not listed or row.status in listed

    return shown


def versions_of(uow: UnitOfWork, kind: str, rows: Iterable[Record]) -> list[Record]:
    """Every version of these DocumentEntries or Folders (their logicalIds), in whichever
    patient's record each version is."""
    rows = list(rows)
    if not rows:
        return []
    lids = sorted({row.logical_id or row.entry_uuid for row in rows})
    patients = {entry.patient_id for entry in
                store.find_by_unique_ids(uow, {row.unique_id for row in rows}, kind)}
    return [version for patient in sorted(patients)
            for version in store.objects(uow, kind, patient, lids, by="logical_id")]


def version_number(row: Record) -> int:
    return registered_version(row.version)


def not_latest(uow: UnitOfWork, kind: str, rows: list[Record]) -> set[str]:
    """The entryUUIDs of these records of which a later version exists. Only a Deprecated one can
    be one: a new version deprecates the one it follows, and only the latest version's status
    changes (update.py), so an answer without Deprecated records costs nothing here, and one
    with some costs one statement a patient (store/query_reads.py)."""
    by_patient: dict[str, list[str]] = {}
    for row in rows:
        if row.status == v.DEPRECATED:
            by_patient.setdefault(row.patient_id, []).append(row.entry_uuid)
    later: set[str] = set()
    for patient, uuids in by_patient.items():
        read = query_reads.superseded_read(uow, kind, patient, uuids)
        later |= read_together(uow, [read])[0]
    return later


def hidden_at_level(uow: UnitOfWork, kind: str, rows: list[Record], level: int,
                    superseded: set[str] | None = None) -> set[str]:
    """The records of `kind` (document or folder) a level 1 answer leaves out; `superseded`:
    those of `rows` known to have a later version (read with them), else found here."""
    if level != 1 or not rows:
        return set()
    if kind == "folder":     # every Deprecated one, so every older version (a Deprecated one)
        return {row.entry_uuid for row in rows if row.status == v.DEPRECATED}
    if superseded is not None:
        return {row.entry_uuid for row in rows if row.entry_uuid in superseded}
    return not_latest(uow, kind, rows)


def level_view(uow: UnitOfWork, result: QueryResult, query: StoredQuery) -> QueryResult:
    """The answer as $MetadataLevel and $XDSAssociationStatus allow; an association whose end
    was left out goes too (it would name an object the answer does not show)."""
    level = query.metadata_level
    shown = association_filter(query)
    removed = hidden_at_level(uow, "document", result.documents, level, result.superseded) | \
        hidden_at_level(uow, "folder", result.folders, level)
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
                       associations=associations, access=result.access)
