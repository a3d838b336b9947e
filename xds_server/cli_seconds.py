"""A duration option: a finite number of seconds above 0. `nan` and `inf` passed click's
FloatRange and failed deep in the socket code as an internal error (issue 18, outsider m1)."""

from __future__ import annotations

import math

import click


class Seconds(click.ParamType):
    name = "seconds"

    def convert(self, value, param, ctx):  # type: ignore[no-untyped-def]
        if isinstance(value, int | float) and not isinstance(value, bool):
            seconds = float(value)
        else:
            try:
                seconds = float(str(value).strip())
            except ValueError:
                self.fail(f"{value!r} is not a number of seconds", param, ctx)
        if not math.isfinite(seconds) or seconds <= 0 or seconds > MAX_SECONDS:
            self.fail(f"{value!r}: give a number of seconds above 0 and at most "
                      f"{MAX_SECONDS:.0f}", param, ctx)
        return seconds


MAX_SECONDS = 7 * 24 * 3600.0     # a week: more is a typo, and overflows the socket's timer
SECONDS = Seconds()
