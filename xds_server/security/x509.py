"""What the VIHF check reads of an X.509 certificate: its subject (to compare with the SAML
Issuer) and its validity window (to expire a signer whose chain was verified once). Read with
`cryptography`; signature and trust stay xmlsec's business."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

# the short names DNs are written with, by attribute OID (RFC 4514; E and SERIALNUMBER as
# OpenSSL and the DMP's certificates write them)
NAMES = {NameOID.COMMON_NAME: "CN", NameOID.COUNTRY_NAME: "C", NameOID.LOCALITY_NAME: "L",
         NameOID.STATE_OR_PROVINCE_NAME: "ST", NameOID.ORGANIZATION_NAME: "O",
         NameOID.ORGANIZATIONAL_UNIT_NAME: "OU", NameOID.SERIAL_NUMBER: "SERIALNUMBER",
         NameOID.EMAIL_ADDRESS: "E"}


class CertificateError(ValueError):
    """The bytes are not an X.509 certificate this reader understands."""


@dataclass(frozen=True)
class CertificateFacts:
    subject: frozenset[tuple[str, str]]
    not_before: dt.datetime
    not_after: dt.datetime
    public_key_pem: bytes = b""     # SubjectPublicKeyInfo, PEM


def certificate_of(der: bytes) -> x509.Certificate:
    try:
        return x509.load_der_x509_certificate(der)
    except ValueError as exc:
        raise CertificateError(f"not an X.509 certificate: {exc}") from None


def facts_of(certificate: x509.Certificate) -> CertificateFacts:
    pairs = frozenset((NAMES.get(attribute.oid, attribute.oid.dotted_string),
                       str(attribute.value)) for attribute in certificate.subject)
    try:
        public_key = certificate.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    except (ValueError, TypeError) as exc:
        raise CertificateError(f"the certificate's public key cannot be read: {exc}") from None
    return CertificateFacts(pairs, certificate.not_valid_before_utc,
                            certificate.not_valid_after_utc, public_key)


def subject_of(der: bytes) -> frozenset[tuple[str, str]]:
    """The subject DN as a set of (short name, value) pairs."""
    return facts_of(certificate_of(der)).subject


def der_of_base64(text: str) -> bytes:
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (ValueError, binascii.Error) as exc:
        raise CertificateError(f"not a base64 X.509 certificate: {exc}") from None


def parse_dn(text: str) -> frozenset[tuple[str, str]]:
    """`C=FR, ST=Paris (75), O=…, CN=DMP SIGN` (either comma style) as (name, value) pairs."""
    pairs = []
    for part in text.replace(", ", ",").split(","):
        name, sep, value = part.partition("=")
        if sep:
            pairs.append((name.strip().upper(), value.strip()))
    return frozenset(pairs)
