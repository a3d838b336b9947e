"""xmlsafe.check_encoding against XML 1.0 Appendix F: the first bytes fix the encoding's family
and byte order; UTF-32/UCS-4 (with or without a BOM, in any of its four byte orders) is
refused, and so is a declaration contradicting the first bytes (outside tests 19b F7, 19c N6:
libxml2 follows the bytes and a reader following the declaration cannot open the document,
or reads another text)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from xds_server.xmlsafe import UnsupportedEncodingError, check_encoding, parse_xml

from .conftest import REFERENCE

BODY = '<?xml version="1.0" encoding="{}"?><a>µmol/L é</a>'


def encoded(declared: str, codec: str, bom: bytes = b"") -> bytes:
    return bom + BODY.format(declared).encode(codec)


def ucs4(order: str) -> bytes:
    """'<?xm' then the rest in UCS-4 of a byte order ('1234', '4321', '2143', '3412')."""
    big = BODY.format("UTF-8").encode("utf-32-be")
    index = [int(c) - 1 for c in order]
    return b"".join(bytes(big[i + k] for k in index) for i in range(0, len(big), 4))


ACCEPTED = {
    "UTF-8": encoded("UTF-8", "utf-8"),
    "UTF-8 with BOM": encoded("UTF-8", "utf-8", b"\xef\xbb\xbf"),
    "ISO-8859-1": encoded("ISO-8859-1", "latin-1"),
    "UTF-16 BOM LE declared UTF-16": encoded("UTF-16", "utf-16-le", b"\xff\xfe"),
    "UTF-16 BOM BE declared UTF-16": encoded("UTF-16", "utf-16-be", b"\xfe\xff"),
    "UTF-16 BOM LE declared UTF-16LE": encoded("UTF-16LE", "utf-16-le", b"\xff\xfe"),
    "UTF-16 BOM BE declared UTF-16BE": encoded("UTF-16BE", "utf-16-be", b"\xfe\xff"),
    "UTF-16LE no BOM declared UTF-16LE": encoded("UTF-16LE", "utf-16-le"),
    "UTF-16BE no BOM declared UTF-16BE": encoded("UTF-16BE", "utf-16-be"),
    "UTF-16 (Python's, BOM) declared utf-16": encoded("utf-16", "utf-16"),
}

# (document, what the refusal must say)
REFUSED = {
    # UCS-4 without a BOM: 3c000000 went the 8-bit branch, its declaration unseen (N6)
    "UTF-32LE no BOM declared UTF-8": (encoded("UTF-8", "utf-32-le"), "3c000000"),
    "UTF-32LE no BOM declared ISO-8859-1": (encoded("ISO-8859-1", "utf-32-le"), "3c000000"),
    "UTF-32BE no BOM declared UTF-32": (encoded("UTF-32", "utf-32-be"), "0000003c"),
    "UCS-4 2143 no BOM": (ucs4("2143"), "00003c00"),
    "UCS-4 3412 no BOM": (ucs4("3412"), "003c0000"),
    "UTF-32LE BOM": (encoded("UTF-32", "utf-32-le", b"\xff\xfe\x00\x00"), "fffe0000"),
    "UTF-32BE BOM": (encoded("UTF-32", "utf-32-be", b"\x00\x00\xfe\xff"), "0000feff"),
    # the byte order contradicted (N6: every UTF-16 name counted as agreeing)
    "UTF-16 BOM LE declared UTF-16BE": (encoded("UTF-16BE", "utf-16-le", b"\xff\xfe"),
                                        "little-endian byte order mark"),
    "UTF-16 BOM BE declared UTF-16LE": (encoded("UTF-16LE", "utf-16-be", b"\xfe\xff"),
                                        "big-endian byte order mark"),
    "UTF-16LE no BOM declared UTF-16BE": (encoded("UTF-16BE", "utf-16-le"),
                                          "UTF-16 little-endian bytes"),
    "UTF-16BE no BOM declared UTF-16LE": (encoded("UTF-16LE", "utf-16-be"),
                                          "UTF-16 big-endian bytes"),
    # the family contradicted (19b F7)
    "UTF-8 BOM declared ISO-8859-1": (encoded("ISO-8859-1", "utf-8", b"\xef\xbb\xbf"),
                                      "UTF-8 byte order mark"),
    "UTF-16 BOM declared UTF-8": (encoded("UTF-8", "utf-16-le", b"\xff\xfe"), "'utf-8'"),
    "UTF-16LE no BOM declared ISO-8859-1": (encoded("ISO-8859-1", "utf-16-le"),
                                            "'iso-8859-1'"),
    "8-bit declared UTF-16LE": (encoded("UTF-16LE", "utf-8"), "8-bit bytes"),
    "EBCDIC": (encoded("IBM037", "cp500"), "4c6fa794"),
}


@pytest.mark.parametrize("label", ACCEPTED)
def test_accepted(label):
    root = parse_xml(ACCEPTED[label])
    assert root.text == "µmol/L é"


@pytest.mark.parametrize("label", REFUSED)
def test_refused_naming_the_rule(label):
    data, says = REFUSED[label]
    with pytest.raises(UnsupportedEncodingError) as refused:
        check_encoding(data)
    assert says in str(refused.value)
    assert "Appendix F" in str(refused.value) or "not accepted" in str(refused.value)


def test_ucs4_names_the_encoding_refused():
    with pytest.raises(UnsupportedEncodingError, match=r"UTF-32 \(UCS-4\) is not accepted"):
        check_encoding(encoded("UTF-8", "utf-32-le"))


SAMPLES = sorted(p for p in (REFERENCE / "cda-samples").rglob("*.xml") if p.stat().st_size)


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_reference_cda_documents_still_parse_in_utf8_and_utf16(path: Path):
    data = path.read_bytes()
    parse_xml(data)
    text = data.decode("utf-8")
    declaration = re.match(r"\s*<\?xml[^>]*\?>", text)
    if declaration is None:
        return
    for name in ("UTF-16", "UTF-16LE"):
        edited = re.sub(r"encoding=['\"][^'\"]+['\"]", f'encoding="{name}"', text, count=1)
        parse_xml(b"\xff\xfe" + edited.encode("utf-16-le"))
