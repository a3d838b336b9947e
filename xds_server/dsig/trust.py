"""Whether a signing certificate chains to an authority of XDS_SIGNATURE_TRUSTED_CERTS, and was
valid when it signed (the IGC Santé organisation seal certificate, CI-SIS notes §5).

Done here with `cryptography` rather than by xmlsec's key manager, for two reasons: xmlsec checks
validity at the time of verification and cannot be told the signing time, and its refusal does
not say which of "another authority", "an impostor with the authority's name" or "expired" it
was. Each rule, and the attack it stops:

1. Each link is verified with the issuer's key (`verify_directly_issued_by`), never matched by
   name alone: an impostor authority (or a self-signed seal) with a trusted authority's name.
2. Every certificate of the chain is valid at the signing time: an expired or not yet valid
   certificate (its signing time itself is bounded by the verifier, see verify.py).
3. An intermediate must be a CA (basicConstraints): a seal certificate used to issue another.
4. The signing certificate is strong enough and meant to sign, by the table the VIHF signer is
   held to (security/certificate_rules.py: RSA of 2048 bits at least, P-256/384/521, no MD5
   and no SHA-1 without XDS_SIGNATURE_ACCEPT_SHA1 in its certificate, not a CA, keyUsage and
   extendedKeyUsage that allow signing documents), and each intermediate by its key and hash
   rules: a seal with an RSA-512 or -1024 key, a seal certificate signed with MD5 or SHA-1,
   a TLS-only or CA certificate used as a seal.
5. At most MAX_DEPTH links: a chain of a thousand certificates sent to make us work.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from ..security.certificate_rules import CertificateRules, WeakCertificate, describe
from .certificates import der_of
from .problems import SignatureRefused

MAX_DEPTH = 6
MAX_PATHS = 1024
WHERE = "Signature/KeyInfo/X509Data"


class TrustStoreError(ValueError):
    """The trusted certificates cannot be loaded (a configuration error, said at start)."""


def load_certificates(data: bytes) -> list[x509.Certificate]:
    """Every certificate of a PEM text (or one DER certificate)."""
    if b"-----BEGIN" in data:
        return x509.load_pem_x509_certificates(data)
    return [x509.load_der_x509_certificate(data)]


@dataclass(frozen=True)
class TrustStore:
    anchors: tuple[x509.Certificate, ...]
    # (SHA-1 setting, signer and intermediates (DER)) → the path found; validity is checked at
    # each use, for each signing time. Bounded: a new entry past MAX_PATHS clears it.
    _paths: dict[tuple[object, ...], list[x509.Certificate]] = field(
        default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_path(cls, path: Path) -> TrustStore:
        """The certificates of a PEM file, or of every .pem/.crt file of a directory."""
        files = sorted(p for p in path.iterdir() if p.suffix in (".pem", ".crt")) \
            if path.is_dir() else [path]
        anchors: list[x509.Certificate] = []
        for file in files:
            try:
                anchors += load_certificates(file.read_bytes())
            except OSError as exc:
                raise TrustStoreError(f"{file}: {exc.strerror or exc}") from None
            except ValueError:      # the library's "error parsing asn1 value: ParseError {…}"
                raise TrustStoreError(f"{file}: not a certificate (PEM '-----BEGIN "
                                      "CERTIFICATE-----' blocks, or one DER certificate)"
                                      ) from None
        if not anchors:
            raise TrustStoreError(f"no certificate in {path}")
        for anchor in anchors:
            if not _is_authority(anchor):
                # a seal (leaf) as the trust anchor: only that one certificate verifies, and
                # a renewed seal silently stops verifying (outside test 19b, F6)
                raise TrustStoreError(
                    f"{anchor.subject.rfc4514_string()} is not a certification authority "
                    "(basicConstraints CA false or absent): list the authorities that issue "
                    "seal certificates (IGC Santé), not a seal")
        return cls(tuple(anchors))

    def chain(self, signer: x509.Certificate, others: list[x509.Certificate],
              at: dt.datetime, accept_sha1: bool = False) -> list[x509.Certificate]:
        """The chain from `signer` to a trusted authority, each valid at `at`; or
        SignatureRefused saying which link fails and why. `others`: the certificates the
        signature carries besides the signer's (intermediates); `accept_sha1`: certificates
        signed with SHA-1 are accepted (XDS_SIGNATURE_ACCEPT_SHA1)."""
        key = (accept_sha1, *(der_of(c) for c in (signer, *others)))
        path = self._paths.get(key)
        if path is None:
            path = self._path(signer, others, CertificateRules(accept_sha1))
            if len(self._paths) >= MAX_PATHS:
                self._paths.clear()
            self._paths[key] = path
        for position, certificate in enumerate(path):   # the path starts at the signer (a
            _check_validity(certificate, at, position == 0)   # cached path's objects are not
        return path                                           # this request's)

    def _path(self, signer: x509.Certificate, others: list[x509.Certificate],
              rules: CertificateRules) -> list[x509.Certificate]:
        """The path from the signer to an anchor, each certificate held to the rule table
        before its link is verified (a certificate signed with MD5 is refused as such, not
        taken for an impostor)."""
        _apply(rules.check_signer, signer)
        path = [signer]
        current = signer
        anchors = {der_of(a) for a in self.anchors}
        while der_of(current) not in anchors:
            if len(path) > MAX_DEPTH:
                raise SignatureRefused(WHERE, f"the certificate chain is longer than "
                                              f"{MAX_DEPTH} links")
            if current is not signer:
                _apply(rules.check_issuer, current)
            current = self._issuer_of(current, others, path)
            path.append(current)
        return path

    def _issuer_of(self, certificate: x509.Certificate, others: list[x509.Certificate],
                   path: list[x509.Certificate]) -> x509.Certificate:
        named = [c for c in (*self.anchors, *others)
                 if c.subject == certificate.issuer and c not in path]
        for candidate in named:
            if _issued(certificate, candidate):
                if candidate not in self.anchors and not _is_authority(candidate):
                    raise SignatureRefused(WHERE, f"{describe(candidate)} issued "
                                                  f"{describe(certificate)} but is not a "
                                                  "certification authority (basicConstraints)")
                return candidate
        issuer = certificate.issuer.rfc4514_string()
        if any(c.subject == certificate.issuer for c in self.anchors):
            raise SignatureRefused(WHERE, f"the certificate {describe(certificate)} names the "
                                          f"trusted authority '{issuer}' as its issuer, but "
                                          "that authority's key did not sign it (an impostor "
                                          "certificate)")
        raise SignatureRefused(WHERE, f"the certificate {describe(certificate)} is issued by "
                                      f"'{issuer}', which is not an authority this server "
                                      "trusts (XDS_SIGNATURE_TRUSTED_CERTS)")


def _apply(rule: Callable[[x509.Certificate], None], certificate: x509.Certificate) -> None:
    try:
        rule(certificate)
    except WeakCertificate as exc:
        raise SignatureRefused(WHERE, str(exc)) from None


def _issued(certificate: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        if isinstance(certificate.signature_hash_algorithm, hashes.SHA1):
            return certificate.issuer == issuer.subject and _verify_sha1(certificate, issuer)
        certificate.verify_directly_issued_by(issuer)
    except Exception:      # InvalidSignature, ValueError (names), TypeError (key types)
        return False
    return True


def _verify_sha1(certificate: x509.Certificate, issuer: x509.Certificate) -> bool:
    """A link signed with SHA-1, which `verify_directly_issued_by` no longer verifies; reached
    only when the rules accept SHA-1 (XDS_SIGNATURE_ACCEPT_SHA1)."""
    key = issuer.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        key.verify(certificate.signature, certificate.tbs_certificate_bytes, padding.PKCS1v15(),
                   hashes.SHA1())
    elif isinstance(key, ec.EllipticCurvePublicKey):
        key.verify(certificate.signature, certificate.tbs_certificate_bytes,
                   ec.ECDSA(hashes.SHA1()))
    else:
        return False
    return True


def _is_authority(certificate: x509.Certificate) -> bool:
    try:
        return certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def _check_validity(certificate: x509.Certificate, at: dt.datetime, is_signer: bool) -> None:
    start, end = certificate.not_valid_before_utc, certificate.not_valid_after_utc
    if start <= at <= end:
        return
    which = "signing certificate" if is_signer else "authority certificate"
    state = "had expired" if at > end else "was not valid yet"
    raise SignatureRefused(WHERE, f"the {which} {describe(certificate)} {state} at the signing "
                                  f"time {at.isoformat()} (valid from {start.isoformat()} to "
                                  f"{end.isoformat()})")


def _is_authority(certificate: x509.Certificate) -> bool:
    try:
        return certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False
