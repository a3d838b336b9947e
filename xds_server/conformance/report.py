"""The run told three ways: a table for people, JUnit XML for CI viewers, JSON for programs.

Counts are given per test (a test passes when every step does) grouped by the directory the
test sits in (ITI-18, ITI-41, …), and per step grouped by the transaction the step plays.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path

from lxml import etree

from .runner import Outcome
from .steps import ERROR, FAILED, NOT_RUN, PASSED, Row

VERDICTS = (PASSED, FAILED, ERROR, NOT_RUN)
_LABEL = {PASSED: "ok", FAILED: "FAIL", ERROR: "ERROR", NOT_RUN: "NOT RUN"}


def test_verdict(rows: Iterable[Row]) -> str:
    """Failed, error, not run or passed, from the steps of the sections index.idx lists."""
    rows = list(rows)
    verdicts = {row.verdict for row in rows if row.indexed} or {row.verdict for row in rows}
    for verdict in (FAILED, ERROR, NOT_RUN):
        if verdict in verdicts:
            return verdict
    return PASSED if verdicts else NOT_RUN


def by_test(outcome: Outcome) -> dict[str, list[Row]]:
    grouped: dict[str, list[Row]] = {test.id: [] for test in outcome.tests}
    for row in outcome.rows:
        grouped.setdefault(row.test, []).append(row)
    return grouped


def decisive(rows: Iterable[Row]) -> list[Row]:
    """The rows that decide the run's exit status (sections outside index.idx do not)."""
    return [row for row in rows if row.indexed]


def counts(outcome: Outcome) -> dict:
    groups = {test.id: test.group for test in outcome.tests}
    tests: dict[str, Counter] = defaultdict(Counter)
    for test, rows in by_test(outcome).items():
        tests[groups.get(test, "")][test_verdict(rows)] += 1
    steps: dict[str, Counter] = defaultdict(Counter)
    outside: Counter = Counter()
    for row in outcome.rows:
        (steps[row.transaction] if row.indexed else outside)[row.verdict] += 1
    return {"tests": {g: dict(c) for g, c in sorted(tests.items())},
            "steps": {t: dict(c) for t, c in sorted(steps.items())},
            "outside_index": dict(outside)}


def _line(counter: dict) -> str:
    return ", ".join(f"{counter.get(v, 0)} {v}" for v in VERDICTS)


def table(outcome: Outcome, verbose: bool = False) -> str:
    lines = []
    for row in outcome.rows:
        where = "/".join(p for p in (row.test, row.section, row.step) if p)
        if not row.indexed:
            where += " (outside index.idx, not counted)"
        lines.append(f"{_LABEL[row.verdict]:<8} {where}  [{row.transaction}] expected "
                     f"{row.expected or '-'}, got {row.got or '-'}")
        if row.detail and (verbose or row.verdict != PASSED):
            lines.append(f"         {row.detail}")
    for note in outcome.notes:
        lines.append(f"note: {note}")
    summary = counts(outcome)
    lines.append("tests by group:")
    lines += [f"  {group}: {_line(c)}" for group, c in summary["tests"].items()]
    lines.append("steps by transaction:")
    lines += [f"  {kind}: {_line(c)}" for kind, c in summary["steps"].items()]
    if summary["outside_index"]:
        lines.append(f"  sections outside index.idx (not counted): "
                     f"{_line(summary['outside_index'])}")
    total_tests = Counter(test_verdict(r) for r in by_test(outcome).values())
    counted = decisive(outcome.rows)
    total_steps = Counter(row.verdict for row in counted)
    lines.append(f"{len(outcome.tests)} tests: {_line(total_tests)}; {len(counted)} "
                 f"steps: {_line(total_steps)}; {outcome.seconds:.1f} s")
    return "\n".join(lines)


def junit(outcome: Outcome, path: Path) -> None:
    """One testsuite per toolkit test, one testcase per step (classname: group.test.section),
    failure / error / skipped as JUnit viewers expect."""
    groups = {test.id: test.group for test in outcome.tests}
    total = Counter(row.verdict if row.indexed or row.verdict == PASSED else NOT_RUN
                    for row in outcome.rows)
    root = etree.Element("testsuites", name="xds-server conformance",
                         tests=str(len(outcome.rows)), failures=str(total[FAILED]),
                         errors=str(total[ERROR]), skipped=str(total[NOT_RUN]),
                         time=f"{outcome.seconds:.3f}")
    stamp = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
    for test, rows in by_test(outcome).items():
        mine = Counter(row.verdict if row.indexed or row.verdict == PASSED else NOT_RUN
                       for row in rows)
        suite = etree.SubElement(
            root, "testsuite", name=f"{groups.get(test, '')}/{test}".lstrip("/"),
            tests=str(len(rows)), failures=str(mine[FAILED]), errors=str(mine[ERROR]),
            skipped=str(mine[NOT_RUN]), time=f"{sum(r.seconds for r in rows):.3f}",
            timestamp=stamp)
        for row in rows:
            classname = ".".join(p for p in (row.group, row.test, row.section) if p)
            case = etree.SubElement(suite, "testcase", classname=classname, name=row.step,
                                    time=f"{row.seconds:.3f}")
            message = f"expected {row.expected}, got {row.got}: {row.detail}"[:500]
            if not row.indexed and row.verdict != PASSED:
                etree.SubElement(case, "skipped", message=f"outside index.idx (the toolkit "
                                 f"does not run it), {row.verdict}: {message}"[:500])
            elif row.verdict == FAILED:
                etree.SubElement(case, "failure", message=message,
                                 type=row.transaction).text = row.detail
            elif row.verdict == ERROR:
                etree.SubElement(case, "error", message=message,
                                 type="runner").text = row.detail
            elif row.verdict == NOT_RUN:
                etree.SubElement(case, "skipped", message=row.detail)
    if outcome.aborted:
        etree.SubElement(root, "system-err").text = outcome.aborted
    path.write_bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8",
                                    pretty_print=True))


def to_json(outcome: Outcome) -> dict:
    grouped = by_test(outcome)
    return {
        "tests": [{"id": test.id, "group": test.group, "title": test.title,
                   "verdict": test_verdict(grouped.get(test.id, [])),
                   "steps": [row.__dict__ for row in grouped.get(test.id, [])]}
                  for test in outcome.tests],
        "counts": counts(outcome),
        "notes": outcome.notes,
        "aborted": outcome.aborted,
        "seconds": round(outcome.seconds, 3),
    }


def write_json(outcome: Outcome, path: Path) -> None:
    path.write_text(json.dumps(to_json(outcome), indent=2) + "\n")
