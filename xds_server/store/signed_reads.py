"""Rule K's reads (registry/signed_state.py): the few columns it uses, as plain tuples.

Outsider 19d measured rule K at x7 an ITI-57 on a record of 2,000 documents: it read the whole
record twice as full records, and decoding them (every identifier, code and word set) was most
of it. Here it reads six columns of documents and five of the associations it uses
(HasMember, signs, RPLC, XFRM_RPLC), and, given what a change touches, only the part of the
record connected to it (`closure`), a few indexed reads whatever the record's size.

The part read: starting from the ids given (documents, logicalIds, submission sets, folders,
associations), every version of each logicalId reached, the ends of each HasMember, `signs`
and replacement touching a document reached, the `signs` into each holder (submission set,
folder) reached, and the members of a holder that is signed (a `signs` into it) or is in
`expand` (one the change is about to sign). An unsigned holder's members are neither followed
nor read, even from a holder given (outsider 19e, E8: a new version of a document filed in a
folder of 760 documents read the folder's whole membership, x16 an ITI-57): rule K counts a
membership only as a signed set's (`_History.signed`, and `signer_rank` 0 for every other
holder in `_covered`), so an unsigned holder's other members change no finding on the
documents read. Its id still counts as read (`Scope.seen`): the HasMember the change writes
from it is read by its document end. Rule K's findings on a document depend only on what is
connected to it this way, so on the part read they are the whole record's
(tests/test_signed_state_scope.py compares both on random records, with folders).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from ..model import vocabulary as v
from ..model.signature_entry import SIGNATURE_CLASS, SIGNATURE_FORMATS
from .database import Read, UnitOfWork, read_together
from .keys import ASSOCIATION_TYPE, STATUS, pack_id, unpack_digest, unpack_id
from .registry_columns import ASSOCIATION_TYPE_CODES

LINK_TYPES = frozenset({v.HAS_MEMBER, v.SIGNS, v.RPLC, v.XFRM_RPLC})
_LINK_CODES = ", ".join(str(ASSOCIATION_TYPE_CODES[t]) for t in sorted(LINK_TYPES))
_SIGNS, _HAS_MEMBER = ASSOCIATION_TYPE_CODES[v.SIGNS], ASSOCIATION_TYPE_CODES[v.HAS_MEMBER]
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
    signature: bool = False     # coded as one: code and codingScheme (_SIGNATURE_CODED)
    submission_set: str | None = None   # the set that registered this version


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




def _coded(column: str, code: str, scheme: str) -> str:
    """`column` holds this code under this codingScheme (a scheme is stored by its key in
    code_schemes: an uncorrelated subquery, read once a statement). Our own constants."""
    assert "'" not in code + scheme
    return (f"({column}_code = '{code}' AND {column}_scheme = (SELECT scheme_key FROM "
            f"code_schemes WHERE scheme = '{scheme}'))")


# a signature document by its codes, code AND scheme, as registration and rule H read them
# (model/signature_entry.claims_to_be_signature): outside round 19h, 19h-1, a CDA with DSG's
# formatCode under another scheme was registered as a CDA and read here as a signature
_SIGNATURE_CODED = "CASE WHEN " + " OR ".join(
    [_coded("class", SIGNATURE_CLASS.code, SIGNATURE_CLASS.scheme),
     *(_coded("format", code, scheme) for code, scheme in sorted(SIGNATURE_FORMATS))]
) + " THEN 1 ELSE 0 END"
_DOC_COLUMNS = ("entry_uuid", "logical_id", "version", "status", "hash", "class_code",
                _SIGNATURE_CODED, "submission_set")
_LINK_COLUMNS = ("entry_uuid", "type", "source", "target", "status")
_DOC_SELECT = ", ".join((*_DOC_COLUMNS, "registered_seq"))
# the same few ids come back many times (a set's id in each of its links): read once each
_id = functools.lru_cache(maxsize=1 << 14)(unpack_id)
_STATUS, _TYPE = STATUS.names, ASSOCIATION_TYPE.names


def _docs(rows: list[tuple]) -> list[tuple[int, SignedDoc]]:
    """(registration order, document): rule K names a lineage's versions in that order."""
    return [(seq, SignedDoc(_id(uuid), lid and _id(lid), version, _STATUS.get(status),
                            digest and unpack_digest(digest), class_code, bool(signature),
                            package and _id(package)))
            for uuid, lid, version, status, digest, class_code, signature, package, seq
            in rows]


def in_order(documents: Iterable[tuple[int, SignedDoc]]) -> dict[str, SignedDoc]:
    return {d.entry_uuid: d for _, d in sorted(documents, key=lambda item: item[0])}


def _links(rows: list[tuple]) -> list[SignedLink]:
    return [SignedLink(_id(uuid), _TYPE.get(kind), _id(source), _id(target),
                       _STATUS.get(status)) for uuid, kind, source, target, status in rows]


def _held_links(rows: list[tuple]) -> list[tuple[int, SignedLink]]:
    """(how it was read, link): 1 as a link of a signed holder of the ids, 2 named by
    them, 0 with an end among them."""
    return [(held, link) for held, link in zip((row[-1] for row in rows),
                                                _links([row[:-1] for row in rows]),
                                                strict=True)]


def _read(uow: UnitOfWork, sql: str, params: Sequence[object], make) -> Read:
    return Read(sql.replace("?", "%s") if uow.dialect == "postgresql" else sql, params, make)


def _one_of(uow: UnitOfWork, column: str, packed: list[bytes]) -> tuple[str, list]:
    """`column` (an identifier's) is one of these ids (in their stored form: store/keys.py)."""
    if uow.dialect == "postgresql":
        return f"{column} = ANY(?)", [packed]
    return f"{column} IN ({', '.join('?' * len(packed))})", packed


def whole_record(uow: UnitOfWork, patient: str
                 ) -> tuple[dict[str, SignedDoc], list[SignedLink]]:
    """Every document of the record and its associations of LINK_TYPES: one round trip."""
    documents, links = read_together(uow, [
        _read(uow, f"SELECT {_DOC_SELECT} FROM document_entries "
                   f"WHERE patient_key = {_KEY}", [patient], _docs),
        _read(uow, f"SELECT {', '.join(_LINK_COLUMNS)} FROM associations "
                   f"WHERE patient_key = {_KEY} AND type IN ({_LINK_CODES})", [patient], _links)])
    return in_order(documents), links


def has_signs(uow: UnitOfWork, patient: str) -> bool:
    """Whether the record holds a `signs` (rule K's findings on a part of it that holds none:
    signed_state._broken)."""
    found = read_together(uow, [_read(uow, f"SELECT 1 FROM associations WHERE patient_key = "
                                           f"{_KEY} AND type = {_SIGNS} LIMIT 1", [patient],
                                      list)])
    return bool(found[0])


def sets_among(uow: UnitOfWork, patient: str, ids: Iterable[str]) -> frozenset[str]:
    """Which of these ids are submission sets of the record: a `signs` into anything else (a
    folder, an association, an id no object has yet) signs nothing rule K counts
    (signed_record.record_state)."""
    packed = [pack_id(i) for i in sorted(set(ids))]
    if not packed:
        return frozenset()
    reads = []
    for start in range(0, len(packed), _CHUNK):
        where, params = _one_of(uow, "entry_uuid", packed[start:start + _CHUNK])
        reads.append(_read(uow, f"SELECT entry_uuid FROM submission_sets WHERE patient_key = "
                                f"{_KEY} AND {where}", [patient, *params],
                           lambda rows: [_id(row[0]) for row in rows]))
    return frozenset(i for found in read_together(uow, reads) for i in found)


@dataclass
class Scope:
    """The part of a record `closure` read: its documents and links (LINK_TYPES) by
    entryUUID, the holders whose members it read, the other associations it was given
    (their type), and every id it read the links of."""

    documents: dict[str, SignedDoc] = field(default_factory=dict)
    links: dict[str, SignedLink] = field(default_factory=dict)
    holders: set[str] = field(default_factory=set)
    others: dict[str, str] = field(default_factory=dict)
    seen: set[str] = field(default_factory=set)     # the ids whose links it read

    @property
    def nodes(self) -> set[str]:
        return set(self.documents) | self.holders


def _step_reads(uow: UnitOfWork, patient: str, ids: list[str], named: bool,
                expand: set[str]) -> list[Read]:
    """This step's two reads: every version of the lineages the ids name or hold (by
    logicalId, or by a version's entryUUID), and the associations of LINK_TYPES with an end
    among the ids (with `named`, also the associations the ids name, of any type); a
    HasMember by its source only from an id that is signed, a document or in `expand` (an
    unsigned holder's membership: not read, module docstring). Each part by one indexed
    column, joined by UNION ALL: an OR of two made SQLite scan the record."""
    reads = []
    doc_select = f"SELECT {_DOC_SELECT} FROM document_entries WHERE patient_key = {_KEY} AND "
    link_select = f"SELECT {', '.join(_LINK_COLUMNS)}, %d FROM associations WHERE " \
                  f"patient_key = {_KEY} AND "
    for start in range(0, len(ids), _CHUNK):
        chunk = [pack_id(i) for i in ids[start:start + _CHUNK]]
        by_lid, lid_params = _one_of(uow, "logical_id", chunk)
        by_uuid, uuid_params = _one_of(uow, "entry_uuid", chunk)
        by_source, source_params = _one_of(uow, "source", chunk)
        by_target, target_params = _one_of(uow, "target", chunk)
        reads.append(_read(
            uow, f"{doc_select}{by_lid} UNION ALL {doc_select}logical_id IN (SELECT "
                 f"logical_id FROM document_entries WHERE patient_key = {_KEY} AND {by_uuid})",
            [patient, *lid_params, patient, patient, *uuid_params], _docs))
        typed = f" AND type IN ({_LINK_CODES})"
        # a HasMember by its source: from a signed id, a document, or one to expand
        given = [pack_id(i) for i in ids[start:start + _CHUNK] if i in expand]
        by_given, given_params = _one_of(uow, "source", given) if given else ("0 = 1", [])
        members = (f" AND (type <> {_HAS_MEMBER} OR source IN (SELECT target FROM associations"
                   f" WHERE patient_key = {_KEY} AND type = {_SIGNS} AND {by_target}) OR "
                   f"source IN (SELECT entry_uuid FROM document_entries WHERE patient_key = "
                   f"{_KEY} AND {by_uuid}) OR {by_given})")
        # and the links of the signed holders of the ids, a step early (those it follows)
        holders = (f"SELECT target FROM associations WHERE patient_key = {_KEY} AND type = "
                   f"{_SIGNS} AND target IN (SELECT source FROM associations WHERE "
                   f"patient_key = {_KEY} AND type = {_HAS_MEMBER} AND {by_target})")
        reads.append(_read(
            uow, f"{link_select % 0}{by_source}{typed}{members} UNION ALL {link_select % 0}"
                 f"{by_target}{typed} UNION ALL {link_select % 1}source IN ({holders}){typed}"
                 + (f" UNION ALL {link_select % 2}{by_uuid}" if named else ""),
            [patient, *source_params, patient, *target_params, patient, *uuid_params,
             *given_params, patient, *target_params, patient, patient, patient,
             *target_params, *((patient, *uuid_params) if named else ())], _held_links))
    return reads


def closure(uow: UnitOfWork, patient: str, start: Iterable[str],
            expand: Iterable[str] = ()) -> Scope:
    """The part of `patient`'s record connected to the ids `start` (module docstring): one
    round trip a step, a step for each link of the longest path from them (4 for a version
    of a signed set's document). The holders in `expand` have their members read, signed
    or not (a holder the change signs, or one read signed before it)."""
    scope, expand = Scope(), set(expand)
    ordered: list[tuple[int, SignedDoc]] = []
    seen: set[str] = set()
    pending, first = set(start), True
    while pending - seen:
        ids = sorted(pending - seen)
        seen.update(ids)
        pending = set()
        found = read_together(uow, _step_reads(uow, patient, ids, first, expand))
        first = False
        documents = [d for rows in found[0::2] for d in rows]
        signed_holders = {a.source for rows in found[1::2] for how, a in rows if how == 1}
        named = {a.entry_uuid for rows in found[1::2] for how, a in rows if how == 2}
        links = []
        for link in {a.entry_uuid: a for rows in found[1::2] for _, a in rows}.values():
            if link.type in LINK_TYPES:
                links.append(link)
            else:       # an association the ids name, of a type rule K does not read
                scope.others[link.entry_uuid] = link.type
                pending.update((link.source, link.target))
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
            if link.type == v.HAS_MEMBER and link.source not in scope.documents and \
                    link.entry_uuid not in named:
                if link.source in step and link.source not in expanded:
                    continue        # an unsigned holder's member: not followed from it
                if link.source not in step and link.source not in signed_holders | expand:
                    continue        # an unsigned holder of a member: nothing to follow
            pending.update((link.source, link.target))
    scope.documents = in_order(ordered)
    scope.seen = seen
    return scope
