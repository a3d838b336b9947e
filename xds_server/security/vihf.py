"""VIHF (Volet d'Identification des Habilitations et des Fonctions): the SAML 2.0 assertion a DMP
client puts in `wsse:Security`, verified and read into a Principal (CI-SIS "Sécurité", HV2).

Verified, in this order, so that what is read is what was signed:
- one `wsse:Security` header holding one `saml:Assertion`, whose ID no other element of the
  message carries, with one enveloped `ds:Signature` of the shape `vihf_reading` allows (one
  Reference to that ID, nothing unsigned inside the Signature);
- the signature, by xmlsec, with a certificate that chains to `XDS_VIHF_TRUSTED_CERTS`;
- the Issuer is the subject of that certificate;
- the signing certificate is strong enough and meant to sign (certificate_rules.py, the table
  the seal of signed submission sets is held to as well);
- the validity window: IssueInstant not in the future nor older than `max_age`, and the
  Conditions and SubjectConfirmationData (vihf_conditions.py: audience, OneTimeUse, unknown
  conditions, NotBefore / NotOnOrAfter, Recipient) with a clock skew;
- the principal, read by `vihf_reading.read_principal` from the signed content only, each value
  bounded in length.

A verified assertion is kept (a client sends its VIHF on every call of a session), known by the
SHA-256 of its exact serialised bytes: a copy that differs in anything (an xml:base, a
Conditions or an Issuer added or changed after signing) is another key and goes through full
verification, where its digest fails. The cache is bounded in entries and in bytes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import xmlsec
from lxml import etree

from .certificate_rules import CertificateRules, WeakCertificate
from .principal import Principal
from .vihf_conditions import ConditionRules, utc
from .vihf_reading import (
    DS,
    HL7,
    MAX_CERTIFICATE_CHARS,
    PURPOSE_OF_USE_SYSTEM,
    PURPOSES,
    SAML,
    SignatureParts,
    VihfError,
    issuer_of,
    read_principal,
    signature_of,
    whole_text,
)
from .x509 import (
    CertificateError,
    CertificateFacts,
    certificate_of,
    der_of_base64,
    facts_of,
    parse_dn,
)

__all__ = ["DS", "HL7", "PURPOSES", "PURPOSE_OF_USE_SYSTEM", "SAML", "VihfError",
           "VihfVerifier", "trusted_keys"]

_ASSERTION = f"{{{SAML}}}Assertion"
_WITH_ID = etree.XPath("//*[@ID=$id]")      # compiled once: every request asks it


def _cache_key(assertion: etree._Element) -> bytes:
    """The SHA-256 of the assertion's exact serialisation (with the namespaces in scope): two
    assertions share a key only if they are the same bytes, so an altered copy of a verified
    one is never served from the cache (issue 13, round 2: an xml:base, an expired Conditions
    or another Issuer added to a verified copy was accepted once the genuine one was kept)."""
    return hashlib.sha256(etree.tostring(assertion)).digest()


def trusted_keys(path: Path) -> xmlsec.KeysManager:
    """A key manager trusting every certificate in `path` (a PEM file, or a directory of them)."""
    manager = xmlsec.KeysManager()
    files = sorted(p for p in path.iterdir() if p.suffix in (".pem", ".crt")) \
        if path.is_dir() else [path]
    if not files:
        raise VihfError(f"no trusted certificate in {path}")
    for file in files:
        manager.load_cert(str(file), xmlsec.constants.KeyDataFormatPem,
                          xmlsec.constants.KeyDataTypeTrusted)
    return manager


@dataclass(frozen=True)
class _TrustedSigner:
    """A signing certificate whose chain to a trusted authority xmlsec verified once, with its
    key ready: assertions it signs later are verified with that key alone (the chain of the
    same certificate bytes cannot change; its validity window is checked on each use).

    The key is the certificate's public key alone, not the certificate: xmlsec copies the key
    into every signature context, and a key carrying its X.509 data cost 0.09 ms to copy and
    0.1 ms more to verify with (half of a fresh VIHF's signature check, bench/security.py),
    for nothing the check reads: the certificate's chain, subject and window are this
    record's."""

    key: xmlsec.Key
    facts: CertificateFacts


@dataclass
class _Verified:
    principal: Principal
    issued: dt.datetime
    not_after: dt.datetime | None
    size: int                          # bytes this entry holds, for the cache's byte bound


def _size_of(principal: Principal) -> int:
    """About what a cached principal holds: its texts (each bounded by vihf_reading) plus a
    fixed overhead for the objects around them."""
    texts = [value for value in vars(principal).values() if isinstance(value, str)]
    texts += [text for pair in principal.attributes.items() for text in pair]
    return 1024 + sum(len(text) for text in texts)


@dataclass
class VihfVerifier:
    """Verifies assertions; one already verified (the same signature: a client sends its VIHF
    on every call of a session) is not verified again: its validity window is checked, and it
    is read again, which must give what the verified reading gave."""

    keys: xmlsec.KeysManager
    max_age: dt.timedelta = dt.timedelta(hours=1)
    clock_skew: dt.timedelta = dt.timedelta(minutes=5)
    now: Callable[[], dt.datetime] = field(default=lambda: dt.datetime.now(dt.UTC))
    cache_size: int = 10_000
    cache_bytes: int = 16 * 1024 * 1024
    accept_sha1: bool = False          # XDS_VIHF_ACCEPT_SHA1: older clients' rsa-sha1
    audiences: frozenset[str] = frozenset()    # XDS_VIHF_AUDIENCE
    _verified: OrderedDict[bytes, _Verified] = field(default_factory=OrderedDict, repr=False)
    _cached_bytes: int = field(default=0, repr=False)
    # SHA-256 of a signing certificate's DER → its verified chain's result (never per
    # assertion text: every new assertion's signature is verified)
    _signers: dict[bytes, _TrustedSigner] = field(default_factory=dict, repr=False)
    signer_cache_size: int = 1_000

    @classmethod
    def from_path(cls, path: Path, **options) -> VihfVerifier:
        return cls(trusted_keys(path), **options)

    def principal(self, security: etree._Element | None) -> Principal:
        """The caller the `wsse:Security` header proves, or VihfError."""
        if security is None:
            raise VihfError("no wsse:Security header: a signed VIHF assertion is required")
        assertions = security.findall(_ASSERTION)
        if len(assertions) != 1:
            raise VihfError(f"wsse:Security must hold one saml:Assertion ({len(assertions)} "
                            "found)")
        assertion = assertions[0]
        key = _cache_key(assertion)
        cached = self._verified.get(key)
        if cached is not None:
            self._verified.move_to_end(key)
            self._check_window(cached.issued, cached.not_after)    # a cached assertion expires
            self._check_unique_id(assertion)
            return cached.principal
        parts = signature_of(assertion, self.accept_sha1)
        self._verify_signature(assertion, parts)
        issued, not_after = self._check_times(assertion)
        principal = read_principal(assertion)
        self._remember(key, _Verified(principal, issued, not_after, _size_of(principal)))
        return principal

    def _remember(self, key: bytes, verified: _Verified) -> None:
        """Keep a verified assertion, the oldest forgotten past `cache_size` entries or
        `cache_bytes` bytes (values are bounded, and so is their sum: issue 13, round 2, 40
        signed VIHFs with 5 MB NameIDs were kept)."""
        self._verified[key] = verified
        self._cached_bytes += verified.size
        while len(self._verified) > self.cache_size or self._cached_bytes > self.cache_bytes:
            _, dropped = self._verified.popitem(last=False)
            self._cached_bytes -= dropped.size

    # --- signature -----------------------------------------------------------------------------

    @staticmethod
    def _check_unique_id(assertion: etree._Element) -> None:
        assertion_id = assertion.get("ID") or ""
        root = assertion.getroottree().getroot()
        if len(_WITH_ID(root, id=assertion_id)) != 1:
            raise VihfError(f"the ID {assertion_id} appears more than once in the message")

    def _verify_signature(self, assertion: etree._Element, parts: SignatureParts) -> None:
        self._check_unique_id(assertion)
        try:
            der = der_of_base64(whole_text(parts.certificate, "X509Certificate",
                                            MAX_CERTIFICATE_CHARS))
        except CertificateError as exc:
            raise VihfError(f"the signing certificate cannot be read: {exc}") from None
        fingerprint = hashlib.sha256(der).digest()
        signer = self._signers.get(fingerprint)
        xmlsec.tree.add_ids(assertion, ["ID"])
        if signer is None:
            context = xmlsec.SignatureContext(self.keys)   # the chain, verified by xmlsec
        else:
            self._check_certificate_window(signer.facts)
            context = xmlsec.SignatureContext()
            context.key = signer.key
        try:
            context.verify(parts.signature)
        except xmlsec.Error:
            raise VihfError("the VIHF signature does not verify (altered assertion, or a "
                            "certificate this server does not trust)") from None
        if signer is None:
            self._check_strength(der)       # a chain xmlsec verified, of a signer fit to sign
            signer = self._trust(fingerprint, der)
        issuer = issuer_of(assertion)
        if parse_dn(issuer) != signer.facts.subject:
            raise VihfError(f"the Issuer '{issuer}' is not the subject of the signing "
                            "certificate")

    def _check_strength(self, der: bytes) -> None:
        try:
            CertificateRules(self.accept_sha1).check_signer(certificate_of(der))
        except CertificateError as exc:
            raise VihfError(f"the signing certificate cannot be read: {exc}") from None
        except WeakCertificate as exc:
            raise VihfError(f"the VIHF signing certificate is refused: {exc}") from None

    def _trust(self, fingerprint: bytes, der: bytes) -> _TrustedSigner:
        try:
            facts = facts_of(certificate_of(der))
            # the public key alone: a whole certificate in the key costs every verification
            # (issue 20's profile)
            key = xmlsec.Key.from_memory(facts.public_key_pem, xmlsec.constants.KeyDataFormatPem)
        except (CertificateError, xmlsec.Error) as exc:
            raise VihfError(f"the signing certificate cannot be read: {exc}") from None
        signer = _TrustedSigner(key, facts)
        if len(self._signers) >= self.signer_cache_size:
            self._signers.clear()
        self._signers[fingerprint] = signer
        return signer

    def _check_certificate_window(self, facts: CertificateFacts) -> None:
        now = self.now()
        if not facts.not_before <= now <= facts.not_after:
            raise VihfError("the VIHF signature does not verify (the signing certificate is "
                            "not valid now)")

    def _check_times(self, assertion: etree._Element) -> tuple[dt.datetime, dt.datetime | None]:
        """Check the validity window and conditions; returns (IssueInstant, the earliest
        NotOnOrAfter) for the cache."""
        issued = utc(assertion.get("IssueInstant"), "IssueInstant")
        not_after = ConditionRules(self.audiences, self.clock_skew).check(assertion, self.now())
        self._check_window(issued, not_after)
        return issued, not_after

    def _check_window(self, issued: dt.datetime, not_after: dt.datetime | None) -> None:
        now = self.now()
        if issued > now + self.clock_skew:
            raise VihfError(f"the assertion is issued in the future ({issued.isoformat()})")
        if now - issued > self.max_age + self.clock_skew:
            raise VihfError(f"the assertion expired: issued {issued.isoformat()}, valid "
                            f"{int(self.max_age.total_seconds())} s")
        if not_after is not None and now - self.clock_skew >= not_after:
            raise VihfError("the assertion expired (NotOnOrAfter)")
