"""What is computed from a certificate is computed once per certificate (dsig/certificates.py),
and only that: a seal's certificate is parsed once however many sets it signs, each
certificate keeps its own encoding and name past the cache's bound, and whether it was valid
is still decided at each signing time."""

from __future__ import annotations

import base64
import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from xds_server.dsig import certificates
from xds_server.dsig.trust import TrustStore
from xds_server.dsig.verify import SubmissionSignatureVerifier

from .cda_data import CR_BIO, TEST_INS
from .dsig_data import signed_submission


def test_a_seals_certificate_is_parsed_once(authority, monkeypatch):
    """Sets signed by one seal: each verification parsed its KeyInfo certificate from DER again
    (and encoded it back to DER three times); now the first one only."""
    verifier = SubmissionSignatureVerifier(TrustStore.from_path(authority.trusted))
    sets = [signed_submission(authority, [CR_BIO], TEST_INS)[:2] for _ in range(3)]
    parse = x509.load_der_x509_certificate
    parsed: list[bytes] = []

    def counting(der: bytes, *args):
        parsed.append(der)
        return parse(der, *args)

    assert verifier.verify(*sets[0]).errors == []
    monkeypatch.setattr(x509, "load_der_x509_certificate", counting)
    for submission, documents in sets[1:]:
        assert verifier.verify(submission, documents).errors == []
    assert parsed == [], f"the seal's certificate was parsed again {len(parsed)} times"


def _certificate(key, serial: int) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"seal {serial}")])
    now = dt.datetime.now(dt.UTC)
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(serial)
            .not_valid_before(now).not_valid_after(now + dt.timedelta(days=1))
            .sign(key, hashes.SHA256()))


def test_each_certificate_keeps_its_own_encoding_past_the_bound():
    """More certificates than the cache holds, asked for in turn and again: each is given its
    own DER and subject, never another's (entries are found by identity and checked)."""
    key = ec.generate_private_key(ec.SECP256R1())
    made = [_certificate(key, serial) for serial in range(1, certificates.MAX_KNOWN + 40)]
    for _ in range(2):
        for certificate in made:
            assert certificates.der_of(certificate) == \
                certificate.public_bytes(serialization.Encoding.DER)
            assert certificates.subject_of(certificate) == certificate.subject.rfc4514_string()
    text = certificates.der_of(made[0])
    again = certificates.from_base64(base64.b64encode(text).decode())
    assert again == made[0] and certificates.der_of(again) == text


def test_not_base64_or_not_a_certificate_is_refused_each_time():
    """A failure is not cached as a certificate: the same bad text fails every time."""
    for text in ("not base64 !", "QUJD"):
        for _ in range(2):
            with pytest.raises(ValueError):
                certificates.from_base64(text)


def test_a_certificate_known_valid_is_refused_at_a_time_it_had_expired(authority):
    """The certificate (and its chain) are kept; its validity is decided for each signing
    time: a set signed after the seal's certificate expired is refused, though the same
    certificate verified a moment before."""
    seal = authority.seal()
    expiry = seal.certificate.not_valid_after_utc
    verifier = SubmissionSignatureVerifier(TrustStore.from_path(authority.trusted))
    submission, documents, _ = signed_submission(authority, [CR_BIO], TEST_INS)
    assert verifier.verify(submission, documents).errors == []
    later = expiry + dt.timedelta(hours=1)
    verifier.now = lambda: later
    submission, documents, _ = signed_submission(authority, [CR_BIO], TEST_INS, now=later)
    said = [e.context for e in verifier.verify(submission, documents).errors]
    assert any("the signing certificate" in s and "had expired" in s for s in said), said
