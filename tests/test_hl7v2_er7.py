"""Reading ER7 positions (hl7v2/er7.py) and writing ACKs (hl7v2/ack.py), without a server."""

from __future__ import annotations

import pytest

from xds_server.hl7v2.ack import AE, Problem, acknowledgement, escape
from xds_server.hl7v2.er7 import Er7Error, header_of, parse

MESSAGE = (b"MSH|^~\\&|APP|FAC|RCV|RF|20260101||ADT^A28^ADT_A05|C1|P|2.5^FRA^2.11|||||FRA|"
           b"UNICODE UTF-8\r"
           b"PID|1||a1^^^NS&1.2.3&ISO^PI~b2^^^&1.2.250.1.213.1.4.8&ISO^INS||"
           b"DUPONT\\S\\X^JEAN\\T\\PAUL^^^^^L||19800101|M\r")


def test_positions_as_hl7_numbers_them():
    message = parse(MESSAGE)
    pid = message.first("PID")
    v = message.value
    assert v(pid, 3, 1, 1) == "a1" and v(pid, 3, 1, 2) == "b2"
    assert v(pid, 3, 4, 2, 2) == "1.2.250.1.213.1.4.8" and v(pid, 3, 5, 2) == "INS"
    assert v(pid, 3, 1, 3) == "" and v(pid, 3, 9) == "" and v(pid, 40) == ""
    assert list(message.repetitions(pid, 3)) == [1, 2]
    assert v(pid, 5, 1) == "DUPONT^X" and v(pid, 5, 2) == "JEAN&PAUL"   # escapes undone
    header = message.header()
    assert (header.message_type, header.trigger_event, header.structure) == \
        ("ADT", "A28", "ADT_A05")
    assert (header.control_id, header.version, header.country) == ("C1", "2.5", "FRA")
    assert header.sender == "APP^FAC"


def test_other_encoding_characters():
    message = parse(b"MSH#$%*@#A#B#C#D#1##ADT$A31#C2#P#2.5\rPID#1##x$$$@1.2.3@ISO\r")
    pid = message.first("PID")
    assert message.header().trigger_event == "A31"
    assert message.value(pid, 3, 4, 1, 2) == "1.2.3"


@pytest.mark.parametrize("data", [b"", b"MSH", b"XYZ|^~\\&|", b"\x00\x01MSH|"])
def test_no_header(data):
    assert header_of(data) is None
    with pytest.raises(Er7Error) as error:
        parse(data)
    assert error.value.code == "100"


def test_ack_escapes_what_it_quotes():
    header = header_of(MESSAGE)
    reply = acknowledgement(header, AE, [Problem("103", "PID^1^3^2", "a|b^c&d~e\\f\nnext")])
    segments = reply.decode().split("\r")
    assert segments[0].startswith("MSH|^~\\&|RCV|RF|APP|FAC|") and "|ACK^A28^ACK|" in segments[0]
    assert segments[1] == "MSA|AE|C1"
    assert segments[2].split("|")[8] == escape("a|b^c&d~e\\f\nnext")
    assert segments[2].split("|")[8] == "a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f next"
    assert segments[2].split("|")[3] == "103^Table value not found^HL70357"
