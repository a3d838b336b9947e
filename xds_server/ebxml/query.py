"""query:AdhocQueryRequest → the typed stored query (model/stored_queries.py).

Values keep the stored-query syntax decoded: `('a','b')` → ['a', 'b'], `'a'` → ['a'],
`200412` → ['200412']. Each rim:Slot is kept apart, because a parameter repeated in several slots
means AND where one slot's list means OR (ITI TF-2 §3.18.4.1.2.3.5); the typed query's rules
(model/stored_queries.parse) then check and convert them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from lxml import etree

from ..model.stored_queries import StoredQuery, parse
from .namespaces import query, rim


class QuerySyntaxError(ValueError):
    pass


@dataclass
class AdhocQuery:
    query_id: str
    return_type: str = "LeafClass"
    home: str | None = None
    slots: dict[str, list[list[str]]] = field(default_factory=dict)


# a list of plain quoted items, the usual form: ('a') or ('a', 'b'), no quote inside an item
_PLAIN_LIST = re.compile(r"\(\s*'[^']*'(?:\s*,\s*'[^']*')*\s*\)")
_PLAIN_ITEM = re.compile(r"'([^']*)'")


def parse_values(text: str) -> list[str]:
    """One rim:Value in stored-query syntax → its items."""
    text = text.strip()
    if text.startswith("(") and text.endswith(")"):
        if _PLAIN_LIST.fullmatch(text):      # the usual case, without the character walk
            return _PLAIN_ITEM.findall(text)
        return [_unquote(item) for item in _split(text[1:-1]) if item.strip()]
    return [_unquote(text)]


def _split(body: str) -> list[str]:
    items, current, quoted = [], [], False
    i = 0
    while i < len(body):
        char = body[i]
        if char == "'":
            if quoted and i + 1 < len(body) and body[i + 1] == "'":  # '' is an escaped quote
                current.append("''")
                i += 2
                continue
            quoted = not quoted
        if char == "," and not quoted:
            items.append("".join(current))
            current = []
        else:
            current.append(char)
        i += 1
    if quoted:
        raise QuerySyntaxError(f"unbalanced quote in ({body})")
    items.append("".join(current))
    return items


def _unquote(item: str) -> str:
    item = item.strip()
    if len(item) >= 2 and item[0] == "'" and item[-1] == "'":
        return item[1:-1].replace("''", "'")
    if len(item) >= 2 and item[0] == "\u2018" and item[-1] == "\u2019":
        return item[1:-1]  # typographic quotes, as in the IHE ITI-18 example
    return item


def decode_adhoc_query(request: etree._Element) -> AdhocQuery:
    if request.tag != query("AdhocQueryRequest"):
        raise QuerySyntaxError(f"expected query:AdhocQueryRequest, got {request.tag}")
    adhoc = request.find(rim("AdhocQuery"))
    if adhoc is None:
        raise QuerySyntaxError("query:AdhocQueryRequest has no rim:AdhocQuery")
    option = request.find(query("ResponseOption"))
    result = AdhocQuery((adhoc.get("id") or "").strip(),
                        (option.get("returnType") if option is not None else None) or "LeafClass",
                        adhoc.get("home"))
    for slot in adhoc.findall(rim("Slot")):
        values: list[str] = []
        for value in slot.iter(rim("Value")):
            values += parse_values(value.text or "")
        result.slots.setdefault(slot.get("name") or "", []).append(values)
    return result


def decode_stored_query(request: etree._Element) -> StoredQuery:
    """The typed query a query:AdhocQueryRequest asks; QuerySyntaxError for a request that is
    not one, RegistryFailure for parameters the query's rules refuse."""
    adhoc = decode_adhoc_query(request)
    return parse(adhoc.query_id, adhoc.slots, adhoc.return_type)
