"""Rule K's reads (registry/signed_state.py): the few columns it uses, as plain tuples.

Outsider 19d measured rule K at x7 an ITI-57 on a record of 2,000 documents: it read the whole
record twice as full records, and decoding them (every identifier, code and word set) was most
of it. Here it reads six columns of documents and five of the associations it uses
(HasMember, signs, RPLC, XFRM_RPLC), and, given what a change touches, only the part of the
record connected to it (`closure`), a few indexed reads whatever the record's size.

The part read: starting from the ids given (documents, logicalIds, submission sets, folders,
associations), every version of each logicalId reached, the ends of each HasMember, `signs`
and replacement touching a document reached, the `signs` into each holder (submission set,
folder) reached, and the members of a holder that is signed (a `signs` into it) or was given.
An unsigned holder's members are not followed (a folder of the whole record would bring the
whole record): its memberships cover nothing and make nothing signed. Rule K's findings on a
document depend only on what is connected to it this way, so on the part read they are the
whole record's (tests/test_signed_state_scope.py compares both on random records).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from ..model import vocabulary as v
from .database import Read, UnitOfWork, read_together
from .keys import decoder, encoded
from .registry_columns import ASSOCIATION_TYPE_CODES

LINK_TYPES = frozenset({v.HAS_MEMBER, v.SIGNS, v.RPLC, v.XFRM_RPLC})
_LINK_CODES = ", ".join(str(ASSOCIATION_TYPE_CODES[t]) for t in sorted(LINK_TYPES))
_KEY = "(SELECT patient_key FROM patients WHERE patient_id = ?)"
_CHUNK = 500      # ids a statement (SQLite's limit on parameters, PostgreSQL's plan size)


class SignedDoc(NamedTuple):
    """A document version as rule K reads it (the attributes of model.DocumentRecord)."""

    entry_uuid: str
    logical_id: str | None
    version: str | None
    status: str
    hash: str | None
    class_code: str | None


class SignedLink(NamedTuple):
    """An association as rule K reads it (the attributes of model.AssociationRecord)."""

    entry_uuid: str
    type: str
    source: str
    target: str
    status: str


class Written(NamedTuple):
    """A registry object a store write inserted, changed or deleted (`how`), in the unit of
    work (UnitOfWork.written); `type`: an inserted association's."""

    patient_id: str
    kind: str
    entry_uuid: str
    how: str                    # INSERTED, CHANGED or DELETED
    type: str | None = None


INSERTED, CHANGED, DELETED = "inserted", "changed", "deleted"


_DOC_COLUMNS = ("entry_uuid", "logical_id", "version", "status", "hash", "class_code")
_LINK_COLUMNS = ("entry_uuid", "type", "source", "target", "status")
_DOC_SELECT = ", ".join((*_DOC_COLUMNS, "registered_seq"))
_doc_row = decoder(_DOC_COLUMNS)
_link_row = decoder(_LINK_COLUMNS)


def _docs(rows: list[tuple]) -> list[tuple[int, SignedDoc]]:
    """(registration order, document): rule K names a lineage's versions in that order."""
    return [(row[-1], SignedDoc(*_doc_row(row)[:-1])) for row in rows]


def in_order(documents: Iterable[tuple[int, SignedDoc]]) -> dict[str, SignedDoc]:
    return {d.entry_uuid: d for _, d in sorted(documents, key=lambda item: item[0])}


def _links(rows: list[tuple]) -> list[SignedLink]:
    return [SignedLink(*_link_row(row)) for row in rows]


def _read(uow: UnitOfWork, sql: str, params: Sequence[object], make) -> Read:
    return Read(sql.replace("?", "%s") if uow.dialect == "postgresql" else sql, params, make)


def _one_of(uow: UnitOfWork, column: str, values: Sequence[str]) -> tuple[str, list]:
    if uow.dialect == "postgresql":
        return f"{column} = ANY(?)", [encoded(column, values)]
    return f"{column} IN ({', '.join('?' * len(values))})", list(encoded(column, values))


def whole_record(uow: UnitOfWork, patient: str
                 ) -> tuple[dict[str, SignedDoc], list[SignedLink]]:
    """Every document of the record and its associations of LINK_TYPES: one round trip."""
    documents, links = read_together(uow, [
        _read(uow, f"SELECT {_DOC_SELECT} FROM document_entries "
                   f"WHERE patient_key = {_KEY}", [patient], _docs),
        _read(uow, f"SELECT {', '.join(_LINK_COLUMNS)} FROM associations "
                   f"WHERE patient_key = {_KEY} AND type IN ({_LINK_CODES})", [patient], _links)])
    return in_order(documents), links


@dataclass
class Scope:
    """The part of a record `closure` read: its documents and links (LINK_TYPES) by
    entryUUID, the holders whose members it read, and the other associations it was given
    (their type)."""

    documents: dict[str, SignedDoc] = field(default_factory=dict)
    links: dict[str, SignedLink] = field(default_factory=dict)
    holders: set[str] = field(default_factory=set)
    others: dict[str, str] = field(default_factory=dict)

    @property
    def nodes(self) -> set[str]:
        return set(self.documents) | self.holders


def _step_reads(uow: UnitOfWork, patient: str, ids: list[str], named: bool) -> list[Read]:
    reads = []
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start:start + _CHUNK]
        by_uuid, uuid_params = _one_of(uow, "entry_uuid", chunk)
        by_lid, lid_params = _one_of(uow, "logical_id", chunk)
        by_source, source_params = _one_of(uow, "source", chunk)
        by_target, target_params = _one_of(uow, "target", chunk)
        reads += [
            _read(uow, f"SELECT {_DOC_SELECT} FROM document_entries WHERE "
                       f"patient_key = {_KEY} AND ({by_uuid} OR {by_lid})",
                  [patient, *uuid_params, *lid_params], _docs),
            _read(uow, f"SELECT {', '.join(_LINK_COLUMNS)} FROM associations WHERE "
                       f"patient_key = {_KEY} AND type IN ({_LINK_CODES}) AND "
                       f"({by_source} OR {by_target})",
                  [patient, *source_params, *target_params], _links)]
        if named:       # ids given that name associations, of any type
            reads.append(_read(uow, f"SELECT {', '.join(_LINK_COLUMNS)} FROM associations "
                                    f"WHERE patient_key = {_KEY} AND {by_uuid}",
                               [patient, *uuid_params], _links))
    return reads


def closure(uow: UnitOfWork, patient: str, start: Iterable[str],
            expand: Iterable[str] = ()) -> Scope:
    """The part of `patient`'s record connected to the ids `start` (module docstring): one
    round trip a step, a step for each link of the longest path from them (4 for a version
    of a signed set's document). The holders in `expand` have their members read, signed
    or not."""
    scope, expand = Scope(), set(expand)
    ordered: list[tuple[int, SignedDoc]] = []
    seen: set[str] = set()
    pending, first = set(start), True
    while pending - seen:
        ids = sorted(pending - seen)
        seen.update(ids)
        pending = set()
        found = read_together(uow, _step_reads(uow, patient, ids, first))
        documents = [d for i in range(0, len(found), 2 + first) for d in found[i]]
        links = [a for i in range(1, len(found), 2 + first) for a in found[i]]
        if first:
            named = [a for i in range(2, len(found), 3) for a in found[i]]
            for link in named:
                if link.type in LINK_TYPES:
                    links.append(link)
                else:
                    scope.others[link.entry_uuid] = link.type
                pending.update((link.source, link.target))
        first = False
        ordered += documents
        for _, document in documents:
            scope.documents[document.entry_uuid] = document
            pending.update((document.entry_uuid, document.logical_id or document.entry_uuid))
        step = set(ids)
        signed = {a.target for a in links if a.type == v.SIGNS and a.target in step}
        expanded = {i for i in step - set(scope.documents) if i in signed or i in expand}
        scope.holders |= expanded
        for link in links:
            scope.links[link.entry_uuid] = link
            if link.type == v.HAS_MEMBER and link.source in step and \
                    link.source not in scope.documents and link.source not in expanded:
                continue            # an unsigned holder's member: not followed from it
            pending.update((link.source, link.target))
    scope.documents = in_order(ordered)
    return scope
