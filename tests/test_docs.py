"""The documentation holds together: every relative link of README.md and docs/*.md names a file
that exists and, with a #fragment, a heading of that file (GitHub's anchors)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# documents other fronts' engineers write: linked from the index before they land
WRITTEN_ELSEWHERE = {"docs/fhir.md", "docs/hl7v2.md", "docs/monitoring.md",
                     "docs/typed-clients.md"}
LINK = re.compile(r"\]\(([^)\s]+)\)")


def _anchor(heading: str) -> str:
    text = heading.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    anchors, fence = set(), False
    for line in path.read_text().splitlines():
        if line.startswith("```"):
            fence = not fence
        elif not fence and line.startswith("#"):
            anchors.add(_anchor(line.lstrip("#")))
    return anchors


def _documents() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def test_every_relative_link_resolves():
    broken = []
    for document in _documents():
        for target in LINK.findall(document.read_text()):
            if re.match(r"[a-z]+:", target):
                continue                          # http(s), mailto: not ours to check
            file, _, fragment = target.partition("#")
            path = (document.parent / file).resolve() if file else document
            name = str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)
            if not path.exists():
                if name not in WRITTEN_ELSEWHERE:
                    broken.append(f"{document.name}: {target} (no such file)")
                continue
            if fragment and path.suffix == ".md" and fragment not in _anchors(path):
                broken.append(f"{document.name}: {target} (no such heading)")
    assert broken == []


def test_the_anchor_rule_is_githubs():
    assert _anchor(" The command line in scripts") == "the-command-line-in-scripts"
    assert _anchor("Conformance: the NIST XDS Toolkit's own tests") == \
        "conformance-the-nist-xds-toolkits-own-tests"
