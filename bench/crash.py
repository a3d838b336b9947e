"""Crash campaign at benchmark scale: more SIGKILLs than the suite (6 a database), either database.

    .venv/bin/python bench/crash.py [--kills 200] [--database postgresql|sqlite]

Prints kills, acknowledged documents, and any lost, altered or unregistered ones (all must be 0).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from registry import postgres_url  # noqa: E402

from tests.crash import run_crash_campaign  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kills", type=int, default=200)
    parser.add_argument("--database", choices=("postgresql", "sqlite"), default="postgresql")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-crash-") as tmp:
        url = postgres_url("bench_crash") if args.database == "postgresql" \
            else f"sqlite:///{tmp}/registry.sqlite3"
        report = run_crash_campaign(url, Path(tmp) / "var", args.kills)
    print(f"crash campaign on {args.database}: {report.kills} SIGKILLs in {report.seconds:.0f} s, "
          f"{report.acknowledged} acknowledged documents; lost {len(report.lost)}, altered "
          f"{len(report.altered)}, unregistered files {len(report.unregistered)}")
    if report.lost or report.altered or report.unregistered:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
