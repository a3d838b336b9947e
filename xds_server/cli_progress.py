"""A progress bar for long commands (bulk submit, conformance runs, kit install): tqdm on
stderr when it is a terminal, nothing otherwise (logs, pipes and CI stay one line per item)."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import click

T = TypeVar("T")


class Progress:
    """A counted bar; `say` prints a line above it (or plainly, without a bar)."""

    def __init__(self, total: int | None, label: str, unit: str) -> None:
        from tqdm import tqdm

        self._tqdm = tqdm
        self._bar = tqdm(total=total, desc=label, unit=f" {unit}", file=sys.stderr,
                         disable=not _interactive(), leave=False,
                         dynamic_ncols=True)

    def advance(self, count: int = 1) -> None:
        self._bar.update(count)

    def say(self, line: str, err: bool = False) -> None:
        if self._bar.disable:
            click.echo(line, err=err)
        else:
            self._tqdm.write(line, file=sys.stderr if err else sys.stdout)

    def close(self) -> None:
        self._bar.close()


def _interactive() -> bool:
    return bool(getattr(sys.stderr, "isatty", lambda: False)())


@contextmanager
def progress(total: int | None, label: str, unit: str = "item") -> Iterator[Progress]:
    bar = Progress(total, label, unit)
    try:
        yield bar
    finally:
        bar.close()


def tracked(items: Iterable[T], total: int, label: str, unit: str = "item") -> Iterator[T]:
    with progress(total, label, unit) as bar:
        for item in items:
            yield item
            bar.advance()
