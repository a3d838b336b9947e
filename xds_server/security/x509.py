"""Just enough X.509 to compare a SAML Issuer with the certificate that signed the assertion:
the subject distinguished name, read from the DER with a small reader (RFC 5280 §4.1; X.690
DER). Signature and trust are xmlsec's business, not this module's."""

from __future__ import annotations

import base64

# attribute type OIDs (RFC 4519) and the short names DNs are written with
NAMES = {"2.5.4.3": "CN", "2.5.4.6": "C", "2.5.4.7": "L", "2.5.4.8": "ST", "2.5.4.10": "O",
         "2.5.4.11": "OU", "2.5.4.5": "SERIALNUMBER", "1.2.840.113549.1.9.1": "E"}


class CertificateError(ValueError):
    """The bytes are not an X.509 certificate this reader understands."""


def _read(data: bytes, offset: int) -> tuple[int, int, int]:
    """(tag, start of content, end of content) of the DER element at `offset`."""
    if offset + 2 > len(data):
        raise CertificateError("truncated DER")
    tag, length = data[offset], data[offset + 1]
    offset += 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or offset + count > len(data):
            raise CertificateError("bad DER length")
        length = int.from_bytes(data[offset:offset + count], "big")
        offset += count
    if offset + length > len(data):
        raise CertificateError("truncated DER")
    return tag, offset, offset + length


def _children(data: bytes, start: int, end: int) -> list[tuple[int, int, int]]:
    children, offset = [], start
    while offset < end:
        tag, content, stop = _read(data, offset)
        children.append((tag, content, stop))
        offset = stop
    return children


def _oid(value: bytes) -> str:
    first, rest = divmod(value[0], 40) if value[0] < 80 else (2, value[0] - 80)
    parts, number = [first, rest], 0
    for byte in value[1:]:
        number = (number << 7) | (byte & 0x7F)
        if not byte & 0x80:
            parts.append(number)
            number = 0
    return ".".join(str(p) for p in parts)


def subject_of(der: bytes) -> frozenset[tuple[str, str]]:
    """The subject DN as a set of (short name, value) pairs."""
    _, start, end = _read(der, 0)                      # Certificate
    _, tbs_start, tbs_end = _children(der, start, end)[0]  # tbsCertificate
    fields = _children(der, tbs_start, tbs_end)
    if fields and fields[0][0] == 0xA0:                 # [0] version
        fields = fields[1:]
    if len(fields) < 5:
        raise CertificateError("not an X.509 certificate")
    _, name_start, name_end = fields[4]                 # serial, alg, issuer, validity, subject
    pairs = []
    for _, set_start, set_end in _children(der, name_start, name_end):
        for _, seq_start, seq_end in _children(der, set_start, set_end):
            (_, oid_start, oid_end), (_, value_start, value_end) = \
                _children(der, seq_start, seq_end)[:2]
            oid = _oid(der[oid_start:oid_end])
            value = der[value_start:value_end].decode("utf-8", errors="replace")
            pairs.append((NAMES.get(oid, oid), value))
    return frozenset(pairs)


def subject_of_base64(text: str) -> frozenset[tuple[str, str]]:
    try:
        return subject_of(base64.b64decode("".join(text.split()), validate=True))
    except (ValueError, IndexError) as exc:
        raise CertificateError(f"not a base64 X.509 certificate: {exc}") from exc


def parse_dn(text: str) -> frozenset[tuple[str, str]]:
    """`C=FR, ST=Paris (75), O=…, CN=DMP SIGN` (either comma style) as (name, value) pairs."""
    pairs = []
    for part in text.replace(", ", ",").split(","):
        name, sep, value = part.partition("=")
        if sep:
            pairs.append((name.strip().upper(), value.strip()))
    return frozenset(pairs)
