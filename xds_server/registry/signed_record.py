"""A record as rule K reads it (registry/signed_state.py): its documents and links, and who
signs what in it. Outside rounds 19f-19j found rule K counting signers and covering sets no
verified signature made; the definitions that answer them live here, each with its attack:
a `signs` counts only into a submission set (`record_state`), from a signature by its codes
(`signature_coded`), into the set holding it (`members_held`), and a set covers only the versions
it registered (`registrar`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..model import vocabulary as v
from ..model.registered import AssociationRecord, DocumentRecord
from ..model.signature_entry import SIGNATURE_CLASS
from ..store import signed_reads
from ..store.database import UnitOfWork
from ..store.signed_reads import Scope, SignedDoc, SignedLink


@dataclass(frozen=True)
class RecordState:
    """One record's documents (without their XML) and the links rule K reads."""

    documents: dict[str, DocumentRecord | SignedDoc]
    links: tuple[AssociationRecord | SignedLink, ...]
    sets: frozenset[str] = frozenset()      # the `signs` targets that are submission sets
    asked: frozenset[str] = frozenset()     # the `signs` targets whose kind was read


def record_state(uow: UnitOfWork, patient: str, documents: dict, links: Iterable,
                 earlier: RecordState | None = None) -> RecordState:
    """The state rule K reads: a `signs` into anything but a submission set or a document
    left out (`earlier`: the state before the change; what it read as a set, or not, stays
    so). Attacks stopped: a `signs` into a Folder, planted while the requirement was off
    (outsider 19f-1), made it a signed holder, and a Folder takes members after signing: a
    document filed into it later counted as covered, and its own signature was then archived
    alone; a `signs` into an id no object had, which a later ITI-57's set then took (19g-1),
    made that set signed the same way. A signature covers its own set's documents (its
    Manifest), never a folder's."""
    links = tuple(links)
    asked, sets = (earlier.asked, earlier.sets) if earlier else (frozenset(), frozenset())
    targets = {a.target for a in links if a.type == v.SIGNS and a.target not in documents}
    sets |= signed_reads.sets_among(uow, patient, targets - asked)
    return RecordState(documents, tuple(a for a in links if a.type != v.SIGNS
                                        or a.target in documents or a.target in sets),
                       sets, asked | targets)


def read_state(uow: UnitOfWork, patient: str, earlier: RecordState | None = None
               ) -> RecordState:
    """The whole record, as rule K reads it."""
    return record_state(uow, patient, *signed_reads.whole_record(uow, patient), earlier)


def scoped_state(uow: UnitOfWork, patient: str, scope: Scope,
                 earlier: RecordState | None = None) -> RecordState:
    return record_state(uow, patient, dict(scope.documents), scope.links.values(), earlier)


def lineage(document: DocumentRecord) -> str:
    return document.logical_id or document.entry_uuid


def signature_coded(document: DocumentRecord | SignedDoc) -> bool:
    """A signature document by its codes, code and codingScheme (signed_reads reads them; a
    record built by hand gives the DMP's classCode)."""
    if isinstance(document, SignedDoc):
        return document.signature
    return document.class_code == SIGNATURE_CLASS.code


def members_held(links: Iterable, lineage_of: dict[str, str]) -> set[tuple[str, str]]:
    """(holder, logicalId) of each HasMember from a set or folder to a document. A `signs`
    counts only from a signature its target holds (IHE DSG: a set's signature is submitted in
    the set). Attack stopped (outside round 19g): a `signs` into signed set A from a CDA of
    another set, planted while nothing refused it, made that CDA A's signer, and A's own
    signature was then archived alone."""
    return {(a.source, lineage_of[a.target]) for a in links if a.type == v.HAS_MEMBER
            and a.target in lineage_of and a.source not in lineage_of}


def registrar(document: DocumentRecord | SignedDoc) -> str | None:
    """The set that registered this version, when the read gives it (a record built by
    hand does not: then any holder counts)."""
    return getattr(document, "submission_set", None)
