"""The acknowledgement of a message (HL7 v2.5 ACK, original mode): MSH answering the sender,
MSA with AA (done), AE (refused: the content is wrong, sending it again will not help) or AR
(rejected: the message itself cannot be processed, or cannot be now), and one ERR per problem
with its HL7 error code (table 0357), its location (segment^sequence^field^repetition^
component) and a text that names the document or identifier concerned, never another patient.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from .er7 import Header

AA, AE, AR = "AA", "AE", "AR"

# HL7 table 0357, the codes this server answers with
MESSAGE_ACCEPTED = "0"
SEGMENT_SEQUENCE_ERROR = "100"
REQUIRED_FIELD_MISSING = "101"
DATA_TYPE_ERROR = "102"
TABLE_VALUE_NOT_FOUND = "103"
UNSUPPORTED_MESSAGE_TYPE = "200"
UNSUPPORTED_EVENT_CODE = "201"
UNSUPPORTED_PROCESSING_ID = "202"
UNSUPPORTED_VERSION_ID = "203"
UNKNOWN_KEY_IDENTIFIER = "204"
DUPLICATE_KEY_IDENTIFIER = "205"
APPLICATION_RECORD_LOCKED = "206"
APPLICATION_INTERNAL_ERROR = "207"

CODE_TEXT = {
    MESSAGE_ACCEPTED: "Message accepted", SEGMENT_SEQUENCE_ERROR: "Segment sequence error",
    REQUIRED_FIELD_MISSING: "Required field missing", DATA_TYPE_ERROR: "Data type error",
    TABLE_VALUE_NOT_FOUND: "Table value not found",
    UNSUPPORTED_MESSAGE_TYPE: "Unsupported message type",
    UNSUPPORTED_EVENT_CODE: "Unsupported event code",
    UNSUPPORTED_PROCESSING_ID: "Unsupported processing id",
    UNSUPPORTED_VERSION_ID: "Unsupported version id",
    UNKNOWN_KEY_IDENTIFIER: "Unknown key identifier",
    DUPLICATE_KEY_IDENTIFIER: "Duplicate key identifier",
    APPLICATION_RECORD_LOCKED: "Application record locked",
    APPLICATION_INTERNAL_ERROR: "Application internal error",
}
ERROR, WARNING, INFORMATION = "E", "W", "I"


@dataclass(frozen=True)
class Problem:
    """One ERR segment: code (0357), where (ERR-2: SEG^seq^field[^rep^comp]), the text."""

    code: str
    location: str
    text: str
    severity: str = ERROR


class Refused(Exception):
    """A message answered AE (or AR with `reject`) with these problems."""

    def __init__(self, *problems: Problem, reject: bool = False) -> None:
        super().__init__("; ".join(p.text for p in problems))
        self.problems = list(problems)
        self.reject = reject


def escape(text: str) -> str:
    """Text as an HL7 value (ERR-8): the separators escaped, line breaks as spaces."""
    out = text.replace("\\", "\\E\\").replace("|", "\\F\\").replace("^", "\\S\\")
    out = out.replace("&", "\\T\\").replace("~", "\\R\\")
    return " ".join(out.split())[:2000]


def _location(location: str) -> str:
    """ERR-2 (ERL): SEG^sequence^field^repetition^component, each part escaped."""
    return "^".join(escape(part) for part in location.split("^")) if location else ""


def acknowledgement(header: Header | None, code: str, problems: list[Problem],
                    received: dt.datetime | None = None) -> bytes:
    """The ACK bytes (segments separated by CR, UTF-8) for a message with this MSH (None: a
    message whose MSH could not be read, answered with what is known)."""
    now = (received or dt.datetime.now(dt.UTC)).strftime("%Y%m%d%H%M%S")
    h = header
    event = h.trigger_event if h is not None else ""
    msh = ["MSH", "^~\\&",
           escape(h.receiving_application) if h else "XDS-SERVER",
           escape(h.receiving_facility) if h else "",
           escape(h.sending_application) if h else "", escape(h.sending_facility) if h else "",
           now, "", f"ACK^{escape(event)}^ACK" if event else "ACK",
           f"ACK{secrets.token_hex(9)[:17]}", escape(h.processing_id) if h and
           h.processing_id else "P", escape(h.version) if h and h.version else "2.5",
           "", "", "", "", escape(h.country) if h else "", "UNICODE UTF-8"]
    segments = ["|".join(msh),
                "|".join(["MSA", code, escape(h.control_id) if h else ""])]
    for problem in problems:
        segments.append("|".join(["ERR", "", _location(problem.location),
                                  f"{problem.code}^{CODE_TEXT.get(problem.code, '')}^HL70357",
                                  problem.severity, "", "", "", escape(problem.text)]))
    return ("\r".join(segments) + "\r").encode("utf-8")
