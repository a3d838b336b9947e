"""ExpectedContents: what a query answer must hold, each toolkit assertion (its Validator) by
name. An assertion this table does not know is an error of the run, never a pass.

As in the toolkit, only what an assertion reports counts: DocApp on an answer with no documents
holds (every document returned is Approved), FolApp likewise for folders.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from lxml import etree

from ..model import vocabulary as v

RIM = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"


class UnknownAssertion(ValueError):
    pass


@dataclass
class Answer:
    """The objects of a query answer, classified as the toolkit's Metadata does."""

    documents: list[etree._Element]
    submission_sets: list[etree._Element]
    folders: list[etree._Element]
    associations: list[etree._Element]
    object_refs: list[etree._Element]

    @classmethod
    def of(cls, payload: etree._Element | None) -> Answer:
        if payload is None:
            return cls([], [], [], [], [])
        listed = payload.find(f"{{{RIM}}}RegistryObjectList")
        children = [] if listed is None else [c for c in listed if isinstance(c.tag, str)]
        kinds = _package_kinds(payload)
        packages = [c for c in children if c.tag == f"{{{RIM}}}RegistryPackage"]
        return cls([c for c in children if c.tag == f"{{{RIM}}}ExtrinsicObject"],
                   [p for p in packages if kinds.get(p.get("id")) == "set"],
                   [p for p in packages if kinds.get(p.get("id")) == "folder"],
                   [c for c in children if c.tag == f"{{{RIM}}}Association"],
                   [c for c in children if c.tag == f"{{{RIM}}}ObjectRef"])


def _package_kinds(payload: etree._Element) -> dict[str | None, str]:
    """RegistryPackage id → set/folder, by classification node or by uniqueId scheme."""
    kinds: dict[str | None, str] = {}
    for identifier in payload.iter(f"{{{RIM}}}ExternalIdentifier"):
        scheme = identifier.get("identificationScheme")
        owner = identifier.get("registryObject") or identifier.getparent().get("id")
        if scheme == v.SS_UNIQUE_ID:
            kinds[owner] = "set"
        elif scheme == v.FOL_UNIQUE_ID:
            kinds[owner] = "folder"
    for classification in payload.iter(f"{{{RIM}}}Classification"):
        node = classification.get("classificationNode")
        owner = classification.get("classifiedObject") or classification.getparent().get("id")
        if node == v.SUBMISSION_SET_NODE:
            kinds[owner] = "set"
        elif node == v.FOLDER_NODE:
            kinds[owner] = "folder"
    return kinds


def _status(element: etree._Element) -> str:
    return (element.get("status") or "").rsplit(":", 1)[-1]


def _short(association_type: str | None) -> str:
    return (association_type or "").rsplit(":", 1)[-1]


class _Check:
    """One evaluation; `problems` collects what the toolkit's err() would have said."""

    def __init__(self, answer: Answer) -> None:
        self.a = answer
        self.problems: list[str] = []

    def err(self, message: str) -> None:
        self.problems.append(message)

    def count(self, what: str, found: list, wanted: int) -> None:
        if len(found) != wanted:
            self.err(f"{len(found)} {what} (expected {wanted})")

    def has_set(self) -> etree._Element | None:
        if not self.a.submission_sets:
            self.err("no SubmissionSet")
            return None
        return self.a.submission_sets[0]

    def no_set(self) -> None:
        if self.a.submission_sets:
            self.err("a SubmissionSet was returned")

    def association(self, source, target, kind: str = "HasMember") -> etree._Element | None:
        """An association of `kind` from source to target (elements or ids)."""
        source_id = source if isinstance(source, str) else source.get("id")
        target_ids = [t if isinstance(t, str) else t.get("id")
                      for t in (target if isinstance(target, list) else [target])]
        for association in self.a.associations:
            if association.get("sourceObject") == source_id and \
                    association.get("targetObject") in target_ids and \
                    _short(association.get("associationType")) == kind:
                return association
        self.err(f"no {kind} association from {source_id} to {' or '.join(map(str, target_ids))}")
        return None

    def statuses(self, objects: list[etree._Element], wanted: str, what: str) -> None:
        for obj in objects:
            if _status(obj) != wanted:
                self.err(f"{what} {obj.get('id')} is {_status(obj) or 'without status'}, "
                         f"not {wanted}")
                return

    def exactly_one(self, wanted: str) -> None:
        found = sum(1 for d in self.a.documents if _status(d) == wanted)
        if found != 1:
            self.err(f"{found} {wanted} DocumentEntries (expected 1)")

    def set_with_documents(self, count: int) -> None:
        ss = self.has_set()
        self.count("DocumentEntries", self.a.documents, count)
        self.count("Associations", self.a.associations, count)
        if not self.problems and ss is not None:
            for document in self.a.documents:
                self.association(ss, document)

    def set_with_folder(self, documents: int, associations: int) -> None:
        """A set with one folder and `documents` documents, each in the folder, and the set's
        HasMember on each folder membership."""
        ss = self.has_set()
        self.count("DocumentEntries", self.a.documents, documents)
        self.count("Folders", self.a.folders, 1)
        if self.problems or ss is None:
            return
        self.count("Associations", self.a.associations, associations)
        folder = self.a.folders[0]
        self.association(ss, folder)
        for document in self.a.documents:
            self.association(ss, document)
            membership = self.association(folder, document)
            if membership is not None:
                self.association(ss, membership)

    def two_docs_one_in_folder(self) -> None:
        ss = self.has_set()
        self.count("DocumentEntries", self.a.documents, 2)
        self.count("Folders", self.a.folders, 1)
        if self.problems or ss is None:
            return
        self.count("Associations", self.a.associations, 5)
        folder = self.a.folders[0]
        for document in self.a.documents:
            self.association(ss, document)
        self.association(ss, folder)
        membership = self.association(folder, self.a.documents)
        if membership is not None:
            self.association(ss, membership)

    def relationship(self, kind: str) -> None:
        targets = [a.get("targetObject") for a in self.a.associations
                   if _short(a.get("associationType")) == kind]
        if not targets:
            self.err(f"no {kind} association")
        elif len(targets) != len(set(targets)):
            self.err(f"several {kind} associations for the same DocumentEntry")

    def replacement(self) -> None:
        self.count("DocumentEntries", self.a.documents, 2)
        self.count("Associations", self.a.associations, 1)
        if len(self.a.documents) != 2:
            return
        first, second = self.a.documents
        new, old = (first, second) if _status(first) == "Approved" else (second, first)
        self.association(new, old, "RPLC")
        self.statuses([old], "Deprecated", "DocumentEntry")

    def snapshot(self) -> None:
        links = [a for a in self.a.associations
                 if _short(a.get("associationType")).lower() == "issnapshotof"]
        if len(links) != 1:
            self.err(f"{len(links)} IsSnapshotOf associations (expected 1)")
            return
        by_id = {d.get("id"): d for d in self.a.documents}
        snapshot, on_demand = (by_id.get(links[0].get("sourceObject")),
                               by_id.get(links[0].get("targetObject")))
        if snapshot is None or on_demand is None:
            self.err("the IsSnapshotOf association's DocumentEntries are not in the answer")
            return
        self.statuses([snapshot, on_demand], "Approved", "DocumentEntry")
        if on_demand.get("objectType") != v.DOC_ON_DEMAND:
            self.err("the On-Demand DocumentEntry has not the On-Demand objectType")
        if snapshot.get("objectType") != v.DOC_STABLE:
            self.err("the snapshot DocumentEntry has not the Stable objectType")

    def nothing(self, refs: int | None = None) -> None:
        if refs is not None:
            self.count("ObjectRefs", self.a.object_refs, refs)
        self.no_set()
        self.count("DocumentEntries", self.a.documents, 0)
        self.count("Folders", self.a.folders, 0)
        if refs is not None or not self.problems:
            self.count("Associations", self.a.associations, 0)


def _counted(name: str, attribute: str) -> Callable[[_Check, int], None]:
    return lambda c, n: c.count(name, getattr(c.a, attribute), n)


# ExpectedContents element → what it checks (the toolkit's Validator.run_test_assertion).
_ASSERTIONS: dict[str, Callable[[_Check, int], None]] = {
    "SSwithOneDoc": lambda c, _: (c.set_with_documents(1),
                                  c.statuses(c.a.submission_sets[:1], "Approved",
                                             "SubmissionSet")),
    "SSwithTwoDoc": lambda c, _: (c.set_with_documents(2),
                                  c.statuses(c.a.submission_sets[:1], "Approved",
                                             "SubmissionSet")),
    "SSwithOneDocOnly": lambda c, _: c.set_with_documents(1),
    "SSwithTwoDocOnly": lambda c, _: c.set_with_documents(2),
    "SSwithOneFol": lambda c, _: c.set_with_folder(0, 1),
    "SSwithOneDocOneFol": lambda c, _: c.set_with_folder(1, 4),
    "SSwithTwoDocOneFol": lambda c, _: c.set_with_folder(2, 7),
    "SSwithTwoDocOneFolOneDocInFol": lambda c, _: c.two_docs_one_in_folder(),
    "SSApproved": lambda c, _: (c.has_set() is not None and
                                c.statuses(c.a.submission_sets[:1], "Approved",
                                           "SubmissionSet")),
    "NoSubmissionSet": lambda c, _: c.no_set(),
    "NoDocument": lambda c, _: c.count("DocumentEntries", c.a.documents, 0),
    "DocApp": lambda c, _: c.statuses(c.a.documents, "Approved", "DocumentEntry"),
    "DocDep": lambda c, _: c.statuses(c.a.documents, "Deprecated", "DocumentEntry"),
    "FolApp": lambda c, _: c.statuses(c.a.folders, "Approved", "Folder"),
    "FolDep": lambda c, _: c.statuses(c.a.folders, "Deprecated", "Folder"),
    "OneDocApp": lambda c, _: c.exactly_one("Approved"),
    "OneDocDep": lambda c, _: c.exactly_one("Deprecated"),
    "HasRPLC": lambda c, _: c.relationship("RPLC"),
    "HasXFRM_RPLC": lambda c, _: c.relationship("XFRM_RPLC"),
    "HasAPND": lambda c, _: c.relationship("APND"),
    "DocRplcDoc": lambda c, _: c.replacement(),
    "HasSnapshotPattern": lambda c, _: c.snapshot(),
    "None": lambda c, _: c.nothing(),
    "ObjectRefs": lambda c, n: c.nothing(refs=n),
    "Documents": _counted("DocumentEntries", "documents"),
    "Folders": _counted("Folders", "folders"),
    "SubmissionSets": _counted("SubmissionSets", "submission_sets"),
    "Associations": _counted("Associations", "associations"),
}
_NEEDS_COUNT = {"ObjectRefs", "Documents", "Folders", "SubmissionSets", "Associations"}


# ExpectedContents/DocumentEntries selections (Validator.verifyDocumentEntries)
_SELECTIONS = ("Include", "MustOnlyInclude", "Exclude")


def _local(element: etree._Element) -> str:
    return etree.QName(element).localname


def _children(element: etree._Element) -> list[etree._Element]:
    return [c for c in element if isinstance(c.tag, str)]


def _document_entries(element: etree._Element, answer: Answer,
                      resolve: Callable[[etree._Element], str] | None) -> list[str]:
    """ExpectedContents/DocumentEntries: `Include` and `MustOnlyInclude` name DocumentEntries
    (each by a UseId, with an optional DocumentEntryType its objectType must be) that must be
    in the answer, MustOnlyInclude with nothing else; `Exclude` names ones that must not be;
    a DocumentEntryType directly under DocumentEntries is the objectType of every entry
    returned. The toolkit's Validator stops at the first entry it finds (an early return that
    skips the type and the "only" count): each rule is checked here, as the testplans state
    them (12000.1a: "exactly one Document Entry, the same one that was previously
    submitted")."""
    by_id = {d.get("id"): d for d in answer.documents}
    problems: list[str] = []
    for selection in _children(element):
        kind = _local(selection)
        if kind == "DocumentEntryType":
            wanted = (selection.text or "").strip()
            problems += [f"DocumentEntry {d.get('id')} has objectType {d.get('objectType')}, "
                         f"not {wanted}" for d in answer.documents
                         if d.get("objectType") != wanted][:1]
            continue
        if kind not in _SELECTIONS:
            raise UnknownAssertion(f"ExpectedContents/DocumentEntries/{kind} is not a selection "
                                   "this runner evaluates")
        named = []
        for entry in _children(selection):
            if _local(entry) != "DocumentEntry":
                raise UnknownAssertion(f"ExpectedContents/DocumentEntries/{kind}/"
                                       f"{_local(entry)} is not a DocumentEntry")
            uses = [c for c in _children(entry) if _local(c) == "UseId"]
            if not uses or resolve is None:
                raise UnknownAssertion("ExpectedContents/DocumentEntries: a DocumentEntry "
                                       "names its entry by a UseId")
            entry_id = resolve(uses[0])
            named.append(entry_id)
            found = by_id.get(entry_id)
            if kind == "Exclude":
                if found is not None:
                    problems.append(f"DocumentEntry {entry_id} is in the answer ({kind})")
                continue
            if found is None:
                problems.append(f"DocumentEntry {entry_id} is not in the answer ({kind})")
                continue
            for detail in _children(entry):
                if _local(detail) == "DocumentEntryType" and \
                        found.get("objectType") != (detail.text or "").strip():
                    problems.append(f"DocumentEntry {entry_id} has objectType "
                                    f"{found.get('objectType')}, not {(detail.text or '').strip()}")
        if kind == "MustOnlyInclude" and len(answer.documents) != len(set(named)):
            problems.append(f"{len(answer.documents)} DocumentEntries in the answer, "
                            f"{len(set(named))} named (MustOnlyInclude)")
    return problems


def check(expected: etree._Element, payload: etree._Element | None,
          resolve: Callable[[etree._Element], str] | None = None) -> list[str]:
    """What differs from `expected` (an ExpectedContents element); [] when it all holds.
    UnknownAssertion when it names an assertion this runner cannot evaluate. `resolve` gives
    the value of a UseId element inside an assertion (DocumentEntries)."""
    answer = Answer.of(payload)
    problems: list[str] = []
    for child in expected:
        if not isinstance(child.tag, str):
            continue
        name = etree.QName(child).localname
        if name == "DocumentEntries":
            problems += [f"{name}: {p}" for p in _document_entries(child, answer, resolve)]
            continue
        evaluate = _ASSERTIONS.get(name)
        if evaluate is None:
            raise UnknownAssertion(f"ExpectedContents/{name} is not an assertion this runner "
                                   "evaluates")
        count = child.get("count")
        if name in _NEEDS_COUNT and (count is None or not count.strip().isdigit()):
            raise UnknownAssertion(f"ExpectedContents/{name} needs a count")
        probe = _Check(answer)
        evaluate(probe, int(count) if count else -1)
        problems += [f"{name}: {p}" for p in probe.problems]
    return problems
