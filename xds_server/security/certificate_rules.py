"""What a certificate must be to sign what this server trusts: one table, read by the VIHF
verifier (security/vihf.py: the assertion's signer) and by the signed-document verifier
(dsig/trust.py: the seal of a submission set or a CDA, and the authorities between it and a
trusted one). Trust (the chain to an authority) is checked elsewhere; these rules refuse a
certificate a trusted authority did issue but that is too weak, or not meant, to sign.

Each rule (its name in a refusal), and the attack it stops:

- `rsa-2048`: an RSA key under 2048 bits. A 512- or 768-bit key factored in hours, a 1024-bit
  one by a well-funded party: the signer forged.
- `ec-curve`: an EC key on a curve other than P-256, P-384, P-521, or a key neither RSA nor
  EC. A P-192 key (80-bit security), a curve no verifier here is tested on.
- `certificate-hash`: a certificate its authority signed with MD5, or with SHA-1 unless the
  SHA-1 setting (XDS_VIHF_ACCEPT_SHA1, XDS_SIGNATURE_ACCEPT_SHA1). A chosen-prefix collision:
  a rogue certificate carrying a signature the authority gave to another (the 2008 MD5 rogue
  CA, SHA-1 "Shambles").
- `not-a-ca`: a signer with basicConstraints CA:TRUE. The authority's own key, or a sub-CA's,
  signing assertions in anyone's name.
- `key-usage`: a signer whose keyUsage, when present, has neither digitalSignature nor
  nonRepudiation. A certificate issued for key encipherment or certificate signing only.
- `extended-key-usage`: a signer whose extendedKeyUsage lists only purposes other than signing
  documents (TLS server or client, code signing, time stamping, OCSP...). A TLS certificate of
  the same authority (every system holds one) signing a VIHF or a seal.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

MIN_RSA_BITS = 2048
CURVES = frozenset({"secp256r1", "secp384r1", "secp521r1"})
# purposes that are not signing a document or an assertion: an EKU made only of these
# excludes it (an unknown purpose, e.g. an authority's own signing OID, is not refused)
NOT_DOCUMENT_SIGNING: dict[x509.ObjectIdentifier, str] = {
    ExtendedKeyUsageOID.SERVER_AUTH: "serverAuth", ExtendedKeyUsageOID.CLIENT_AUTH: "clientAuth",
    ExtendedKeyUsageOID.CODE_SIGNING: "codeSigning",
    ExtendedKeyUsageOID.TIME_STAMPING: "timeStamping",
    ExtendedKeyUsageOID.OCSP_SIGNING: "OCSPSigning", ExtendedKeyUsageOID.IPSEC_IKE: "ipsecIKE",
    ExtendedKeyUsageOID.SMARTCARD_LOGON: "smartcardLogon",
    ExtendedKeyUsageOID.KERBEROS_PKINIT_KDC: "pkInitKDC",
    ExtendedKeyUsageOID.CERTIFICATE_TRANSPARENCY: "certificateTransparency",
}


class WeakCertificate(ValueError):
    """A certificate one rule refuses: `certificate` names it, `rule` is the rule's name."""

    def __init__(self, certificate: x509.Certificate, rule: str, reason: str) -> None:
        self.certificate = describe(certificate)
        self.rule = rule
        super().__init__(f"the certificate {self.certificate} {reason} (rule {rule})")


def describe(certificate: x509.Certificate) -> str:
    return f"'{certificate.subject.rfc4514_string()}' (serial {certificate.serial_number})"


def _extension(certificate: x509.Certificate, kind: type) -> object | None:
    try:
        return certificate.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


def _key_strength(certificate: x509.Certificate) -> tuple[str, str] | None:
    try:
        key = certificate.public_key()
    except (ValueError, UnsupportedAlgorithm):
        return "ec-curve", "has a public key this server cannot read"
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            return "rsa-2048", f"has a {key.key_size}-bit RSA key (at least {MIN_RSA_BITS})"
        return None
    if isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name not in CURVES:
            return "ec-curve", (f"has an EC key on {key.curve.name} (P-256, P-384 or P-521 "
                                "only)")
        return None
    return "ec-curve", f"has a {type(key).__name__} key (RSA or EC only)"


def _signature_hash(certificate: x509.Certificate, accept_sha1: bool) -> tuple[str, str] | None:
    try:
        algorithm = certificate.signature_hash_algorithm
    except UnsupportedAlgorithm:
        return "certificate-hash", "is signed with an algorithm this server does not know"
    if isinstance(algorithm, hashes.MD5):
        return "certificate-hash", "is signed by its authority with MD5"
    if isinstance(algorithm, hashes.SHA1) and not accept_sha1:
        return "certificate-hash", ("is signed by its authority with SHA-1 (accepted only "
                                    "with the SHA-1 setting)")
    return None


def _not_a_ca(certificate: x509.Certificate) -> tuple[str, str] | None:
    constraints = _extension(certificate, x509.BasicConstraints)
    if constraints is not None and constraints.ca:                       # type: ignore[attr-defined]
        return "not-a-ca", "is a certification authority (basicConstraints CA:TRUE), not a signer"
    return None


def _key_usage(certificate: x509.Certificate) -> tuple[str, str] | None:
    usage = _extension(certificate, x509.KeyUsage)
    if usage is not None and not (usage.digital_signature                # type: ignore[attr-defined]
                                  or usage.content_commitment):          # type: ignore[attr-defined]
        return "key-usage", "does not allow digital signatures (keyUsage)"
    return None


def _extended_key_usage(certificate: x509.Certificate) -> tuple[str, str] | None:
    purposes = _extension(certificate, x509.ExtendedKeyUsage)
    if purposes is not None and set(purposes) <= NOT_DOCUMENT_SIGNING.keys():  # type: ignore
        names = ", ".join(NOT_DOCUMENT_SIGNING[p] for p in purposes)     # type: ignore
        return "extended-key-usage", (f"is meant for {names or 'nothing'} "
                                      "(extendedKeyUsage), not for signing documents")
    return None


Rule = Callable[[x509.Certificate], "tuple[str, str] | None"]


@dataclass(frozen=True)
class CertificateRules:
    """The rules for a signer and for the authorities that issued it (the table above)."""

    accept_sha1: bool = False

    def check_signer(self, certificate: x509.Certificate) -> None:
        """WeakCertificate unless `certificate` may sign (every rule of the table)."""
        self._check(certificate, (_key_strength, self._hash, _not_a_ca, _key_usage,
                                  _extended_key_usage))

    def check_issuer(self, certificate: x509.Certificate) -> None:
        """An authority between the signer and a trusted one: its key and its own signature
        (a weak link is as forgeable as a weak signer)."""
        self._check(certificate, (_key_strength, self._hash))

    def _hash(self, certificate: x509.Certificate) -> tuple[str, str] | None:
        return _signature_hash(certificate, self.accept_sha1)

    @staticmethod
    def _check(certificate: x509.Certificate, rules: tuple[Rule, ...]) -> None:
        for rule in rules:
            found = rule(certificate)
            if found is not None:
                raise WeakCertificate(certificate, *found)
