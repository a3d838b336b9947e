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


class Segment:
    """One segment: its fields as written, split further only when a position is asked."""

    __slots__ = ("fields", "name")

    def __init__(self, line: str, field_separator: str) -> None:
        self.fields = line.split(field_separator)
        self.name = self.fields[0]

    def field(self, number: int) -> str:
        """Field `number` as written (MSH counted as HL7 does: MSH-1 is the separator)."""
        index = number - 1 if self.name == "MSH" else number
        if self.name == "MSH" and number == 1:
            return ""
        return self.fields[index] if 0 < index < len(self.fields) else ""


class Message:
    """A message's segments. Positions are read by splitting a field on the encoding
    characters of MSH-2 when asked (a 60 KB CDA in OBX-5 is never split character by
    character); escape sequences are undone by python-hl7, with those characters."""

    def __init__(self, segments: list[Segment], escapes: hl7.Message) -> None:
        self.all = segments
        self.escapes = escapes
        encoding = segments[0].fields[1] if len(segments[0].fields) > 1 else "^~\\&"
        encoding = (encoding + "^~\\&"[len(encoding):])[:4]
        self.component, self.repetition, self.escape, self.subcomponent = encoding

    def segments(self, name: str) -> list[Segment]:
        return [segment for segment in self.all if segment.name == name]

    def first(self, name: str) -> Segment | None:
        return next((segment for segment in self.all if segment.name == name), None)

    def names(self) -> list[str]:
        return [segment.name for segment in self.all]

    def raw(self, segment: Segment | None, field: int, component: int = 1,
            repetition: int = 1, subcomponent: int = 1) -> str:
        """The value at a position as written (escape sequences kept); '' when absent."""
        if segment is None:
            return ""
        if segment.name == "MSH" and field == 2:
            return segment.fields[1] if len(segment.fields) > 1 else ""
        value = segment.field(field)
        for separator, index in ((self.repetition, repetition), (self.component, component),
                                 (self.subcomponent, subcomponent)):
            if separator not in value:
                if index != 1:
                    return ""
                continue
            parts = value.split(separator)
            if index > len(parts):
                return ""
            value = parts[index - 1]
        return value

    def value(self, segment: Segment | None, field: int, component: int = 1,
              repetition: int = 1, subcomponent: int = 1) -> str:
        """One value, unescaped; '' when absent."""
        raw = self.raw(segment, field, component, repetition, subcomponent)
        return self.escapes.unescape(raw) if self.escape in raw else raw

    def repetitions(self, segment: Segment | None, field: int) -> Iterator[int]:
        """The repetition numbers of a field that hold something."""
        if segment is None:
            return iter(())
        count = segment.field(field).count(self.repetition) + 1
        return iter(n for n in range(1, count + 1) if self.raw(segment, field, 1, n)
                    or self.raw(segment, field, 4, n))

    def header(self) -> Header:
        msh = self.first("MSH")
        assert msh is not None
        v = self.value
        return Header(v(msh, 3), v(msh, 4), v(msh, 5), v(msh, 6), v(msh, 9, 1), v(msh, 9, 2),
                      v(msh, 9, 3), v(msh, 10), v(msh, 11), v(msh, 12), v(msh, 18),
                      v(msh, 17))


def _message(lines: list[str]) -> Message:
    separator = lines[0][3:4]
    try:
        escapes = hl7.parse(lines[0])
    except Exception:        # python-hl7 raises several kinds on a broken MSH
        raise Er7Error("MSH cannot be read", "102", "MSH") from None
    return Message([Segment(line, separator) for line in lines], escapes)


def encoding_problem(msh: str) -> str:
    """What is wrong with MSH-1/MSH-2 ('' when nothing): the field separator and the four
    encoding characters (component, repetition, escape, subcomponent; v2.7's truncation
    character may follow), all different, none a letter, digit, space or line break. A
    duplicated one makes positions ambiguous (a '^~' message would be read with the default
    escape and subcomponent characters, not the sender's)."""
    separator = msh[3:4]
    encoding = msh[4:].split(separator, 1)[0] if separator else ""
    characters = separator + encoding
    if len(encoding) not in (4, 5):
        return f"MSH-2 is '{encoding}': four encoding characters (^~\\&)"
    if len(set(characters)) != len(characters) or any(c.isalnum() or c.isspace()
                                                       for c in characters):
        return (f"MSH-1 and MSH-2 are '{characters}': the separators must be different "
                "characters, none a letter, digit or space")
    return ""


def header_of(data: bytes) -> Header | None:
    """MSH read from raw bytes, before anything else is (so even a message refused whole is
    answered to its sender, with its control id); None when there is no readable MSH. With
    broken encoding characters, the fields as written (split on the field separator only)."""
    first = _SEGMENT_BREAK.split(data[:4096], maxsplit=1)[0]
    if not first.startswith(b"MSH") or len(first) < 8:
        return None
    text = first.decode("latin-1")
    if not encoding_problem(text):
        try:
            return _message([text]).header()
        except Exception:        # a broken MSH, whatever breaks in it
            pass
    fields = ["", *text.split(text[3], 11)[1:]] if not text[3].isalnum() else []
    if len(fields) < 10:
        return None
    part = (fields + [""] * 13)
    kind = part[8].split(text[4:5] or "^")
    return Header(part[2], part[3], part[4], part[5], kind[0][:16],
                  kind[1][:16] if len(kind) > 1 else "", "", part[9][:200], part[10][:8],
                  part[11].split(text[4:5] or "^")[0][:16], "", "")


def parse(data: bytes) -> Message:
    """The message, or Er7Error with the HL7 error code and where."""
    header = header_of(data)
    if header is None:
        raise Er7Error("the message does not start with a readable MSH segment", "100", "MSH")
    problem = encoding_problem(data[:16].decode("latin-1"))
    if problem:
        raise Er7Error(problem, "102", "MSH^1^2")
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
    return _message(lines)
