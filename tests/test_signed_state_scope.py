"""Rule K read in part (store/signed_reads.closure, registry/signed_state._Scoped) finds what it
finds on the whole record: random records of signed sets (versions, replacements, memberships
by reference, signatures in every status, `signs` Deprecated), folders (holding signed
documents and signatures, in signed or unsigned sets, new versions of them carrying their
memberships, documents filed into them, a new version's membership propagated, a folder signed
by a legacy `signs`), random changes written through the store's own writes (statuses,
removals, new versions, new signed sets, new links), and rule K's refusals compared, part
against whole, in the same transaction. A change whose
`touches` leave out something it writes is refused as written outside the part read, or finds
the same: never a different answer (the assumption is checked, not trusted)."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable

import pytest

from xds_server.model import vocabulary as v
from xds_server.model.metadata import Association
from xds_server.model.signature_entry import SIGNATURE_CLASS
from xds_server.registry import signed_state
from xds_server.store import registry_store as store

from .registry_data import document, folder, new_patient, submission_set

Write = Callable[[], None]

STATUSES = (v.APPROVED, v.DEPRECATED, v.CISIS_ARCHIVED, v.CISIS_DELETED)
CASES = int(__import__("os").environ.get("K_CASES", 160))


@pytest.fixture
def database(make_app):
    return make_app(profile="ihe")


_IDS = random.Random()      # reseeded by each case: a failing seed fails again


def _id() -> str:
    return f"urn:uuid:{uuid.UUID(int=_IDS.getrandbits(128), version=4)}"


class Record:
    """A random record, and what it holds (to pick the next step from). Each step is planned
    (its ids drawn, what it writes known) before it is written: `plan` gives both."""

    def __init__(self, rng: random.Random, uow, patient: str) -> None:
        self.rng, self.uow, self.patient = rng, uow, patient
        self.documents: dict[str, tuple[str, str]] = {}     # uuid → (lineage, hash)
        self.sets: list[str] = []
        self.links: list[str] = []
        self.folders: dict[str, list[str]] = {}     # folder version → its members
        self.signing: set[str] = set()              # holders a planned step signs

    def document(self, lineage: str | None = None, signature: bool = False):
        rng = self.rng
        versions = [h for lid, h in self.documents.values() if lid == lineage]
        digest = rng.choice(versions) if versions and rng.random() < 0.6 else \
            f"{rng.randrange(16 ** 40):040x}"
        entry = document(self.patient, _id(), content=b"x")
        entry.hash = digest
        entry.logical_id = lineage or entry.entry_uuid
        entry.version = str(len(versions) + 1)
        if signature:
            entry.class_code = SIGNATURE_CLASS
        self.documents[entry.entry_uuid] = (entry.logical_id, digest)
        return entry

    def _register(self, documents: list, links: list[Association], package_id: str = "",
                  folders: tuple = ()) -> tuple[set[str], Write]:
        package = submission_set(self.patient, package_id or _id())
        self.sets.append(package.entry_uuid)
        self.links += [a.entry_uuid for a in links]
        self.signing |= {a.target for a in links if a.type == v.SIGNS}
        for a in links:
            if a.type == v.HAS_MEMBER and a.source in self.folders:
                self.folders[a.source].append(a.target)
        touches = {package.entry_uuid, *(d.entry_uuid for d in (*documents, *folders)),
                   *(d.logical_id for d in (*documents, *folders)),
                   *(x for a in links for x in (a.entry_uuid, a.source, a.target))}
        stored = {o.entry_uuid: b"<x/>" for o in (package, *documents, *folders, *links)}
        return touches, lambda: store.register(self.uow, self.patient, package, documents,
                                               list(folders), links, stored)

    def submit(self, signed: bool, by_reference: bool, replaces: bool,
               new_version: bool) -> tuple[set[str], Write]:
        """A submission set of 1-3 documents (the first a new version of a lineage, maybe),
        signed or not, holding an older document by reference or replacing one, maybe."""
        rng = self.rng
        old = list(self.documents)
        package = _id()
        lineage = self.documents[rng.choice(old)][0] if old and new_version else None
        documents = [self.document(lineage if i == 0 else None)
                     for i in range(rng.randint(1, 3))]
        links = [_link(v.HAS_MEMBER, package, d.entry_uuid) for d in documents]
        if lineage and rng.random() < 0.8:     # the previous versions' folders propagated
            links += [_link(v.HAS_MEMBER, f, documents[0].entry_uuid)
                      for f, members in self.folders.items()
                      if any(self.documents.get(m, ("",))[0] == lineage for m in members)]
        if by_reference and old:
            links.append(_link(v.HAS_MEMBER, package, rng.choice(old)))
        if replaces and old:
            links.append(_link(rng.choice(sorted(v.REPLACING)), documents[-1].entry_uuid,
                               rng.choice(old)))
        if signed:
            signature = self.document(signature=True)
            documents.append(signature)
            links += [_link(v.HAS_MEMBER, package, signature.entry_uuid),
                      _link(v.SIGNS, signature.entry_uuid, package)]
        return self._register(documents, links, package)

    def add_link(self) -> tuple[set[str], Write]:
        rng, old = self.rng, list(self.documents)
        kind = rng.choice([v.HAS_MEMBER, v.SIGNS, v.RPLC, v.XFRM_RPLC])
        holders = self.sets + list(self.folders) * 3 if self.folders else self.sets
        if kind == v.HAS_MEMBER:     # a folder's: SubmitAssociation into it; a document's
            source = rng.choice(old if rng.random() < 0.1 else holders)
            target = rng.choice(old)
        elif kind == v.SIGNS:        # into a folder: legacy data only; into a document: DSG
            source = rng.choice(old)
            target = rng.choice(old if rng.random() < 0.2 else holders)
        else:
            source, target = rng.choice(old), rng.choice(old)
        return self._register([], [_link(kind, source, target)])

    def new_folder(self) -> tuple[set[str], Write]:
        """A folder holding some documents (signed ones, signatures), in a set of its own,
        signed (a folder-only signed set) or not."""
        rng = self.rng
        shelf = folder(self.patient, _id())
        shelf.logical_id, shelf.version = shelf.entry_uuid, "1"
        self.folders[shelf.entry_uuid] = []
        package = _id()
        members = rng.sample(list(self.documents), min(len(self.documents), rng.randint(0, 6)))
        links = [_link(v.HAS_MEMBER, package, shelf.entry_uuid),
                 *(_link(v.HAS_MEMBER, shelf.entry_uuid, m) for m in members)]
        documents = []
        if rng.random() < 0.4:
            signature = self.document(signature=True)
            documents.append(signature)
            links += [_link(v.HAS_MEMBER, package, signature.entry_uuid),
                      _link(v.SIGNS, signature.entry_uuid, package)]
        return self._register(documents, links, package, (shelf,))

    def folder_version(self) -> tuple[set[str], Write]:
        """A folder's new version (ITI-57), its members' HasMember copied to it (association
        propagation), the previous version Deprecated."""
        rng = self.rng
        latest = rng.choice(list(self.folders))
        shelf = folder(self.patient, _id())
        shelf.logical_id = latest      # a lineage by its first version's id, enough here
        shelf.version = "2"
        self.folders[shelf.entry_uuid] = []
        package = _id()
        links = [_link(v.HAS_MEMBER, package, shelf.entry_uuid),
                 *(_link(v.HAS_MEMBER, shelf.entry_uuid, m) for m in self.folders[latest]
                   if m in self.documents)]
        touches, write = self._register([], links, package, (shelf,))

        def both() -> None:
            write()
            store.set_status(self.uow, "folder", self.patient, [latest], v.DEPRECATED)
        return touches | {latest}, both

    def set_status(self) -> tuple[set[str], Write]:
        rng = self.rng
        if self.folders and rng.random() < 0.1:
            kind, target = "folder", rng.choice(list(self.folders))
        elif rng.random() < 0.8 or not self.links:
            kind, target = "document", rng.choice(list(self.documents))
        else:
            kind, target = "association", rng.choice(self.links)
        status = rng.choice(STATUSES)
        return {target}, lambda: store.set_status(self.uow, kind, self.patient, [target],
                                                  status)

    def remove(self) -> tuple[set[str], Write]:
        rng = self.rng
        if rng.random() < 0.5 or not self.links:
            kind, target = "document", rng.choice(list(self.documents))
            del self.documents[target]
        else:
            kind, target = "association", rng.choice(self.links)
            self.links.remove(target)
        return {target}, lambda: store.delete_objects(self.uow, self.patient,
                                                      {kind: [target]})

    def plan(self) -> tuple[set[str], Write]:
        """One random step: (the ids it writes, as signed_state.touched_by gives them, and
        the write)."""
        rng = self.rng
        step = rng.choice(["submit", "submit", "link", "status", "status", "remove",
                           "folder", "link", "submit"])
        if step == "submit" or not self.documents:
            return self.submit(rng.random() < 0.5, rng.random() < 0.3, rng.random() < 0.3,
                               rng.random() < 0.6)
        if step == "folder":
            return self.folder_version() if self.folders and rng.random() < 0.4 else \
                self.new_folder()
        return {"link": self.add_link, "status": self.set_status,
                "remove": self.remove}[step]()


def _link(kind: str, source: str, target: str) -> Association:
    return Association(_id(), kind, source, target)


def _refusals(app, seed: int, drop: bool) -> tuple[list[str], list[str]]:
    """Rule K's refusals of one random change (1-3 steps) on one random record, read whole
    and read in part, in the same transaction (rolled back); `drop`: one id the change
    writes left out of what the part starts from."""
    rng = random.Random(seed)
    _IDS.seed(seed)
    patient = new_patient()
    app.records.open(patient)
    with app.database.transaction() as uow:
        record = Record(rng, uow, patient)
        for _ in range(rng.randint(2, 7)):
            record.submit(rng.random() < 0.7, rng.random() < 0.3, rng.random() < 0.25,
                          rng.random() < 0.4)[1]()
        if rng.random() < 0.6:
            record.new_folder()[1]()
        for _ in range(rng.randint(0, 4)):
            record.plan()[1]()
        record.signing = set()
        steps = [record.plan() for _ in range(rng.randint(1, 3))]
        touches = set().union(*(t for t, _ in steps))
        if drop:
            touches.discard(rng.choice(sorted(touches)))
        whole = signed_state.Watch(uow, [patient], adds_signs=True)
        part = signed_state.watch(uow, [patient], True, touches=touches,
                                  signing=record.signing)
        for _, write in steps:
            write()
        found = part.refusals(uow), whole.refusals(uow)
        uow.connection.rollback()
    return found[1], found[0]


def test_rule_k_read_in_part_finds_what_it_finds_on_the_whole_record(database):
    differ, refused = [], 0
    for seed in range(CASES):
        whole, part = _refusals(database, seed, drop=False)
        refused += bool(whole)
        if whole != part:
            differ.append((seed, whole, part))
    assert not differ, differ[:3]
    assert refused > CASES // 10        # the random changes do break signed sets


def test_a_change_writing_outside_the_part_read_is_refused_not_missed(database):
    """`touches` short of one id: the same answer, or the refusal that says the part read
    missed a write; never fewer refusals than the whole record's."""
    outside = 0
    for seed in range(CASES):
        whole, part = _refusals(database, seed, drop=True)
        if part != whole:
            assert len(part) == 1 and "outside the part of the record" in part[0], \
                (seed, whole, part)
            outside += 1
    assert outside


def test_the_part_read_is_the_changed_document_s_signed_set_not_the_record(database):
    """The cost of rule K follows the signed set a change touches, not the record's size."""
    from xds_server.store import signed_reads

    rng = random.Random(1)
    _IDS.seed(1)
    patient = new_patient()
    database.records.open(patient)
    with database.database.transaction() as uow:
        record = Record(rng, uow, patient)
        for _ in range(6):
            record.submit(True, False, False, False)[1]()
        first = next(iter(record.documents))
        scope = signed_reads.closure(uow, patient, {first}, {first})
        whole, _ = signed_reads.whole_record(uow, patient)
        uow.connection.rollback()
    assert first in scope.documents and len(whole) > 3 * len(scope.documents)


def test_a_folder_s_other_members_are_not_read(database):
    """Outsider 19e, E8: a new version of a document filed in a folder touches the folder (its
    propagated HasMember); the folder's other members are not read (a folder signs nothing),
    and its id counts as read (the HasMember written from it is within the part read)."""
    from xds_server.store import signed_reads

    rng = random.Random(2)
    _IDS.seed(2)
    patient = new_patient()
    database.records.open(patient)
    with database.database.transaction() as uow:
        record = Record(rng, uow, patient)
        for _ in range(6):
            record.submit(True, False, False, False)[1]()
        shelf = folder(patient, _id())
        shelf.logical_id, shelf.version = shelf.entry_uuid, "1"
        package = submission_set(patient, _id())
        links = [_link(v.HAS_MEMBER, package.entry_uuid, shelf.entry_uuid),
                 *(_link(v.HAS_MEMBER, shelf.entry_uuid, d) for d in record.documents)]
        store.register(uow, patient, package, [], [shelf], links,
                       {o.entry_uuid: b"<x/>" for o in (package, shelf, *links)})
        first = next(iter(record.documents))
        scope = signed_reads.closure(uow, patient, {first, shelf.entry_uuid})
        uow.connection.rollback()
    assert first in scope.documents and shelf.entry_uuid in scope.seen
    assert len(record.documents) > 3 * len(scope.documents)
    assert all(a.target in scope.documents for a in scope.links.values()
               if a.source == shelf.entry_uuid)    # read from the signed set's members
