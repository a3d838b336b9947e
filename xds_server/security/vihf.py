"""VIHF (Volet d'Identification des Habilitations et des Fonctions): the SAML 2.0 assertion a DMP
client puts in `wsse:Security`, verified and read into a Principal (CI-SIS "Sécurité", HV2).

Verified, in this order, so that what is read is what was signed:
- exactly one `saml:Assertion`, with an enveloped `ds:Signature` whose single Reference points
  at that assertion's ID, an ID no other element of the message carries (signature wrapping);
- the signature, by xmlsec, with a certificate that chains to `XDS_VIHF_TRUSTED_CERTS`;
- the Issuer is the subject of that certificate;
- the validity window: IssueInstant not in the future nor older than `max_age`, and the
  Conditions NotBefore / NotOnOrAfter when present (with a clock skew);
- the attributes the DMP requires, and a purpose of use from 1.2.250.1.213.1.1.4.248.
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

from .principal import Principal
from .x509 import CertificateError, parse_dn, subject_of_base64

SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
DS = "http://www.w3.org/2000/09/xmldsig#"
HL7 = "urn:hl7-org:v3"
PURPOSE_OF_USE_SYSTEM = "1.2.250.1.213.1.1.4.248"
PURPOSES = ("normal", "bris_de_glace", "centre_15")
RESOURCE_ID = "urn:oasis:names:tc:xacml:2.0:resource:resource-id"
ROLE = "urn:oasis:names:tc:xacml:2.0:subject:role"
PURPOSE = "urn:oasis:names:tc:xspa:1.0:subject:purposeofuse"
SUBJECT_NAME = "urn:oasis:names:tc:xspa:1.0:subject:subject-id"
REQUIRED = ("VIHF_Version", "Authentification_Mode", "Identifiant_Structure", RESOURCE_ID,
            ROLE, PURPOSE)

# What a role code makes of the caller for the access policy. Professions (TRE_G15 / G16) are
# professionals; TRE_A00 (1.2.250.1.213.1.1.4.6) carries the non-professional callers. The
# patient, legal-representative and administrator codes are this server's, in that system.
ROLE_KINDS: dict[tuple[str, str], str] = {
    ("1.2.250.1.213.1.1.4.6", "AUTOMATE"): "professional",
    ("1.2.250.1.213.1.1.4.6", "PATIENT"): "patient",
    ("1.2.250.1.213.1.1.4.6", "REPRESENTANT_LEGAL"): "legal_representative",
    ("1.2.250.1.213.1.1.4.6", "ADMINISTRATEUR"): "administrator",
}
PROFESSION_SYSTEMS = ("1.2.250.1.71.1.2.7", "1.2.250.1.71.1.2.8")


def _cache_key(assertion: etree._Element) -> bytes:
    """What identifies a verified assertion without serialising it: its ID and the texts of its
    signature (SignatureValue signs SignedInfo, which holds the digest of the whole assertion).
    An assertion altered under a copied signature finds the principal that signature was
    verified for, never one read from the altered text; an unsigned one finds nothing."""
    signature = assertion.find(_SIGNATURE)
    if signature is None:
        return b""
    reference = signature.find(_REFERENCE)
    parts = (assertion.get("ID") or "", signature.findtext(_SIGNATURE_VALUE) or "",
             "" if reference is None else reference.get("URI") or "",
             "" if reference is None else reference.findtext(_DIGEST_VALUE) or "")
    return hashlib.sha256("\0".join(parts).encode()).digest()


_SIGNATURE = f"{{{DS}}}Signature"
_SIGNATURE_VALUE = f"{{{DS}}}SignatureValue"
_REFERENCE = f"{{{DS}}}SignedInfo/{{{DS}}}Reference"
_DIGEST_VALUE = f"{{{DS}}}DigestValue"


class VihfError(Exception):
    """The assertion is missing, unsigned, tampered, expired or inconsistent: the reason."""


def _utc(text: str | None, what: str) -> dt.datetime:
    if not text:
        raise VihfError(f"{what} is missing")
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise VihfError(f"{what} '{text}' is not an xs:dateTime") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


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


@dataclass
class VihfVerifier:
    """Verifies assertions; one already verified (the same bytes: a client sends its VIHF on
    every call of a session) is not verified again, only its validity window is."""

    keys: xmlsec.KeysManager
    max_age: dt.timedelta = dt.timedelta(hours=1)
    clock_skew: dt.timedelta = dt.timedelta(minutes=5)
    now: Callable[[], dt.datetime] = field(default=lambda: dt.datetime.now(dt.UTC))
    cache_size: int = 10_000
    # assertion digest → (principal, issued at, not on or after)
    _verified: OrderedDict[bytes, tuple[Principal, dt.datetime, dt.datetime | None]] = field(
        default_factory=OrderedDict, repr=False)

    @classmethod
    def from_path(cls, path: Path, **options) -> VihfVerifier:
        return cls(trusted_keys(path), **options)

    def principal(self, security: etree._Element | None) -> Principal:
        """The caller the `wsse:Security` header proves, or VihfError."""
        if security is None:
            raise VihfError("no wsse:Security header: a signed VIHF assertion is required")
        assertions = security.findall(f"{{{SAML}}}Assertion")
        if len(assertions) != 1:
            raise VihfError(f"wsse:Security must hold one saml:Assertion ({len(assertions)} "
                            "found)")
        assertion = assertions[0]
        key = _cache_key(assertion)
        cached = self._verified.get(key) if key else None
        if cached is None:
            self._verify_signature(assertion)
            window = self._check_times(assertion)
            principal = self._read(assertion)
            self._verified[key] = (principal, *window)   # signed: key is not empty
            if len(self._verified) > self.cache_size:
                self._verified.popitem(last=False)
            return principal
        self._verified.move_to_end(key)
        principal, issued, not_after = cached
        self._check_window(issued, not_after)          # a cached assertion still expires
        return principal

    # --- signature -----------------------------------------------------------------------------

    def _verify_signature(self, assertion: etree._Element) -> None:
        signature = assertion.find(f"{{{DS}}}Signature")
        if signature is None:
            raise VihfError("the VIHF assertion is not signed")
        assertion_id = assertion.get("ID") or ""
        references = signature.findall(f"{{{DS}}}SignedInfo/{{{DS}}}Reference")
        if len(references) != 1 or references[0].get("URI") != f"#{assertion_id}":
            raise VihfError("the signature must cover the assertion itself (one Reference to "
                            f"#{assertion_id})")
        root = assertion.getroottree().getroot()
        if len(root.xpath("//*[@ID=$id]", id=assertion_id)) != 1:
            raise VihfError(f"the ID {assertion_id} appears more than once in the message")
        xmlsec.tree.add_ids(assertion, ["ID"])
        context = xmlsec.SignatureContext(self.keys)
        try:
            context.verify(signature)
        except xmlsec.Error:
            raise VihfError("the VIHF signature does not verify (altered assertion, or a "
                            "certificate this server does not trust)") from None
        certificate = signature.findtext(f".//{{{DS}}}X509Certificate") or ""
        issuer = assertion.findtext(f"{{{SAML}}}Issuer") or ""
        try:
            signer = subject_of_base64(certificate)
        except CertificateError as exc:
            raise VihfError(f"the signing certificate cannot be read: {exc}") from None
        if parse_dn(issuer) != signer:
            raise VihfError(f"the Issuer '{issuer}' is not the subject of the signing "
                            "certificate")

    def _check_times(self, assertion: etree._Element) -> tuple[dt.datetime, dt.datetime | None]:
        """Check the validity window; returns it (IssueInstant, NotOnOrAfter) for the cache."""
        now = self.now()
        issued = _utc(assertion.get("IssueInstant"), "IssueInstant")
        not_after = None
        conditions = assertion.find(f"{{{SAML}}}Conditions")
        if conditions is not None:
            if conditions.get("NotBefore") and \
                    now + self.clock_skew < _utc(conditions.get("NotBefore"), "NotBefore"):
                raise VihfError("the assertion is not valid yet (NotBefore)")
            if conditions.get("NotOnOrAfter"):
                not_after = _utc(conditions.get("NotOnOrAfter"), "NotOnOrAfter")
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

    # --- attributes ----------------------------------------------------------------------------

    def _read(self, assertion: etree._Element) -> Principal:
        values: dict[str, list[etree._Element]] = {}
        for attribute in assertion.iter(f"{{{SAML}}}Attribute"):
            values.setdefault(attribute.get("Name", ""), []).extend(
                attribute.findall(f"{{{SAML}}}AttributeValue"))
        missing = [name for name in REQUIRED if not values.get(name)]
        if missing:
            raise VihfError(f"the VIHF lacks the attribute(s) {', '.join(missing)}")

        def text(name: str) -> str:
            return (values[name][0].text or "").strip() if values.get(name) else ""

        purpose = values[PURPOSE][0].find(f"{{{HL7}}}PurposeOfUse")
        if purpose is None or purpose.get("codeSystem") != PURPOSE_OF_USE_SYSTEM or \
                purpose.get("code") not in PURPOSES:
            raise VihfError(f"purposeofuse must be one of {', '.join(PURPOSES)} in "
                            f"{PURPOSE_OF_USE_SYSTEM}")
        roles = [r for v in values[ROLE] for r in v.findall(f"{{{HL7}}}Role")]
        if not roles:
            raise VihfError("the role attribute holds no hl7:Role")
        first = roles[0]
        kind = ROLE_KINDS.get((first.get("codeSystem", ""), first.get("code", "")))
        if kind is None and first.get("codeSystem") in PROFESSION_SYSTEMS:
            kind = "professional"
        if kind is None:
            raise VihfError(f"role {first.get('code')} of {first.get('codeSystem')} is not a "
                            "role this server knows")
        subject = (assertion.findtext(f"{{{SAML}}}Subject/{{{SAML}}}NameID") or "").strip()
        if not subject:
            raise VihfError("Subject/NameID (the caller's national identifier) is missing")
        return Principal(
            subject_id=subject, role=kind, structure_id=text("Identifiant_Structure"),
            purpose_of_use=purpose.get("code", "normal"), patient_id=text(RESOURCE_ID),
            attributes={"profession": f"{first.get('code')}^{first.get('codeSystem')}",
                        "specialities": " ".join(f"{r.get('code')}^{r.get('codeSystem')}"
                                                 for r in roles[1:]),
                        "authentication_mode": text("Authentification_Mode"),
                        "sector": text("Secteur_Activite"), "name": text(SUBJECT_NAME),
                        "vihf_version": text("VIHF_Version")})
