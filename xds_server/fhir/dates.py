"""FHIR date search (R4 §3.1.1.4.2) → the registry's time bounds (14-digit UTC keys, From
inclusive, To exclusive, as ITI-18 compares them).

A search value is a range at its own precision: `2025` is all of 2025, `2025-04-25` that
day, `2025-04-25T08:30Z` that minute. The prefixes compare against the range's ends:

| prefix | lower bound (From) | upper bound (To) |
|---|---|---|
| eq (none) | start of the range | end of the range |
| ge | start | — |
| gt | end | — |
| le | — | end |
| lt | — | start |

A value without a time (and so without a zone) is read in UTC, the zone the registry stores
its times in (docs/fhir.md). Every calendar and range error (2024-02-30, year 0, a zone
beyond ±14:00) is the caller's mistake: DateError, which the front answers as a 400 naming
the parameter; nothing here can raise anything else (tests/test_fhir_dates.py fuzzes it).
"""

from __future__ import annotations

import datetime as dt
import re

PREFIXES = ("eq", "ge", "gt", "le", "lt")
END_OF_TIME = "99999999999999"     # above every DTM: a bound past 9999 that still compares

_VALUE = re.compile(
    r"(?P<year>\d{4})(?:-(?P<month>\d{2})(?:-(?P<day>\d{2})"
    r"(?:T(?P<hour>\d{2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?:\.\d{1,9})?)?"
    r"(?P<zone>Z|[+-]\d{2}:\d{2}))?)?)?", re.ASCII)


class DateError(ValueError):
    """A date search value the caller got wrong; its text says how."""


def _zone(text: str) -> dt.timezone:
    if text == "Z":
        return dt.UTC
    hours, minutes = int(text[1:3]), int(text[4:6])
    if hours > 14 or minutes > 59:
        raise DateError(f"time zone '{text}' is not between -14:00 and +14:00")
    offset = dt.timedelta(hours=hours, minutes=minutes)
    return dt.timezone(-offset if text[0] == "-" else offset)


def utc_dtm(moment: dt.datetime) -> str | None:
    """An aware moment as a 14-digit UTC DTM, or None when in UTC it falls outside years
    0001-9999 (0001-01-01T00:00:00+14:00, 9999-12-31T23:59:59-14:00). Written digit by digit:
    strftime's %Y does not pad years below 1000 ('10101000000' for 0001-01-01, which reached
    the registry's time check as an 11-digit key, issue 16 re-test M4/m1)."""
    try:
        utc = moment.astimezone(dt.UTC)
    except OverflowError:
        return None
    return f"{utc.year:04d}{utc.month:02d}{utc.day:02d}{utc.hour:02d}{utc.minute:02d}" \
        f"{utc.second:02d}"


def _key(moment: dt.datetime) -> str:
    """The UTC key of an aware moment; past 9999 it is END_OF_TIME, before year 1 zero."""
    key = utc_dtm(moment)
    if key is None:
        return END_OF_TIME if moment.year > 1 else "00000000000000"
    return key


def _add(moment: dt.datetime, parts: dict[str, str | None]) -> dt.datetime | None:
    """The first moment after the range `moment` opens at the precision given; None when
    that is past the calendar's end (9999-12-31T23:59:59)."""
    try:
        if parts["month"] is None:
            return moment.replace(year=moment.year + 1)
        if parts["day"] is None:
            month = moment.month % 12 + 1
            year = moment.year + (moment.month == 12)
            return moment.replace(year=year, month=month)
        step = dt.timedelta(days=1) if parts["hour"] is None else \
            dt.timedelta(minutes=1) if parts["second"] is None else dt.timedelta(seconds=1)
        return moment + step
    except (OverflowError, ValueError):
        return None


def date_range(text: str) -> tuple[str, str]:
    """(start, end) of the range a FHIR date or dateTime search value names, as keys."""
    match = _VALUE.fullmatch(text)
    if match is None:
        raise DateError(f"'{text}' is not a FHIR date (YYYY, YYYY-MM, YYYY-MM-DD, or "
                        "YYYY-MM-DDThh:mm[:ss]Z or ±hh:mm)")
    parts = match.groupdict()
    zone = _zone(parts["zone"]) if parts["zone"] else dt.UTC
    try:
        start = dt.datetime(int(parts["year"]), int(parts["month"] or 1),
                            int(parts["day"] or 1), int(parts["hour"] or 0),
                            int(parts["minute"] or 0), int(parts["second"] or 0),
                            tzinfo=zone)
    except ValueError as exc:
        raise DateError(f"'{text}' is not a calendar date ({exc})") from None
    end = _add(start, parts)
    return _key(start), END_OF_TIME if end is None else _key(end)


def search_bounds(values: list[str]) -> tuple[str | None, str | None]:
    """(From, To) of all the values of one date parameter together (each narrows: AND)."""
    low: str | None = None
    high: str | None = None
    for value in values:
        prefix, text = (value[:2], value[2:]) if value[:2].isalpha() else ("eq", value)
        if prefix not in PREFIXES:
            raise DateError(f"date prefix '{prefix}' is not served ({', '.join(PREFIXES)})")
        start, end = date_range(text)
        lower = {"eq": start, "ge": start, "gt": end}.get(prefix)
        upper = {"eq": end, "le": end, "lt": start}.get(prefix)
        if lower is not None:
            low = lower if low is None else max(low, lower)
        if upper is not None:
            high = upper if high is None else min(high, upper)
    return low, high
