"""Placeholder substitution the toolkit's way (its Linkage): every `$name$` (or any other symbol
a testplan declares) is replaced in the text and attribute values of the message, except inside
the testplan's own instructions and the xds-b Document elements (their content is the bytes)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping

from lxml import etree

XDSB = "urn:ihe:iti:xds-b:2007"
_SKIPPED = {"Report", "UseReport", "UseId"}
PLACEHOLDER = re.compile(r"\$[A-Za-z_][A-Za-z0-9_.]*\$")


def _skipped(element: etree._Element) -> bool:
    qname = etree.QName(element)
    return qname.localname in _SKIPPED or (qname.localname == "Document"
                                           and qname.namespace == XDSB)


def replace(root: etree._Element, values: Mapping[str, str]) -> None:
    """Replace each symbol by its value everywhere in `root` (in place)."""
    pairs = [(symbol, value) for symbol, value in values.items() if symbol and value is not None]
    if not pairs:
        return
    stack = [root]
    while stack:
        element = stack.pop()
        if not isinstance(element.tag, str) or _skipped(element):
            continue
        element.text = _replace_in(element.text, pairs)
        for name, value in element.attrib.items():
            changed = _replace_in(value, pairs)
            if changed != value:
                element.set(name, changed)
        for child in element:
            child.tail = _replace_in(child.tail, pairs) if child.tail else child.tail
            stack.append(child)


def unfilled(root: etree._Element) -> list[str]:
    """The `$name$` placeholders still in `root` once every value was filled (where `replace`
    looks): a message holding one would send the toolkit's symbol as a value."""
    found: list[str] = []
    stack = [root]
    while stack:
        element = stack.pop()
        if not isinstance(element.tag, str) or _skipped(element):
            continue
        for text in (element.text, element.tail, *element.attrib.values()):
            found += PLACEHOLDER.findall(text or "")
        stack.extend(element)
    return sorted(set(found))


def _replace_in(text: str | None, pairs: list[tuple[str, str]]) -> str | None:
    if not text:
        return text
    for symbol, value in pairs:
        if symbol in text:
            text = text.replace(symbol, value)
    return text


def hl7_now(moment: dt.datetime | None = None) -> str:
    """The toolkit's Hl7Date: yyyyMMddHHmmss (UTC here, as XDS metadata times are)."""
    return (moment or dt.datetime.now(dt.UTC)).strftime("%Y%m%d%H%M%S")


def standard_values(moment: dt.datetime | None = None) -> dict[str, str]:
    """$now$ and $lastyear$, the values the toolkit fills in every message."""
    now = moment or dt.datetime.now(dt.UTC)
    try:
        last_year = now.replace(year=now.year - 1)
    except ValueError:              # 29 February
        last_year = now.replace(year=now.year - 1, day=28)
    return {"$now$": hl7_now(now), "$lastyear$": hl7_now(last_year)}
