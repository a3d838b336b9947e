"""Stored-query values: the fast path for plain quoted lists gives what the general parser does."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from xds_server.ebxml import query


def _general(text: str) -> list[str]:
    text = text.strip()
    return [query._unquote(item) for item in query._split(text[1:-1]) if item.strip()]


@settings(max_examples=400, deadline=None)
@given(items=st.lists(st.text(alphabet="ab ,'()x^&.\u2018\u2019", max_size=6), max_size=4),
       separator=st.sampled_from([",", " , ", ",  "]), padding=st.sampled_from(["", " "]))
def test_plain_lists_read_as_the_general_parser_reads_them(items, separator, padding):
    text = "(" + padding + separator.join(f"'{item}'" for item in items) + padding + ")"
    try:
        expected = _general(text)
    except query.QuerySyntaxError:
        return
    assert query.parse_values(text) == expected


def test_the_usual_forms():
    assert query.parse_values("('a^^^&1.2&ISO')") == ["a^^^&1.2&ISO"]
    assert query.parse_values("('a', 'b')") == ["a", "b"]
    assert query.parse_values("('')") == [""]
    assert query.parse_values("('it''s')") == ["it's"]
    assert query.parse_values("(200412, 'x')") == ["200412", "x"]
