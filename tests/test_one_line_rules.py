"""Outsider minors 7 and 15 (issue 18): a server's base URL takes no ?query or #fragment (the
server's answer was blamed on it), and a text log line is one line even when a driver's error
spans several (SQLAlchemy's "(Background on this error at: …)")."""

from __future__ import annotations

import logging

import pytest
from click.testing import CliRunner

from xds_server.cli import main
from xds_server.logs import formatter_for


@pytest.mark.parametrize("url", ["http://127.0.0.1:18080?x=1", "http://127.0.0.1:18080#frag",
                                 "http://127.0.0.1:18080/?", "http://h:1/x#"])
def test_a_base_url_with_a_query_or_fragment_is_refused(url, tmp_path):
    result = CliRunner().invoke(main, ["query", "--patient", "x^^^&1.2.3&ISO", "--server", url],
                                env={"XDS_DATA_DIR": str(tmp_path)})
    assert result.exit_code == 2, result.output
    assert "no ?query or #fragment" in result.output


def test_a_text_log_line_is_one_line():
    record = logging.LogRecord("xds_server.registry", logging.ERROR, __file__, 1,
                               "registry storage full: %s", ("disk full\n(Background on this "
                                                             "error at: https://sqlalche.me)",),
                               None)
    line = formatter_for("text").format(record)
    assert "\n" not in line and "disk full\\n(Background" in line


def test_an_ambiguous_uniqueid_names_a_few_entries_and_how_many_more():
    from xds_server.consumer.changes import Ambiguous, entry_for
    from xds_server.model.metadata import DocumentEntry

    entries = []
    for number in range(355):
        entry = DocumentEntry(entry_uuid=f"urn:uuid:{number:08d}-0000-0000-0000-000000000000")
        entry.unique_id = "1.2.3"
        entry.status = "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"
        entries.append(entry)
    with pytest.raises(Ambiguous) as refused:
        entry_for(entries, lambda _entry: True)
    text = str(refused.value)
    assert "and 350 more" in text and len(text) < 600 and "--entry" in text


def test_retrieve_out_dash_and_empty(tmp_path, capfdbinary):
    """--out - is the standard output (it made a file named '-'); --out '' is a usage error
    (it said ' is a directory')."""
    from xds_server.cli_errors import write_whole

    result = CliRunner().invoke(main, ["retrieve", "1.2.3", "--out", ""],
                                env={"XDS_DATA_DIR": str(tmp_path)})
    assert result.exit_code == 2 and "an empty name" in result.output
    from pathlib import Path

    write_whole(Path("-"), b"%PDF-1.4 document")
    assert capfdbinary.readouterr().out == b"%PDF-1.4 document"
    assert not Path("-").exists()


def test_serve_refuses_one_port_for_http_and_mllp(tmp_path):
    result = CliRunner().invoke(main, ["serve", "--port", "18986", "--mllp-port", "18986",
                                       "--data-dir", str(tmp_path / "var")],
                                env={"XDS_SECURITY": "none",
                                     "XDS_REQUIRE_SUBMISSION_SIGNATURE": "false"})
    assert result.exit_code == 2, result.output
    assert "is --port too" in result.output and not (tmp_path / "var").exists()


def test_retrieve_says_a_hidden_document_as_the_other_commands_do():
    """README: a document hidden from the caller is 'not one you may see'; retrieve said only
    that the registry knows none (minor 16)."""
    from xds_server.consumer.queries import registered_entry

    class _Registry:
        def call(self, *_args, **_kwargs):
            from lxml import etree

            return type("Reply", (), {"payload": etree.Element("AdhocQueryResponse")})()

    with pytest.raises(LookupError, match="or not one you may see"):
        registered_entry(_Registry(), "1.2.250.1.999.7.3.1")
