"""Which volet schematron a CDA gets, read from the installed kit itself: each volet's
schematron (with the files it includes) names the document-level templateId of its volet, under
the CI-SIS arc 1.2.250.1.213.1.1.1 (in an assert or, for some volets, in a comment). A new volet
in a new kit needs no code.

A document names several such templateIds (the generic CSE one and its CS8 specialisation,
say): the most specific one a schematron names decides, and among the volets naming it (VSM
1.4 and VSM 2023) the newest file wins.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

VOLET_FILE = re.compile(r"^CI-SIS_(.+)_(\d{4})\.(\d{2})\.sch$")
VOLET_ARC = re.compile(r"1\.2\.250\.1\.213\.1\.1\.1(?:\.\d+)+")
GENERIC = "1.2.250.1.213.1.1.1.1"          # every CI-SIS document: names no volet
_INCLUDE = re.compile(r"""<include\s+href=["']([^"']+)["']""")
MAX_INCLUDES = 500                          # a kit is a few hundred files; cycles stop here


def _named_roots(sch: Path) -> set[str]:
    """The volet-arc templateIds written in `sch` and everything it includes."""
    roots: set[str] = set()
    pending, seen = [sch], set()
    while pending and len(seen) < MAX_INCLUDES:
        path = pending.pop()
        if path in seen or not path.is_file():
            continue
        seen.add(path)
        text = path.read_text(encoding="utf-8", errors="replace")
        roots.update(VOLET_ARC.findall(text))
        pending += [(path.parent / href).resolve() for href in _INCLUDE.findall(text)]
    roots.discard(GENERIC)
    return roots


@dataclass
class VoletIndex:
    """templateId root → the newest schematron of each volet naming it."""

    by_root: dict[str, list[Path]] = field(default_factory=dict)

    @classmethod
    def of(cls, directory: Path) -> VoletIndex:
        newest: dict[str, Path] = {}
        for path in sorted(directory.glob("CI-SIS_*.sch")):
            match = VOLET_FILE.match(path.name)
            if match and (match.group(1) not in newest
                          or _version(path) > _version(newest[match.group(1)])):
                newest[match.group(1)] = path
        index = cls()
        for path in newest.values():
            for root in _named_roots(path):
                index.by_root.setdefault(root, []).append(path)
        return index

    def choose(self, template_roots: list[str]) -> Path | None:
        known = [r for r in template_roots if r in self.by_root]
        if not known:
            return None
        most_specific = max(known, key=lambda r: r.count("."))
        return max(self.by_root[most_specific], key=_version)


def _version(path: Path) -> tuple[str, str]:
    match = VOLET_FILE.match(path.name)
    return (match.group(2), match.group(3)) if match else ("", "")
