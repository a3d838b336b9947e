"""Conformance scenarios as data: loaded from `conformance/scenarios/<id>/scenario.json`.

The format is the project's own (written by conformance/tools/convert_nist.py from the NIST
toolkit's test plans, or by hand): ordered steps, each a transaction with a message template,
the status and error code it must produce, where its placeholders come from, and what a query's
answer must contain.
"""

from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Use:
    """A placeholder and its source: a patient feed, or a value recorded by an earlier step."""

    symbol: str
    source: str                  # patient | uid | uuid | report
    test: str | None = None
    section: str = ""
    step: str | None = None
    id: str | None = None        # the symbolic object id whose uid/uuid is wanted
    name: str | None = None      # report name
    feed: str | None = None      # patient feed test id


@dataclass(frozen=True)
class Step:
    section: str
    step: str
    transaction: str
    expected_status: str = "Success"
    expected_error: str | None = None
    message: str | None = None
    patient: str | None = None   # None (the feed's), "unknown", "new"
    assign_uuids: bool = False
    replace_patient_id: bool = True
    keep_unique_ids: tuple[str, ...] = ()
    uses: tuple[Use, ...] = ()
    reports: tuple[tuple[str, str, str], ...] = ()   # (name, xpath, input|output)
    documents: dict = field(default_factory=dict)    # Document id -> file in the scenario
    reference_documents: tuple[str, ...] = ()        # uniqueId symbols whose bytes must return
    expected_contents: dict = field(default_factory=dict)
    assertions: tuple[str, ...] = ()
    goal: str | None = None

    @property
    def key(self) -> str:
        return f"{self.section}/{self.step}" if self.section else self.step


@dataclass(frozen=True)
class Scenario:
    id: str
    title: str
    group: str
    directory: Path
    steps: tuple[Step, ...]
    requires: tuple[str, ...] = ()

    def message(self, step: Step) -> str:
        assert step.message is not None
        return (self.directory / step.message).read_text(encoding="utf-8")

    def document(self, relative: str) -> bytes:
        return (self.directory / relative).read_bytes()


def _step(data: dict) -> Step:
    uses = tuple(Use(symbol=u["symbol"], source=u["from"], test=u.get("test"),
                     section=u.get("section") or "", step=u.get("step"), id=u.get("id"),
                     name=u.get("name"), feed=u.get("feed")) for u in data.get("uses", []))
    return Step(
        section=data.get("section", ""), step=data["step"], transaction=data["transaction"],
        expected_status=data.get("expected_status", "Success"),
        expected_error=data.get("expected_error"), message=data.get("message"),
        patient=data.get("patient"), assign_uuids=data.get("assign_uuids", False),
        replace_patient_id=data.get("replace_patient_id", True),
        keep_unique_ids=tuple(data.get("keep_unique_ids", [])), uses=uses,
        reports=tuple((r["name"], r["xpath"], r.get("on", "input"))
                      for r in data.get("reports", [])),
        documents=data.get("documents", {}),
        reference_documents=tuple(data.get("reference_documents", [])),
        expected_contents=data.get("expected_contents", {}),
        assertions=tuple(data.get("assertions", [])), goal=data.get("goal"))


def load_scenarios(directory: Path) -> dict[str, Scenario]:
    scenarios = {}
    for path in sorted(directory.glob("*/scenario.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        scenarios[data["id"]] = Scenario(data["id"], data.get("title", data["id"]),
                                         data.get("group", ""), path.parent,
                                         tuple(_step(s) for s in data["steps"]),
                                         tuple(data.get("requires", [])))
    return scenarios


def select(scenarios: dict[str, Scenario], pattern: str | None,
           transactions: set[str]) -> list[Scenario]:
    """Scenarios matching `pattern` (glob on id or group) whose steps all can be played."""
    chosen = []
    for scenario in scenarios.values():
        if pattern and not (fnmatch.fnmatch(scenario.id, pattern)
                            or fnmatch.fnmatch(scenario.group, pattern)):
            continue
        if all(step.transaction in transactions for step in scenario.steps):
            chosen.append(scenario)
    return chosen


def default_directory() -> Path | None:
    """conformance/scenarios of a source checkout, when the package runs from one."""
    candidate = Path(__file__).resolve().parents[2] / "conformance" / "scenarios"
    return candidate if candidate.is_dir() else None
