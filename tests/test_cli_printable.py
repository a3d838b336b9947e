"""What a server stored or answered is shown one line per row, its control characters escaped
(outsider 18f F5: a title holding a line break forged a row of `query`'s table showing a deleted
document as Approved; an ESC sequence drove the operator's terminal)."""

from __future__ import annotations

from xds_server.cli_consumer import table
from xds_server.cli_errors import refusal
from xds_server.cli_text import printable

FORGED = ("Note\nCompte rendu FAUX  CR d examens biologiques  20261103081500  Approved  N  -"
          "  1  1.2.250.1.999.7.1.2")


def test_a_title_with_a_line_break_stays_in_its_row():
    headers = ["title", "status", "uniqueId"]
    rows = [{"title": FORGED, "status": "Approved", "uniqueId": "1.2.3"},
            {"title": "a\x1b[31mred", "status": "Approved", "uniqueId": "1.2.4"}]
    lines = table(headers, rows)
    assert len(lines) == 3
    assert lines[1].startswith("Note\\nCompte rendu FAUX") and lines[1].endswith("1.2.3")
    assert "\x1b" not in lines[2] and "a\\x1b[31mred" in lines[2]


def test_printable_leaves_plain_text_and_accents_alone():
    assert printable("Compte rendu — éàü\u00a0x") == "Compte rendu — éàü\u00a0x"
    assert printable("a\tb\rc\x85d") == "a\\tb\\rc\\x85d"


def test_a_servers_refusal_is_one_line():
    said = refusal("XDSRegistryError: bad\nError: forged second line").format_message()
    assert "\n" not in said and "bad\\nError" in said
