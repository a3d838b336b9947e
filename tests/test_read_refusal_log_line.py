"""A failed read's text log line names the uniqueIds asked (outsider F8): it said "1
document(s) asked and not served (unknown-document)" and which only the DICOM export told. The
list is bounded: the first LOGGED_IDS, then how many more (a request may ask hundreds)."""

from __future__ import annotations

import logging

from xds_server.repository.read_audit import (
    LOGGED_IDS,
    UNKNOWN_DOCUMENT,
    Unserved,
    log_unserved,
    records,
)
from xds_server.security.principal import Principal


def _line(caplog, asked: list[str]) -> str:
    caller = Principal("810000000001", "10", transaction="ITI-68")
    failures = records(caller, "ITI-68", "1.2.250.1.999.1.1.7", [],
                       [Unserved(u, "1.2.250.1.999.1.1.7", UNKNOWN_DOCUMENT) for u in asked],
                       {})
    with caplog.at_level(logging.WARNING, logger="xds_server.repository"):
        log_unserved(caller, "ITI-68", failures)
    lines = [r.getMessage() for r in caplog.records if "asked and not served" in r.getMessage()]
    assert len(lines) == 1, lines
    return lines[0]


def test_the_line_names_the_document_asked(caplog):
    line = _line(caplog, ["1.2.250.1.999.7.9.7"])
    assert line.endswith("from repository 1.2.250.1.999.1.1.7: 1.2.250.1.999.7.9.7"), line


def test_many_documents_are_named_up_to_a_bound(caplog):
    asked = [f"1.2.250.1.999.7.9.{n}" for n in range(LOGGED_IDS + 3)]
    line = _line(caplog, asked)
    assert ", ".join(asked[:LOGGED_IDS]) + " and 3 more" in line, line
    assert asked[LOGGED_IDS] not in line
