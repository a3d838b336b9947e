"""Rule K: the state a record's signed submission sets are left in by every change, checked on
the record as it stands once an ITI-57, an ITI-62 or a replacement (RPLC, XFRM_RPLC) is
written, in the same transaction, while XDS_REQUIRE_SUBMISSION_SIGNATURE is on.

Rules G-J (signed_sets.py) each refuse one route to an unsigned current document; outside
round 19c found five more routes to the same end state (N1-N4, N8), by chaining allowed steps.
So the end state itself is checked, whatever the steps:

K1. Every current version (Approved or Archived) of a signed document is covered. A document
    (a logicalId) is signed when one of its versions is, or was before the change, a member of
    a submission set that a signature document signs, or when it is in a replacement chain
    (RPLC, XFRM_RPLC, either way) with such a document. A version is covered when a version of
    its logicalId with the same hash is a member of a signed set whose signature (its
    logicalId) has a current version at least as available: Approved covers Approved and
    Archived, Archived covers Archived.
    Attacks: N1 a metadata-only ITI-57, then an unsigned correction (HL7 v2 OBX-11 'C')
    replacing the new version; N2 ITI-62 of the Deprecated first version with the signed set's
    links, then of the signature; N3 a new version of the signature without its `signs`
    (AssociationPropagation=no), then deleted or removed; N8 the signature Archived alone while
    its documents stay Approved; F2 the signature deleted or removed alone.
K2. A replacement chain does not join a signature document and a non-signature. Attacks N4: a
    later signed set's CDA replaces an earlier set's signature (the earlier CDA left signed by
    nothing), or a signature replaces a CDA (the report's current version an XAdES document).

Only what the change creates is refused: the state before it is read too, and a record already
out of these rules (registered before the requirement was on) keeps what it had, so its other
documents can still be updated (a K2 fault is keyed by its signature document: a replacement
chain that already joined a signature and a document may grow by a document replacing one of
its documents, outside round 19d F-R2). A signed document or a signature is not moved to
another patient's record (signed_moves.py, rule N).

A refusal names only what the caller may see (outside round 19d, D4): a document hidden from
them (INVISIBLE_PATIENT, MASQUE_PS, a closed record) is, to them, a document that does not
exist, so a refusal over one says "a document of this set" without its ids.

What is read (outsider 19d: two whole-record reads made an ITI-57 of a 2,000-document record
x7 slower): only the columns rule K uses (store/signed_reads.py), and, when the caller says
what the change touches (`watch(..., touches=)`), only the part of the record connected to it,
before and after (`signed_reads.closure`): the findings elsewhere are the same before and after,
so the ones the change creates are all in that part. That the change wrote nothing outside it
is checked from the store's own account of its writes (UnitOfWork.written), not assumed: a
write outside it refuses the change (`_Scoped.outside`).
"""

from __future__ import annotations

import functools
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ..model import vocabulary as v
from ..model.errors import ErrorCode, RegistryFailure, error
from ..model.registered import DocumentRecord
from ..security.principal import SYSTEM, Principal
from ..store import signed_reads
from ..store.database import UnitOfWork
from ..store.signed_reads import DELETED, INSERTED, Scope, SignedDoc
from .query_policy import hidden_objects
from .signed_record import (
    RecordState,
    lineage,
    members_held,
    read_state,
    registrar,
    scoped_state,
    signature_coded,
)

# how available a version is; 0 (absent): Deprecated, Deleted, Submitted or removed
CURRENT_RANK = {v.APPROVED: 2, v.CISIS_ARCHIVED: 1}
RANK_NAMES = {2: "Approved", 1: "Archived"}
log = logging.getLogger("xds_server.registry")
LINK_TYPES = signed_reads.LINK_TYPES
assert frozenset({v.HAS_MEMBER, v.SIGNS, *v.REPLACING}) == LINK_TYPES
REQUIRED = "while XDS_REQUIRE_SUBMISSION_SIGNATURE is on"


@dataclass(frozen=True)
class Finding:
    """One fault rule K found: its text, the documents (entryUUIDs) the text names, and the
    same refusal naming none of them, for a caller some of them are hidden from."""

    text: str
    names: tuple[str, ...]
    unnamed: str


class _History:
    """What the record holds or held (the states before and after the change): which
    logicalIds are signatures, which are signed, which replacement chains join them."""

    def __init__(self, states: Iterable[RecordState]) -> None:
        states = list(states)
        self.lineage_of = {uuid: lineage(d) for s in states for uuid, d in s.documents.items()}
        links = [a for s in states for a in s.links]
        signs = [a for a in links if a.type == v.SIGNS and a.source in self.lineage_of]
        held = members_held(links, self.lineage_of)
        # a lineage is a signature by its first version's codes: the one its registration
        # verified (a later version's, written while the requirement was off, made a CDA a
        # "signature" K1 no longer checked: outside round 19g)
        # the first version is the one whose entryUUID is the logicalId (a registration
        # registers first versions only: register.first_versions); not the earliest written,
        # whose order is the writing host's clock (outside round 19i, 19i-1: a host behind
        # wrote a signature's v2 "before" its v1, and A's `signs` then counted for nothing)
        first: dict[str, DocumentRecord | SignedDoc] = {}
        for state in states:        # else the earliest read (a first version removed)
            for uuid, document in state.documents.items():
                lid = self.lineage_of[uuid]
                if uuid == lid:
                    first[lid] = document
                else:
                    first.setdefault(lid, document)
        self.signatures = {lid for lid, document in first.items() if signature_coded(document)}
        self.first_set = {lid: registrar(document) for lid, document in first.items()}
        signed_targets = {a.target for a in signs if self.signs(a, held)}
        # a HasMember from a document holds nothing (round 19e, E1; refused since, but a
        # record may keep one): DSG's `signs` to each document made it a "signed set"
        registered_by = {uuid: registrar(d) for s in states for uuid, d in s.documents.items()}
        self.signed = {self.lineage_of[a.target] for a in links
                       if a.type == v.HAS_MEMBER and a.source in signed_targets
                       and a.target in self.lineage_of
                       and registered_by[a.target] in (None, a.source)} - self.signatures
        self.chain = _Chains(
            (self.lineage_of[a.source], self.lineage_of[a.target]) for a in links
            if a.type in v.REPLACING and a.source in self.lineage_of
            and a.target in self.lineage_of)


    def signs(self, link, holding: set[tuple[str, str]]) -> bool:
        """Whether this `signs` counts: from a signature document (by its codes, not by the
        link: 19g-1, a CDA's `signs` made it a signature K1 no longer checked) into the set
        that registered its first version and holds it (IHE DSG: a set's signature is
        submitted in it; 19h-3: an ITI-57's set holding a signature's later version, whose
        id an old `signs` of that signature named, counted as signed by it)."""
        signer = self.lineage_of.get(link.source)
        return signer in self.signatures and (link.target, signer) in holding and \
            self.first_set.get(signer) in (None, link.target)


class _Chains:
    """Replacement chains: logicalIds joined by RPLC or XFRM_RPLC, either way (union-find)."""

    def __init__(self, edges: Iterable[tuple[str, str]]) -> None:
        self.parent: dict[str, str] = {}
        for a, b in edges:
            self.parent.setdefault(b, b)
            self.parent[self.root(a)] = self.root(b)

    def root(self, item: str) -> str:
        while (up := self.parent.get(item, item)) != item:
            self.parent[item] = self.parent.get(up, up)
            item = up
        return item

    def groups(self) -> dict[str, set[str]]:
        found: dict[str, set[str]] = defaultdict(set)
        for item in list(self.parent):
            found[self.root(item)].add(item)
        return found


def violations(state: RecordState, history: _History) -> dict[tuple, Finding]:
    """Rule K's findings on `state`, by a key that stays the same while the fault does."""
    found: dict[tuple, Finding] = {}
    lineage_of = history.lineage_of
    by_lineage: dict[str, list[DocumentRecord]] = defaultdict(list)
    for document in state.documents.values():
        by_lineage[lineage(document)].append(document)

    def rank_of(lid: str) -> int:
        return max((CURRENT_RANK.get(d.status, 0) for d in by_lineage.get(lid, ())), default=0)

    groups = history.chain.groups()
    chained = {lid: group for group in groups.values() for lid in group}
    for group in groups.values():
        kinds = group & history.signatures
        if kinds and kinds != group:
            rule = (f"{REQUIRED}: a signature is replaced only by a signature of the same set's "
                    "documents, and a document only by a document (rule K2)")
            for signature in kinds:
                found[("K2", signature)] = Finding(
                    f"a replacement (RPLC, XFRM_RPLC) joins signature document(s) "
                    f"{_ids(kinds)} and other document(s) {_ids(group - kinds)} {rule}",
                    tuple(sorted(group)),
                    f"a replacement (RPLC, XFRM_RPLC) would join a signature document and "
                    f"another document {rule}")
    signed = set(history.signed)
    for lid in history.signed:
        signed |= chained.get(lid, set())
    signed -= history.signatures
    signer_rank: dict[str, int] = defaultdict(int)   # submission set → its best signature
    held = members_held(state.links, lineage_of)
    for link in state.links:
        if link.type == v.SIGNS and link.status == v.APPROVED and history.signs(link, held):
            signer = lineage_of[link.source]
            signer_rank[link.target] = max(signer_rank[link.target], rank_of(signer))
    sets_of: dict[str, list[str]] = defaultdict(list)
    for link in state.links:
        if link.type == v.HAS_MEMBER and link.source not in lineage_of:   # not a document
            sets_of[link.target].append(link.source)
    for lid in sorted(signed):
        for document in by_lineage.get(lid, ()):
            rank = CURRENT_RANK.get(document.status, 0)
            if not rank or _covered(document, rank, by_lineage[lid], sets_of, signer_rank):
                continue
            found[("K1", lid)] = Finding(
                f"document {document.entry_uuid} (logicalId {lid}, version "
                f"{document.version or '1'}) {_K1_RULE.format(RANK_NAMES[rank])}",
                (document.entry_uuid, lid),
                f"a document of this signed submission set {_K1_RULE.format(RANK_NAMES[rank])}")
    return found


_K1_RULE = (
    "would stay {} with no current signature over its bytes " + REQUIRED + ": a document of a "
    "signed submission set is signed by a current signature document (Approved, or Archived "
    "with an Archived document) of a set holding a version of it with the same hash; change "
    "its status with its signature's (in one ITI-57, or the signature's first when making it "
    "available again: a signature you do not see is made available again by its author or an "
    "administrator), replace or remove it together with its signature, or replace it by a "
    "signed set (ITI-41) (rule K1)")


def _covered(document: DocumentRecord, rank: int, versions: list[DocumentRecord],
             sets_of: dict[str, list[str]], signer_rank: dict[str, int]) -> bool:
    """A version with these bytes is held by the signed set that registered it: a set's
    Manifest digests the bytes submitted with it, not those it holds by reference (outside
    round 19h, 19h-2: set X, signed with the requirement off, held A's CDA by reference, and
    A's own signature was then archived alone)."""
    return any(signer_rank.get(holder, 0) >= rank
               for version in versions if version.hash == document.hash
               for holder in sets_of.get(version.entry_uuid, ())
               if registrar(version) in (None, holder))


def _ids(lineages: Iterable[str]) -> str:
    return ", ".join(f"logicalId {lid}" for lid in sorted(lineages))


class Watch:
    """The records' states read before a change; `refusals` reads them after, in the same
    transaction, and says what the change broke (rule K)."""

    def __init__(self, uow: UnitOfWork, patients: Iterable[str], adds_signs: bool) -> None:
        self.before = {patient: read_state(uow, patient) for patient in sorted(set(patients))}
        self.adds_signs = adds_signs

    def refusals(self, uow: UnitOfWork, principal: Principal = SYSTEM) -> list[str]:
        """A record with no `signs` before a change that cannot add one (ITI-57: rule F; ITI-62)
        has nothing signed after it either: not read again."""
        return [text for patient, before in self.before.items()
                if self.adds_signs or any(a.type == v.SIGNS for a in before.links)
                for text in _told(uow, principal, patient, _broken(
                    before, read_state(uow, patient, before)))]


class _Scoped(Watch):
    """Watch of the part of each record a change touches (`touches`: the ids of the objects
    it writes, changes or removes, and of the ends of the associations it writes; `signing`:
    the holders it writes a `signs` into). Of the holders touched, only the signed ones (before
    the change, or by it) have their members read: a folder's, or an ITI-57's own set's, other
    members change no finding (signed_reads' docstring; outsider 19e, E8). A holder signed by
    the change but left out of `signing` has members read after and not before: refused as a
    write outside the part read (`outside`), not missed."""

    def __init__(self, uow: UnitOfWork, patients: Iterable[str], touches: Iterable[str],
                 signing: Iterable[str] = ()) -> None:
        self.touches = set(touches)
        self.scopes = {patient: signed_reads.closure(uow, patient, self.touches, set(signing))
                       for patient in sorted(set(patients))}
        self.states = {patient: scoped_state(uow, patient, scope)
                       for patient, scope in self.scopes.items()}
        uow.written = []

    def refusals(self, uow: UnitOfWork, principal: Principal = SYSTEM) -> list[str]:
        written, uow.written = uow.written or [], None
        texts = []
        for patient, before in self.scopes.items():
            after = signed_reads.closure(uow, patient, self.touches | before.nodes,
                                         before.holders)
            if outside := self.outside(patient, before, after, written):
                # a caller's `touches` short of what it writes: named in the log, not to the
                # client (the object may be one the caller does not see)
                log.error("rule K: the change wrote %s outside the part of the record read "
                          "(watch(touches=) is short of it): refused", outside)
                return [f"the change writes outside the part of the record rule K read "
                        f"{REQUIRED} (an internal error: the change is refused rather than "
                        "left unchecked; rule K)"]
            elsewhere = functools.partial(signed_reads.has_signs, uow, patient)
            texts += _told(uow, principal, patient,
                           _broken(self.states[patient],
                                   scoped_state(uow, patient, after, self.states[patient]),
                                   elsewhere))
        return texts

    @staticmethod
    def outside(patient: str, before: Scope, after: Scope, written: list) -> str | None:
        """The first object this patient's change wrote that rule K's reads left out: then
        the findings on the parts read are not the whole record's."""
        mine = [w for w in written if w.patient_id == patient
                and w.kind in ("document", "association")]  # a set's or folder's own row:
        inserted = {w.entry_uuid for w in mine if w.how == INSERTED}  # not read by rule K
        deleted = {w.entry_uuid for w in mine if w.how == DELETED}
        for w in mine:
            if w.entry_uuid in inserted:    # in the part read after, unless removed since
                read = after
                if w.entry_uuid in deleted or w.entry_uuid in after.documents or \
                        (w.kind == "association" and w.type not in LINK_TYPES):
                    continue
            else:                           # in the part read before
                read = before
                if w.entry_uuid in before.documents or w.entry_uuid in before.others:
                    continue
            link = read.links.get(w.entry_uuid)
            if link is None or not {link.source, link.target} <= read.seen:
                return f"{w.kind} {w.entry_uuid}"   # an association: and both its ends
        new = {w.entry_uuid for w in written if w.patient_id == patient and w.how == INSERTED}
        if (added := sorted(after.nodes - before.nodes - new)):
            return f"object {added[0]}"     # joined to what was read, not read before
        return None


def _told(uow: UnitOfWork, principal: Principal, patient: str,
          findings: list[Finding]) -> list[str]:
    """The findings as this caller may read them: those over documents hidden from them
    without their ids (round 19d, D4), and not one for each such document: one of them
    only when nothing they see is refused too (19e, E5: the number of refusals counted the
    hidden documents)."""
    hidden = hidden_objects(uow, principal, patient,
                            sorted({name for f in findings for name in f.names}))
    shown = [f.text for f in findings if not hidden.intersection(f.names)]
    unnamed = sorted({f.unnamed for f in findings if hidden.intersection(f.names)})
    return shown or unnamed[:1]


def _broken(before: RecordState, after: RecordState,
            elsewhere: Callable[[], bool] | None = None) -> list[Finding]:
    """`elsewhere`, for a part of a record: whether the rest of it holds a `signs`, asked
    only when the part holds none and finds a fault (a K2 over a signature document in an
    unsigned set: the whole record gates it by any `signs` of the record, random record 867 of
    tests/test_signed_state_scope.py)."""
    signed = any(a.type == v.SIGNS for a in (*before.links, *after.links))
    if not signed and elsewhere is None:
        return []   # no signature in this record, before or after: nothing signed
    broken = violations(after, _History([before, after]))
    if not broken or not (signed or elsewhere()):
        return []
    already = violations(before, _History([before]))
    return [finding for key, finding in sorted(broken.items(), key=lambda item: str(item[0]))
            if key not in already]


def touched_by(submission, plan) -> set[str]:
    """What a registration or an update (its `plan`: register._Plan, update_plan.UpdatePlan)
    writes, changes or names: the ids `watch(touches=)` starts from."""
    touches = {submission.submission_set.entry_uuid}
    for versioned in (*submission.documents, *submission.folders):
        touches.update(filter(None, (versioned.entry_uuid, versioned.logical_id)))
    for association in (*submission.associations, *plan.extra_associations):
        touches.update((association.entry_uuid, association.source, association.target))
    touches |= plan.deprecate | plan.deprecate_folders
    touches.update(getattr(plan, "inherited_status", ()), getattr(plan, "moved", ()))
    for change in getattr(plan, "status_changes", ()):
        touches.update((change.association.entry_uuid, change.association.target))
    return touches


def signs_into(submission, plan) -> set[str]:
    """The holders a registration or an update writes a `signs` into (`watch(signing=)`):
    their members are read before the change too."""
    return {a.target for a in (*submission.associations, *plan.extra_associations)
            if a.type == v.SIGNS}


def watch(uow: UnitOfWork, patients: Iterable[str], on: bool, adds_signs: bool = False,
          touches: Iterable[str] | None = None, signing: Iterable[str] = ()
          ) -> Watch | None:
    """The records' states before a change, when rule K applies to it (`on`): every record
    the change writes (an ITI-57 moving a version to another record changes two: the
    signature moved away alone leaves the first record's documents signed by nothing).
    `touches`, `signing` (see _Scoped): only the part of each record connected to them is
    read."""
    if not on:
        return None
    if touches is None:
        return Watch(uow, patients, adds_signs)
    return _Scoped(uow, patients, touches, signing)


def hold(watched: Watch | None, uow: UnitOfWork, code: ErrorCode, field: str,
         principal: Principal = SYSTEM) -> None:
    """Refuse the change (the transaction rolls back) if it broke rule K; the refusal names
    only what `principal` may see."""
    if watched is not None and (texts := watched.refusals(uow, principal)):
        raise RegistryFailure([error(code, text, field) for text in texts])
