"""The one way this project parses untrusted XML: no DTD, no entities, no network, bounded size.

Neutral (no transport): the SOAP core, the CDA checks, the DMP services and the client all parse
with it; the SOAP core turns its errors into faults (soap/xmlparse.py). Named `xmlsafe` so it
can never shadow the standard library's `xml` package.

A document that carries a DOCTYPE is refused outright, even when nothing would be expanded:
no SOAP or CDA exchange needs one, and refusing it closes XXE and billion-laughs at once.

Memory is bounded before the tree exists (issue 13, finding 10: 57 MiB of empty elements took a
worker to 1.9 GB). libxml2 spends about 124 bytes per node and 200-300 per attribute whatever
the input spends on them (`<a/>` is 4 bytes: 30x), so the bytes are counted first: every element,
comment, processing instruction, CDATA section and end tag starts with '<', every attribute and
namespace declaration holds a '='. Counting them in the raw bytes gives upper bounds on what the
tree will hold, at memchr speed, provided '<' and '=' are the bytes 0x3C and 0x3D: true of UTF-8,
UTF-16, ASCII and ISO-8859 texts, so any other encoding (EBCDIC, whose '<' is 0x4C) is refused.
Depth is bounded by libxml2 itself (256 levels without XML_PARSE_HUGE), text nodes at 10 MB.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass

from lxml import etree

_local = threading.local()


class UnsafeXmlError(ValueError):
    """The document declares a DTD or entities."""


class XmlTooLargeError(UnsafeXmlError):
    """More markup or attributes than the limits admit; nothing was parsed. (An UnsafeXmlError:
    every caller that refuses unsafe XML refuses this too.)"""


class UnsupportedEncodingError(UnsafeXmlError):
    """An encoding in which '<' is not the byte 0x3C (or not one SOAP allows)."""


@dataclass(frozen=True)
class XmlLimits:
    """Upper bounds on one document's nodes and attributes (see the module's docstring)."""

    max_markup: int = 300_000        # '<' characters: elements, end tags, comments, PIs
    max_attributes: int = 300_000    # '=' characters: attributes, namespace declarations


_limits = XmlLimits()


def configure_limits(limits: XmlLimits) -> None:
    """The limits every parse_xml of this process applies (set from the settings at start)."""
    global _limits
    _limits = limits


def check_size(data: bytes, limits: XmlLimits | None = None) -> None:
    """Refuse, before parsing, a document whose tree could exceed the limits."""
    limits = limits or _limits
    markup = data.count(b"<")
    if markup > limits.max_markup:
        raise XmlTooLargeError(f"{markup} markup characters '<' (elements, end tags, comments); "
                               f"at most {limits.max_markup} are accepted (XDS_MAX_XML_MARKUP)")
    attributes = data.count(b"=")
    if attributes > limits.max_attributes:
        raise XmlTooLargeError(f"{attributes} '=' characters (attributes); at most "
                               f"{limits.max_attributes} are accepted (XDS_MAX_XML_ATTRIBUTES)")


# Encodings in which '<' and '=' are the bytes 0x3C and 0x3D, by their canonical names, and
# the family and byte order each names (None: either order, the BOM's or the first bytes').
_NAMED = {"utf-8": ("UTF-8", None), "utf8": ("UTF-8", None),
          "utf-16": ("UTF-16", None), "utf-16le": ("UTF-16", "LE"), "utf-16be": ("UTF-16", "BE"),
          **{name: ("8-bit", None) for name in (
              "us-ascii", "ascii", "iso-8859-1", "latin1", "iso-8859-15", "latin-1",
              "windows-1252", "cp1252")}}
ALLOWED_ENCODINGS = frozenset(_NAMED)
_DECLARED = re.compile(
    rb"""^<\?xml[^>]{0,200}?encoding\s*=\s*["']([A-Za-z0-9._:-]{1,40})["']""")

# XML 1.0 Appendix F (autodetection), most specific first: first bytes → what they say (for
# the refusal), the family and byte order they fix (a family of None: refused, '<' is not the
# byte 0x3C alone), and the codec the declaration is read in. UCS-4 without a BOM: libxml2
# detects it and ignores the declaration (outside test 19c, N6: a signed CDA re-encoded as
# UTF-32LE under a C14N-with-comments Reference kept its digest and was stored, and expat,
# like any reader following the declaration, cannot open it); the byte counts of check_size
# are blind to it too.
_UCS4 = "UTF-32 (UCS-4) is not accepted: send UTF-8 or UTF-16"
_FIRST_BYTES: tuple[tuple[bytes, str, str | None, str | None, str], ...] = (
    (b"\x00\x00\xfe\xff", "a UTF-32 byte order mark (big-endian)", None, None, ""),
    (b"\xff\xfe\x00\x00", "a UTF-32 byte order mark (little-endian)", None, None, ""),
    (b"\x00\x00\xff\xfe", "a UCS-4 byte order mark (order 2143)", None, None, ""),
    (b"\xfe\xff\x00\x00", "a UCS-4 byte order mark (order 3412)", None, None, ""),
    (b"\x00\x00\x00\x3c", "UCS-4 big-endian bytes without a byte order mark", None, None, ""),
    (b"\x3c\x00\x00\x00", "UCS-4 little-endian bytes without a byte order mark", None, None, ""),
    (b"\x00\x00\x3c\x00", "UCS-4 bytes of order 2143 without a byte order mark", None, None, ""),
    (b"\x00\x3c\x00\x00", "UCS-4 bytes of order 3412 without a byte order mark", None, None, ""),
    (b"\xef\xbb\xbf", "a UTF-8 byte order mark", "UTF-8", None, "utf-8"),
    (b"\xfe\xff", "a UTF-16 big-endian byte order mark", "UTF-16", "BE", "utf-16"),
    (b"\xff\xfe", "a UTF-16 little-endian byte order mark", "UTF-16", "LE", "utf-16"),
    (b"\x00\x3c\x00\x3f", "UTF-16 big-endian bytes", "UTF-16", "BE", "utf-16-be"),
    (b"\x3c\x00\x3f\x00", "UTF-16 little-endian bytes", "UTF-16", "LE", "utf-16-le"),
)
# what a declaration of each family may say of bytes of each family
_AGREEING = {"UTF-8": {"UTF-8"}, "UTF-16": {"UTF-16"}, "8-bit": {"UTF-8", "8-bit"}}


def _detected(head: bytes) -> tuple[str, str | None, str | None, str]:
    """The row of _FIRST_BYTES for these first bytes, else 8-bit (or a refusal)."""
    for start, what, family, order, codec in _FIRST_BYTES:
        if head.startswith(start):
            return what, family, order, codec
    if not (head.startswith(b"<") or head[:1].isspace() or not head):
        raise UnsupportedEncodingError(
            f"the document starts with bytes {head.hex()}: not UTF-8 or UTF-16 XML "
            "(XML 1.0 Appendix F)")
    return "8-bit bytes", "8-bit", None, ""


def check_encoding(data: bytes) -> None:
    """Refuse an encoding the byte counts cannot see through (EBCDIC, UTF-32, UTF-7…), and a
    declaration that contradicts the first bytes (XML 1.0 §4.3.3, Appendix F)."""
    head = data[:4]
    what, family, order, codec = _detected(head)
    if family is None:
        raise UnsupportedEncodingError(
            f"the document starts with {what} (bytes {head.hex()}): {_UCS4} (XML 1.0 "
            "Appendix F)")
    text = data[:400].decode(codec, "replace").lstrip("\ufeff").encode("ascii", "replace") \
        if codec else data[:300]
    declared = _DECLARED.match(text)
    if declared is None:
        return
    name = declared.group(1).decode("ascii").lower()
    if name not in _NAMED:
        raise UnsupportedEncodingError(f"encoding {name!r} is not accepted: send UTF-8 or "
                                       "UTF-16")
    _check_agreement(what, family, order, name)


def _check_agreement(what: str, family: str, order: str | None, declared: str) -> None:
    """A declaration that contradicts the byte order mark or the first bytes (their family, or
    the byte order of UTF-16) is a fatal error (XML 1.0 §4.3.3, Appendix F). Attack (outside
    test 19b, F7): a CDA signed under a C14N-with-comments Reference, a UTF-8 BOM prepended
    after signing and its declaration changed to ISO-8859-1: libxml2 follows the BOM (the
    canonical form, so the digest, is unchanged), a reader that follows the declaration
    (expat) reads 'µmol/L' as 'Âµmol/L'. Refused, so every reader of an accepted document
    reads the same text; the same for a UTF-16LE BOM declared UTF-16BE (19c, N6)."""
    named_family, named_order = _NAMED[declared]
    if named_family not in _AGREEING[family] or (order and named_order not in (None, order)):
        raise UnsupportedEncodingError(
            f"the document starts with {what} but declares encoding {declared!r}: the two "
            "contradict each other (XML 1.0 Appendix F); readers would decode it "
            "differently")


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


def parse_xml(data: bytes, limits: XmlLimits | None = None) -> etree._Element:
    """Parse bytes into an element; raise UnsafeXmlError, XmlTooLargeError,
    UnsupportedEncodingError or MalformedXmlError."""
    check_encoding(data)
    check_size(data, limits)
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

