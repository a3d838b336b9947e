"""The one way this project parses untrusted XML: no DTD, no entities, no network, bounded size.

A document that carries a DOCTYPE is refused outright, even when nothing would be expanded:
no SOAP or CDA exchange needs one, and refusing it closes XXE and billion-laughs at once.
"""

from __future__ import annotations

import re
import threading

from lxml import etree

from .faults import sender

_local = threading.local()


class UnsafeXmlError(ValueError):
    """The document declares a DTD or entities."""


class MalformedXmlError(ValueError):
    """Not well-formed; `line` and `column` say where (1-based), when libxml2 knows."""

    def __init__(self, message: str, line: int | None, column: int | None) -> None:
        super().__init__(message)
        self.line = line
        self.column = column


def _parser() -> etree.XMLParser:
    # lxml parsers are not thread-safe; one per thread keeps gthread workers correct.
    parser = getattr(_local, "parser", None)
    if parser is None:
        parser = etree.XMLParser(
            resolve_entities=False,
            load_dtd=False,
            dtd_validation=False,
            no_network=True,
            huge_tree=False,
            remove_blank_text=False,
            collect_ids=False,
        )
        _local.parser = parser
    return parser


_FIRST_ELEMENT = re.compile(rb"<[A-Za-z_:]")
_PROLOG_SCAN = 65536


def _has_doctype_prolog(data: bytes) -> bool:
    """True when a DOCTYPE appears before the root element: refused before libxml2 reads it."""
    position = data.find(b"<!DOCTYPE", 0, _PROLOG_SCAN)   # bounds, not a copy of the head
    if position < 0:
        return False
    element = _FIRST_ELEMENT.search(data, 0, _PROLOG_SCAN)
    return element is None or position < element.start()


def parse_xml(data: bytes) -> etree._Element:
    """Parse bytes into an element; raise UnsafeXmlError or MalformedXmlError."""
    if _has_doctype_prolog(data):
        raise UnsafeXmlError("a DOCTYPE (DTD or entity declaration) is not allowed")
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        line, column = exc.position if exc.position else (None, None)
        raise MalformedXmlError(exc.msg or str(exc), line, column) from None
    info = root.getroottree().docinfo
    if info.doctype or info.internalDTD is not None:
        # Reached only for encodings the byte pre-check cannot see (UTF-16, EBCDIC).
        raise UnsafeXmlError("a DOCTYPE (DTD or entity declaration) is not allowed")
    return root


def parse_soap_xml(data: bytes, what: str = "SOAP message") -> etree._Element:
    """parse_xml for the wire: errors become Sender faults that say what is wrong and where."""
    try:
        return parse_xml(data)
    except UnsafeXmlError as exc:
        raise sender(f"{what} refused: {exc}", "UnsafeXml") from None
    except MalformedXmlError as exc:
        where = f" at line {exc.line}, column {exc.column}" if exc.line else ""
        raise sender(f"{what} is not well-formed XML{where}: {exc}", "MalformedXml") from None
