"""What is computed from a certificate, computed once per certificate: a source signs every
submission with the same seal, and each verification read its KeyInfo certificate again
(base64, DER parse), encoded it back to DER three times (the SigningCertificate digest, the
chain's cache key, xmlsec's key) and named its subject: 0.2-0.3 ms a signed set
(bench/dsig_profile.py), as much as xmlsec's whole core validation.

Only what depends on the certificate alone is kept: whether it chains to a trusted authority,
was valid at a signing time, and verifies a signature is decided on every use (trust.py,
xmlcore.py). Keyed by the certificate's encoding (text or DER) or by the certificate object
itself, never by anything a signed text says about it.
"""

from __future__ import annotations

import base64
import functools
import threading

from cryptography import x509
from cryptography.hazmat.primitives import serialization

MAX_KNOWN = 256
_lock = threading.Lock()
# id(certificate) -> (the certificate, its DER, its subject or None): the certificate is held,
# so its id names no other object while the entry lives; `is` is checked on each lookup
_known: dict[int, tuple[x509.Certificate, bytes, str | None]] = {}


@functools.lru_cache(maxsize=MAX_KNOWN)
def from_base64(text: str) -> x509.Certificate:
    """An X509Certificate element's text as a certificate; ValueError (binascii.Error is
    one) when it is not base64 or not a certificate. The same text gives the same object."""
    der = base64.b64decode("".join(text.split()), validate=True)
    certificate = x509.load_der_x509_certificate(der)
    _remember(certificate, der, None)
    return certificate


def der_of(certificate: x509.Certificate) -> bytes:
    """The certificate's DER encoding (what its digests and comparisons are of)."""
    known = _known.get(id(certificate))
    if known is not None and known[0] is certificate:
        return known[1]
    der = certificate.public_bytes(serialization.Encoding.DER)
    _remember(certificate, der, None)
    return der


def subject_of(certificate: x509.Certificate) -> str:
    """The certificate's subject, RFC 4514 (said in the audit and the verdict)."""
    known = _known.get(id(certificate))
    if known is not None and known[0] is certificate and known[2] is not None:
        return known[2]
    subject = certificate.subject.rfc4514_string()
    _remember(certificate, der_of(certificate), subject)
    return subject


def _remember(certificate: x509.Certificate, der: bytes, subject: str | None) -> None:
    with _lock:
        if len(_known) >= MAX_KNOWN:
            _known.clear()
        _known[id(certificate)] = (certificate, der, subject)
