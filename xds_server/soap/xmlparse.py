"""The SOAP core's parse: the hardened parser (xmlsafe.py), its refusals as Sender faults."""

from __future__ import annotations

from lxml import etree

from ..xmlsafe import (
    MalformedXmlError,
    UnsafeXmlError,
    UnsupportedEncodingError,
    XmlTooLargeError,
    parse_xml,
)
from .faults import sender


def parse_soap_xml(data: bytes, what: str = "SOAP message") -> etree._Element:
    """parse_xml for the wire: errors become Sender faults that say what is wrong and where."""
    try:
        return parse_xml(data)
    except XmlTooLargeError as exc:
        raise sender(f"{what} refused before parsing: {exc}", "XmlTooLarge",
                     http_status=413) from None
    except UnsupportedEncodingError as exc:
        raise sender(f"{what} refused: {exc}", "UnsupportedEncoding") from None
    except UnsafeXmlError as exc:
        raise sender(f"{what} refused: {exc}", "UnsafeXml") from None
    except MalformedXmlError as exc:
        where = f" at line {exc.line}, column {exc.column}" if exc.line else ""
        raise sender(f"{what} is not well-formed XML{where}: {exc}", "MalformedXml") from None
