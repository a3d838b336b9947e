"""The reply envelope is written from a template: the same bytes build_envelope would give."""

from __future__ import annotations

import pytest
from lxml import etree

from xds_server.soap import envelope as env


@pytest.mark.parametrize("relates_to", [None, "urn:uuid:1", "id<&>\r'\"é"])
def test_the_template_writes_what_the_tree_would(monkeypatch, relates_to):
    monkeypatch.setattr(env, "new_message_id", lambda: "urn:uuid:fixed&<")
    payload = etree.fromstring('<q:Answer xmlns:q="urn:x" a="1">text &amp; more<q:b/></q:Answer>')
    expected = etree.tostring(env.build_envelope(
        etree.fromstring(etree.tostring(payload)), action="urn:act&ion",
        message_id="urn:uuid:fixed&<", relates_to=relates_to),
        xml_declaration=True, encoding="UTF-8")
    written = env.reply_envelope([etree.tostring(payload)], action="urn:act&ion",
                                 relates_to=relates_to)
    assert written == expected
