"""The key a source signs with: the organisation seal certificate (IGC Santé "ORG-SIGN" /
"certificat de cachet", CI-SIS notes §5) and its private key, from PEM files."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import xmlsec
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from ..security.xmldsig_algorithms import ECDSA_SHA256, RSA_SHA1, RSA_SHA256
from .trust import load_certificates

# (key type, digest) → (SignatureMethod URI, xmlsec transform)
METHODS = {
    ("rsa", "sha1"): (RSA_SHA1, xmlsec.constants.TransformRsaSha1),
    ("rsa", "sha256"): (RSA_SHA256, xmlsec.constants.TransformRsaSha256),
    ("ec", "sha256"): (ECDSA_SHA256, xmlsec.constants.TransformEcdsaSha256),
}


class SealError(ValueError):
    """The key or certificate cannot be used to sign (the message says which and why)."""


@dataclass
class Seal:
    key_pem: bytes
    certificate: x509.Certificate
    chain: list[x509.Certificate]      # the certificates after the first in the PEM file

    @classmethod
    def from_files(cls, key_path: Path, certificate_path: Path) -> Seal:
        try:
            certificates = load_certificates(Path(certificate_path).read_bytes())
        except (OSError, ValueError) as exc:
            raise SealError(f"{certificate_path}: not a PEM certificate ({exc})") from None
        if not certificates:
            raise SealError(f"{certificate_path}: no certificate")
        try:
            key_pem = Path(key_path).read_bytes()
        except OSError as exc:
            raise SealError(f"{key_path}: cannot be read ({exc.strerror or exc})") from None
        if _ENCRYPTED.search(key_pem):
            # OpenSSL, given no pass phrase, asks for one on the terminal: an interactive
            # start waited for input twice, then said 'not a PEM private key' (19c, N7)
            raise SealError(f"{key_path}: the private key is encrypted (protected by a pass "
                            "phrase); a seal key must be unencrypted, as the server signs "
                            "unattended (`openssl pkey -in KEY -out PLAIN.key`, then protect "
                            "PLAIN.key by its file permissions)")
        try:
            xmlsec.Key.from_memory(key_pem, xmlsec.constants.KeyDataFormatPem)
        except xmlsec.Error as exc:     # its args are (code, words): '(1, 'cannot read key')'
            raise SealError(f"{key_path}: not a PEM private key ({exc.args[-1]})") from None
        seal = cls(key_pem, certificates[0], certificates[1:])
        seal._check_pair()
        return seal

    def _check_pair(self) -> None:
        """The key is the certificate's: a signature made with another key would only be
        refused by the server, with less to go on. The public keys are compared first (an EC
        key with an RSA certificate said xmlsec's '(-1, 'inappropriate key type.')'), then a
        signature is made and verified (what xmlsec will do with them)."""
        if not _same_public_key(self.key_pem, self.certificate):
            raise SealError("the key does not match the certificate's public key")
        probe = b"xds-server seal check"
        digest = "sha256"
        signature = self.sign(probe, digest)
        context = xmlsec.SignatureContext()
        context.key = xmlsec.Key.from_memory(
            self.certificate.public_bytes(serialization.Encoding.DER),
            xmlsec.constants.KeyDataFormatCertDer)
        try:
            context.verify_binary(probe, self._method(digest)[1], signature)
        except xmlsec.Error:
            raise SealError("the private key is not the seal certificate's key") from None

    def key(self, with_certificate: bool = False) -> xmlsec.Key:
        """A new xmlsec key (xmlsec keys are mutable: one per use)."""
        key = xmlsec.Key.from_memory(self.key_pem, xmlsec.constants.KeyDataFormatPem)
        if with_certificate:
            key.load_cert_from_memory(self.certificate.public_bytes(serialization.Encoding.DER),
                                      xmlsec.constants.KeyDataFormatCertDer)
        return key

    @property
    def key_type(self) -> str:
        public = self.certificate.public_key()
        if isinstance(public, rsa.RSAPublicKey):
            return "rsa"
        if isinstance(public, ec.EllipticCurvePublicKey):
            return "ec"
        raise SealError("the seal certificate's key is neither RSA nor EC")

    def method(self, digest: str) -> str:
        return self._method(digest)[0]

    def _method(self, digest: str) -> tuple[str, object]:
        found = METHODS.get((self.key_type, digest))
        if found is None:
            raise SealError(f"no signature method for a {self.key_type} key with {digest}")
        return found

    def sign(self, data: bytes, digest: str) -> bytes:
        context = xmlsec.SignatureContext()
        context.key = self.key()
        try:
            return context.sign_binary(data, self._method(digest)[1])
        except xmlsec.Error as exc:     # its args are (code, words)
            raise SealError(f"the key cannot sign ({exc.args[-1]}): is it the seal "
                            "certificate's key?") from None


# An encrypted PEM private key: PKCS#8 ('BEGIN ENCRYPTED PRIVATE KEY') or OpenSSL's traditional
# format (a 'Proc-Type: 4,ENCRYPTED' header in the block).
_ENCRYPTED = re.compile(rb"-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type:\s*4,\s*ENCRYPTED")
_KEY_BLOCK = re.compile(rb"-----BEGIN ((?:RSA |EC )?PRIVATE KEY)-----.+?-----END \1-----",
                        re.DOTALL)


def _same_public_key(key_pem: bytes, certificate: x509.Certificate) -> bool:
    """False when the key's public half is not the certificate's; True when they match or the
    key is one this library cannot read (then the signing probe decides)."""
    block = _KEY_BLOCK.search(key_pem)
    try:
        key = serialization.load_pem_private_key(block[0] if block else key_pem, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return True
    spki = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return key.public_key().public_bytes(*spki) == certificate.public_key().public_bytes(*spki)
