"""NIST XDS Toolkit test directories as shipped: finding tests, their sections, what they need.

A test is a directory holding `index.idx` (its sections, one per line) or a `testplan.xml`.
Every section directory with a testplan.xml is run: those index.idx lists first, in its order,
then the others by name. The toolkit runs only the listed ones: an unlisted section is run and
reported (never skipped silently) but its verdict is shown apart and does not decide the test's
(in the reference kit they are patient feeds and one stale query, 11897/no_matching_classcode,
whose readme says "must return nothing" while its testplan expects Failure). A top-level
testplan.xml beside sections is not run, as in the toolkit; the run says so.

Paths between tests are the toolkit's log paths: a section logs under `<test>/<section>`, so
`testdir="../submit"` names section `submit` of the same test and `testdir="../../12346/
single_doc"` section `single_doc` of test 12346, which must run first (a dependency).
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from pathlib import Path

from .plan import Step, load_plan

INDEX = "index.idx"
PLAN = "testplan.xml"


@dataclass
class Section:
    name: str                  # "" for a test without sections
    directory: Path
    steps: list[Step] = field(default_factory=list)
    problem: str = ""          # why it cannot be read
    indexed: bool = True       # False: a section directory index.idx does not list


@dataclass
class KitTest:
    id: str
    directory: Path
    group: str
    title: str
    sections: list[Section]
    notes: list[str] = field(default_factory=list)

    def section(self, name: str) -> Section | None:
        return next((s for s in self.sections if s.name == name), None)


def is_test(directory: Path) -> bool:
    return (directory / INDEX).is_file() or (directory / PLAN).is_file()


def _title(directory: Path) -> str:
    readme = directory / "readme.txt"
    if readme.is_file():
        for line in readme.read_text(errors="replace").splitlines():
            if line.strip():
                return line.strip()
    return ""


def _section(name: str, directory: Path) -> Section:
    section = Section(name, directory)
    try:
        section.steps = load_plan(directory / PLAN)
    except (OSError, ValueError) as exc:      # lxml's XMLSyntaxError is a ValueError
        section.problem = f"cannot read {directory / PLAN}: {exc}"
    return section


def load_test(directory: Path, only: str | None = None) -> KitTest:
    """The test in `directory`; `only` restricts it to one of its sections."""
    index = directory / INDEX
    notes: list[str] = []
    sections: list[Section] = []
    if index.is_file():
        listed = [line.strip() for line in index.read_text(errors="replace").splitlines()
                  if line.strip()]
        present = sorted(p.name for p in directory.iterdir()
                         if p.is_dir() and (p / PLAN).is_file())
        for name in listed:
            if name in present:
                sections.append(_section(name, directory / name))
            else:
                sections.append(Section(name, directory / name,
                                        problem=f"index.idx lists {name}, which has no {PLAN}"))
        for name in present:
            if name not in listed:
                sections.append(_section(name, directory / name))
                sections[-1].indexed = False
        if (directory / PLAN).is_file():
            notes.append(f"{PLAN} beside the sections is not run (the toolkit runs the "
                         "sections index.idx names)")
    else:
        sections.append(_section("", directory))
    if only is not None:
        sections = [s for s in sections if s.name == only]
    return KitTest(directory.name, directory, directory.parent.name, _title(directory),
                   sections, notes)


def discover(roots: list[Path]) -> tuple[dict[str, KitTest], list[str]]:
    """Every test under `roots` by id (the first one found wins), and the ids asked for, in
    order. A root may be a test, a section of a test, or a directory holding tests at any
    depth (the toolkit's flat `tests/` or a tree grouped by transaction)."""
    found: dict[str, KitTest] = {}
    asked: list[str] = []

    def add(test: KitTest, requested: bool) -> None:
        found.setdefault(test.id, test)
        if requested and test.id not in asked:
            asked.append(test.id)

    for root in roots:
        root = root.resolve()
        if is_test(root) and (root.parent / INDEX).is_file():
            add(load_test(root.parent, only=root.name), True)
        elif is_test(root):
            add(load_test(root), True)
        else:
            for directory in _walk(root):
                add(load_test(directory), True)
    return found, asked


MAX_DEPTH = 6   # the toolkit's trees hold tests 1 to 3 levels down (tests/, by transaction)


def _walk(root: Path) -> list[Path]:
    """Test directories under `root`, breadth first by name; a test's subdirectories are its
    sections, not tests. At most MAX_DEPTH levels down, symbolic links to directories not
    followed, unreadable directories skipped: `--nist-testkit /tmp` walked the whole tree for
    minutes before saying anything, and a link to a parent would never end."""
    tests: list[Path] = []
    pending = [(root, 0)]
    while pending:
        directory, depth = pending.pop(0)
        try:
            children = sorted(p for p in directory.iterdir()
                              if p.is_dir() and not p.name.startswith(".")) \
                if directory.is_dir() else []
        except OSError:          # unreadable: not the kit's
            continue
        for child in children:
            if is_test(child):
                tests.append(child)
            elif depth + 1 < MAX_DEPTH and not child.is_symlink():
                pending.append((child, depth + 1))
    return tests


def neighbours(test: KitTest) -> list[Path]:
    """Where a test's dependencies may live when not asked for: beside it, and in the
    directories beside its group (grouped layouts)."""
    group = test.directory.parent
    places = [group]
    if group.parent.is_dir():
        places += sorted(p for p in group.parent.iterdir() if p.is_dir() and p != group)
    return places


def find_test(test_id: str, places: list[Path]) -> KitTest | None:
    for place in places:
        candidate = place / test_id
        if candidate.is_dir() and is_test(candidate):
            return load_test(candidate)
    return None


class BadTestdir(ValueError):
    """A testdir that names no test section (the testplan's error)."""


def log_path(test: str, section: str) -> str:
    return f"{test}/{section}" if section else test


def resolve(test: str, section: str, testdir: str) -> tuple[str, str]:
    """The (test, section) a `testdir` names from section `section` of `test`."""
    joined = posixpath.normpath(posixpath.join(log_path(test, section), testdir))
    parts = [p for p in joined.split("/") if p not in ("", ".")]
    if not parts or ".." in parts or len(parts) > 2:
        raise BadTestdir(f"testdir {testdir!r} (from {log_path(test, section)}) names no "
                         "test section")
    return parts[0], parts[1] if len(parts) == 2 else ""


def dependencies(test: KitTest) -> list[str]:
    """Other tests this one reads from (UseId/UseRepositoryUniqueId/UseObjectRef testdir,
    ReferenceMetadata testdir, UseReport test), in the order first named."""
    named: list[str] = []
    for section in test.sections:
        for step in section.steps:
            t = step.transaction
            if t is None:
                continue
            dirs = [u.testdir for u in t.use_ids] + [u.testdir for u in t.use_results]
            dirs += [t.reference_metadata[0]] if t.reference_metadata else []
            for testdir in filter(None, dirs):
                try:
                    other, _ = resolve(test.id, section.name, testdir)
                except ValueError:
                    continue
                if other != test.id and other not in named:
                    named.append(other)
            for use in t.use_reports:
                if use.test and use.test != test.id and use.test not in named:
                    named.append(use.test)
    return named
