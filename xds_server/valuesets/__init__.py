"""The CI-SIS value sets the `cisis` profile checks, in the product's own JSON format
(`cisis.json`, built by `valuesets/build.py` from the ANS files; see each set's `source`).
An installed ANS kit refreshes them: `<data_dir>/kit/valuesets.json` is read instead."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

BUILTIN = Path(__file__).with_name("cisis.json")
KIT_FILE = "valuesets.json"


@dataclass(frozen=True)
class ValueSet:
    name: str
    oid: str
    title: str
    source: str
    concepts: frozenset[tuple[str, str]]   # (code, code system)

    def __contains__(self, pair: tuple[str, str]) -> bool:
        return pair in self.concepts

    def describe(self) -> str:
        return f"{self.name} {self.title} ({self.oid})"


@dataclass(frozen=True)
class ValueSets:
    sets: dict[str, ValueSet]
    type_to_class: dict[str, str]   # "code^^system" → "code^^system" (ASS_X16)
    origin: str

    def __getitem__(self, name: str) -> ValueSet:
        return self.sets[name]


def _read(path: Path) -> ValueSets:
    data = json.loads(path.read_text(encoding="utf-8"))
    sets = {name: ValueSet(name, entry["oid"], entry.get("title", ""), entry.get("source", ""),
                           frozenset((c[0], c[1]) for c in entry["concepts"]))
            for name, entry in data["sets"].items()}
    pairs = data.get("maps", {}).get("ASS_X16", {}).get("pairs", {})
    return ValueSets(sets, dict(pairs), str(path))


@functools.cache
def load_value_sets(kit_dir: Path | None = None) -> ValueSets:
    if kit_dir is not None and (kit_dir / KIT_FILE).is_file():
        kit = _read(kit_dir / KIT_FILE)
        builtin = _read(BUILTIN)
        # the kit does not carry the derived tables (J06, J10, ASS_X16): keep the built-in ones
        return ValueSets({**builtin.sets, **kit.sets}, kit.type_to_class or builtin.type_to_class,
                         kit.origin)
    return _read(BUILTIN)
