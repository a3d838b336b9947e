"""One check for every text a client gives the FHIR front (JSON bodies, search parameters,
path segments), run before anything reads it.

Each rule with the attack or accident it stops:

- nesting at most MAX_DEPTH objects and arrays: a 15 KB body nested 300 deep exhausted the
  model validator's recursion (a 500, and a 130 KB traceback logged per request);
- only the characters XML 1.0 allows (FHIR strings: no control character but tab, CR, LF):
  U+0000, U+000B, U+FFFE or a lone surrogate in a description reached the ebXML encoder (a
  500), a NUL in a search value reached PostgreSQL;
- no JSON `null` (FHIR JSON, "JSON representation": null only in the arrays of a primitive
  that has `_name` extensions): the models take a null primitive as absent but the mapping
  reads the JSON, and a null identifier or reference in a contained Practitioner was a 500
  (issue 16, outsider 16e F1);
- each member name once in an object (RFC 8259 §4 "SHOULD be unique"; Python keeps the
  last): `"securityLabel":[MASQUE_PS], "securityLabel":[N]` was stored unmasked while a
  first-wins gateway saw it masked (16e F3). `parse_pairs` marks such an object; the walk
  names it.

The answer names the element by its path (`Bundle.entry[2].resource.description`) so the
client knows which of its texts to fix. The walk is iterative: it cannot itself recurse too
deep, and it visits each value once.
"""

from __future__ import annotations

import re
from typing import Any

from .outcome import FhirError, issue

MAX_DEPTH = 32          # PDSm resources nest about 12 deep (Bundle → extension in contained)
NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_ASCII_ALLOWED = b"\t\n\r" + bytes(range(0x20, 0x80))     # what NOT_XML allows of ASCII


def text_error(text: str) -> str | None:
    """Why `text` cannot be stored (the character named by its code point), or None.

    An ASCII text is checked by deleting its allowed bytes (one C pass, 32 us for the 68 KB
    of a 50 KB document's base64, which took the regular expression 480 us an ITI-65); any
    other text, or one with a byte left, by the regular expression."""
    if text.isascii() and not text.encode("ascii").translate(None, _ASCII_ALLOWED):
        return None
    found = NOT_XML.search(text)
    return None if found is None else \
        f"character U+{ord(found.group()):04X} is not allowed in a FHIR string"


def shown(text: str) -> str:
    """A client's text as an answer may quote it (an element's name in `expression`): at most
    64 characters, those XML and UTF-8 cannot carry written \\uXXXX. A lone surrogate in a
    JSON member name was echoed as it came, and writing the answer failed: a 500 that escaped
    the log line, the metrics and the audit (issue 16 re-test, M4 and m14)."""
    return NOT_XML.sub(lambda found: f"\\u{ord(found.group()):04X}", text[:64])


class Duplicated(dict):
    """An object whose members repeat a name (json's object_pairs_hook made it): the first
    repeated name, for the walk to refuse with the object's path."""

    repeated: str = ""


def parse_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """json.loads' object_pairs_hook: a dict, or a Duplicated naming the first repeated name
    (one dict() and one len() an object: measured in docs/fhir.md)."""
    value = dict(pairs)
    if len(value) == len(pairs):
        return value
    seen: set[str] = set()
    marked = Duplicated(value)
    marked.repeated = next(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
    return marked


def check_text(text: str, where: str) -> None:
    if (problem := text_error(text)) is not None:
        raise FhirError(400, [issue(problem, where, "invalid")])


def check_json(value: Any, root: str) -> None:
    """Every string (names too) of a parsed JSON value, and its depth; FhirError 400 naming
    the first element at fault. A value with no fault is found so by one pass that keeps no
    paths (its texts joined and checked at once: a character is allowed or not whatever its
    neighbours); one with a fault is walked again to name it (the walk of _named)."""
    if not _clean(value):
        _named(value, root)


def _clean(value: Any) -> bool:
    """No text with a character XML refuses, nested at most MAX_DEPTH (an ITI-65 Bundle:
    0.1 ms, where building each element's path cost 0.5 ms)."""
    if value is None or type(value) is Duplicated:
        return False
    texts: list[str] = [value] if type(value) is str else []
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if type(node) is dict:
            if depth >= MAX_DEPTH:
                return False
            texts.extend(node)
            items: Any = node.values()
        elif type(node) is list:
            if depth >= MAX_DEPTH:
                return False
            items = node
        else:
            continue
        for item in items:
            kind = type(item)
            if kind is str:
                texts.append(item)
            elif kind is dict or kind is list:
                stack.append((item, depth + 1))
            elif item is None or kind is Duplicated:
                return False
    return text_error("".join(texts)) is None


def _named(value: Any, root: str) -> None:
    stack: list[tuple[Any, str, int, bool]] = [(value, root, 0, False)]
    while stack:
        node, where, depth, nullable = stack.pop()
        if isinstance(node, str):
            check_text(node, where)
            continue
        if node is None and not nullable:
            raise FhirError(400, [issue("null is not a FHIR JSON value (leave the element "
                                        "out)", where, "structure")])
        if not isinstance(node, dict | list):
            continue
        if depth >= MAX_DEPTH:
            raise FhirError(400, [issue(f"JSON nested deeper than {MAX_DEPTH} levels",
                                        where, "structure")])
        if isinstance(node, Duplicated):
            raise FhirError(400, [issue(f"member '{shown(node.repeated)}' is given twice (a "
                                        "JSON object names each member once)",
                                        f"{where}.{shown(node.repeated)}", "structure")])
        if isinstance(node, dict):
            for key in node:
                check_text(key, f"{where}.{shown(key)}")
            children = [(item, f"{where}.{key}", depth + 1, isinstance(item, list) and (
                f"_{key}" in node or (key[:1] == "_" and key[1:] in node)))
                for key, item in node.items()]
        else:
            children = [(item, f"{where}[{i}]", depth + 1, False) for i, item in enumerate(node)]
            if nullable:        # a primitive array with `_name` extensions: null holds a place
                children = [c if c[0] is not None else (*c[:3], True) for c in children]
        stack.extend(reversed(children))        # document order: the first fault is named
