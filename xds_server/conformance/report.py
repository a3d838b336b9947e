"""The runner's table: scenario / step / expected / got / verdict, and a summary line."""

from __future__ import annotations

from collections.abc import Sequence

from .runner import Row


def format_table(rows: Sequence[Row], verbose: bool = False) -> str:
    headers = ("scenario", "step", "expected", "got", "verdict")
    cells = [(r.scenario, r.step, r.expected, r.got[:60], "ok" if r.passed else "FAIL")
             for r in rows]
    widths = [max([len(h)] + [len(c[i]) for c in cells]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    for row, cell in zip(rows, cells, strict=True):
        lines.append("  ".join(c.ljust(w) for c, w in zip(cell, widths, strict=True)).rstrip())
        if row.detail and (verbose or not row.passed):
            lines.append(f"    {row.detail}")
    passed = sum(r.passed for r in rows)
    lines.append(f"{passed} passed, {len(rows) - passed} failed")
    return "\n".join(lines)
