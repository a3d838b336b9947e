"""HL7 v2 messages in their pipe-and-hat form (ER7), read with python-hl7: the bytes decoded
with the character set MSH-18 names, segments split on CR (a LF or CRLF, as files and some
senders use, counts as one), and every value read through a position (field, repetition,
component, subcomponent: 1-based as HL7 numbers them) with the escape sequences (\\F\\, \\S\\,
\\T\\, \\R\\, \\E\\, \\X..\\) undone. Positions are HL7's, so the rules of messages.py read like the
specifications they follow.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import hl7

# MSH-18 → Python codec; an absent MSH-18 is ASCII in HL7, read as UTF-8 (a superset) here
CHARSETS = {"": "utf-8", "ASCII": "ascii", "UNICODE UTF-8": "utf-8", "UTF-8": "utf-8",
            "8859/1": "latin-1", "8859/15": "iso8859-15"}
_SEGMENT_BREAK = re.compile(rb"\r\n|\n\r|\n|\r")
_TEXT_SEGMENT_BREAK = re.compile("\r\n|\n\r|\n|\r")
_SEGMENT_ID = re.compile(r"[A-Z][A-Z0-9]{2}")


class Er7Error(ValueError):
    """Not a message this server can read; `code` is the HL7 error code (table 0357)."""

    def __init__(self, message: str, code: str = "102", location: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.location = location


@dataclass(frozen=True)
class Header:
    """MSH, as the acknowledgement and the message log need it."""

    sending_application: str
    sending_facility: str
    receiving_application: str
    receiving_facility: str
    message_type: str          # MSH-9.1
    trigger_event: str         # MSH-9.2
    structure: str             # MSH-9.3
    control_id: str            # MSH-10
    processing_id: str         # MSH-11
    version: str               # MSH-12.1
    charset: str               # MSH-18
    country: str = ""          # MSH-17

    @property
    def sender(self) -> str:
        """Who sent it, for the message log and the audit trail: application^facility."""
        return f"{self.sending_application}^{self.sending_facility}"


class Message:
    def __init__(self, parsed: hl7.Message) -> None:
        self.parsed = parsed

    def segments(self, name: str) -> list[hl7.Segment]:
        return [segment for segment in self.parsed if str(segment[0]) == name]

    def first(self, name: str) -> hl7.Segment | None:
        found = self.segments(name)
        return found[0] if found else None

    def names(self) -> list[str]:
        return [str(segment[0]) for segment in self.parsed]

    def value(self, segment: hl7.Segment | None, field: int, component: int = 1,
              repetition: int = 1, subcomponent: int = 1) -> str:
        """One value, unescaped; '' when absent."""
        raw = raw_value(segment, field, component, repetition, subcomponent)
        return self.parsed.unescape(raw) if "\\" in raw else raw

    def repetitions(self, segment: hl7.Segment | None, field: int) -> Iterator[int]:
        """The repetition numbers of a field that hold something."""
        if segment is None or len(segment) <= field:
            return iter(())
        count = len(segment[field])
        return iter(n for n in range(1, count + 1) if raw_value(segment, field, 1, n)
                    or raw_value(segment, field, 4, n))

    def header(self) -> Header:
        msh = self.first("MSH")
        assert msh is not None
        v = self.value
        return Header(v(msh, 3), v(msh, 4), v(msh, 5), v(msh, 6), v(msh, 9, 1), v(msh, 9, 2),
                      v(msh, 9, 3), v(msh, 10), v(msh, 11), v(msh, 12), v(msh, 18),
                      v(msh, 17))


def raw_value(segment: hl7.Segment | None, field: int, component: int = 1,
              repetition: int = 1, subcomponent: int = 1) -> str:
    """The value at a position as written (escape sequences kept). python-hl7 nests field →
    repetition → component → subcomponent, a level being a plain string when it has no
    separator: the walk stops there (the rest of the position must then be 1)."""
    if segment is None or len(segment) <= field:
        return ""
    if str(segment[0]) == "MSH" and field <= 2:
        return str(segment[field])
    value = segment[field]
    for index in (repetition, component, subcomponent):
        if isinstance(value, str):
            return value if index == 1 else ""
        if len(value) < index:
            return ""
        value = value[index - 1]
    return str(value)


def header_of(data: bytes) -> Header | None:
    """MSH read from raw bytes, before anything else is (so even a message refused whole is
    answered to its sender, with its control id); None when there is no readable MSH."""
    first = _SEGMENT_BREAK.split(data[:4096], maxsplit=1)[0]
    if not first.startswith(b"MSH") or len(first) < 8:
        return None
    try:
        return Message(hl7.parse(first.decode("latin-1"))).header()
    except Exception:        # python-hl7 raises several kinds on a broken MSH
        return None


def parse(data: bytes) -> Message:
    """The message, or Er7Error with the HL7 error code and where."""
    header = header_of(data)
    if header is None:
        raise Er7Error("the message does not start with a readable MSH segment", "100", "MSH")
    codec = CHARSETS.get(header.charset.strip().upper())
    if codec is None:
        raise Er7Error(f"character set '{header.charset}' (MSH-18) is not one this server "
                       f"reads ({', '.join(c for c in CHARSETS if c)})", "103", "MSH^1^18")
    try:
        text = data.decode(codec)
    except UnicodeDecodeError as exc:
        raise Er7Error(f"the message is not {header.charset or 'UTF-8'} text (MSH-18): byte "
                       f"{exc.start}", "102", "MSH^1^18") from None
    lines = [line for line in _TEXT_SEGMENT_BREAK.split(text) if line and not line.isspace()]
    separator = text[3:4]
    for number, line in enumerate(lines, 1):
        if not _SEGMENT_ID.fullmatch(line[:3]) or (len(line) > 3 and line[3] != separator):
            raise Er7Error(f"segment {number} is not a segment (a 3-character id and the "
                           "field separator)", "100", f"{line[:3]}^{number}")
    try:
        parsed = hl7.parse("\r".join(lines))
    except Exception as exc:     # python-hl7's ParseException and its IndexErrors alike
        raise Er7Error(f"the message cannot be parsed: {exc}", "102", "MSH") from None
    return Message(parsed)
