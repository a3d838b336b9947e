"""A CDA's own signature (the CI-SIS allows a signed document; the DMP does not require one,
PDSm4DMP TD2 §3.4.1.1.4): an enveloped `ds:Signature`, the last child of ClinicalDocument,
whose one document Reference (URI "", enveloped-signature and canonicalisation transforms)
covers the whole document, optionally with XAdES SignedProperties (signing time, certificate).

Verified by xmlsec and the trust store like a submission-set signature, with the same rules
(shape.py): one Signature in the document, nothing but the known parts inside it, ids unique,
values whole. The result is reported (`xds-server validate`, the audit), and refuses an ITI-41
only when XDS_REQUIRE_CDA_SIGNATURE asks.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

import xmlsec
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from lxml import etree

from ..xmlsafe import parse_xml
from .certificates import subject_of
from .problems import SignatureRefused
from .seal import Seal
from .shape import (
    check_ids,
    ds,
    elements,
    local,
    no_text,
    read_certificates,
    reference_parts,
    whole_text,
)
from .trust import TrustStore
from .vocabulary import (
    CANONICALIZATIONS,
    DIGEST_URIS,
    DIGESTS,
    ENVELOPED,
    SHA1_ONLY,
    SHA1_SIGNATURE_METHODS,
    SIGNATURE_METHODS,
    XADES_111,
    XADES_NAMESPACES,
)
from .xades import read_signed_properties, signer_of
from .xmlcore import deny_external_uris, verification_context

DS_NAMESPACE_BYTES = b"http://www.w3.org/2000/09/xmldsig#"


@dataclass(frozen=True)
class CdaSignature:
    """`status`: valid, invalid or unsigned; `trusted`: the signer was checked against the
    trusted authorities (False when none are configured: the signature is then only intact)."""

    status: str
    reason: str = ""
    signer: str = ""
    signing_time: str = ""
    trusted: bool = False

    def describe(self) -> str:
        if self.status == "unsigned":
            return "not signed"
        if self.status == "invalid":
            return f"signature INVALID: {self.reason}"
        who = f"signed by '{self.signer}' at {self.signing_time}"
        return f"signature valid, {who}" if self.trusted else \
            f"signature intact, {who}; the signer was not checked (no trusted authorities: " \
            "XDS_SIGNATURE_TRUSTED_CERTS)"


def may_be_signed(data: bytes) -> bool:
    """A cheap first look: a document without the XML-Signature namespace carries no
    signature (no need to parse it again)."""
    return DS_NAMESPACE_BYTES in data


@dataclass
class CdaSignatureVerifier:
    trust: TrustStore | None
    now: Callable[[], dt.datetime] = field(default=lambda: dt.datetime.now(dt.UTC))
    accept_sha1: bool = False

    def check_bytes(self, data: bytes) -> CdaSignature:
        if not may_be_signed(data):
            return CdaSignature("unsigned")
        return self.check(parse_xml(data))

    def check(self, root: etree._Element) -> CdaSignature:
        """The verdict on the signature `root` (a parsed ClinicalDocument) carries."""
        signatures = list(root.iter(ds("Signature")))
        if not signatures:
            return CdaSignature("unsigned")
        try:
            return self._verify(root, signatures)
        except SignatureRefused as refused:
            return CdaSignature("invalid", f"{refused.reason} (at {refused.where})")

    def _verify(self, root: etree._Element, signatures: list[etree._Element]) -> CdaSignature:
        if len(signatures) > 1:
            raise SignatureRefused("ds:Signature", f"the document holds {len(signatures)} "
                                                   "signatures; one is accepted")
        signature = signatures[0]
        if signature.getparent() is not root:
            raise SignatureRefused("ds:Signature", "the signature is not a child of the "
                                                   "ClinicalDocument (an enveloped signature)")
        check_ids(root)
        properties_element = _shape(signature)
        certificates = read_certificates(signature.find(ds("KeyInfo")))
        properties = read_signed_properties(properties_element) \
            if properties_element is not None else None
        weak = _sha1_in(signature) or (properties.uses_sha1 if properties else None)
        if weak and not self.accept_sha1:
            raise SignatureRefused(weak, SHA1_ONLY)
        if properties is not None:
            signer = signer_of(certificates, properties)
        elif len(certificates) == 1:
            signer = certificates[0]
        else:
            raise SignatureRefused("ds:KeyInfo", "several certificates and no XAdES "
                                                 "SigningCertificate: which one signed?")
        _verify_core(root, signature, signer)
        signed_at = properties.signing_time if properties is not None else self.now()
        result = {"signer": subject_of(signer),
                  "signing_time": signed_at.isoformat()}
        if self.trust is None:
            return CdaSignature("valid", trusted=False, **result)
        self.trust.chain(signer, [c for c in certificates if c is not signer], signed_at,
                         self.accept_sha1)
        return CdaSignature("valid", trusted=True, **result)


def _sha1_in(signature: etree._Element) -> str | None:
    signed_info = signature.find(ds("SignedInfo"))
    method = signed_info.find(ds("SignatureMethod"))
    if method is not None and method.get("Algorithm") in SHA1_SIGNATURE_METHODS:
        return "SignedInfo/SignatureMethod"
    if any(DIGESTS.get(d.get("Algorithm") or "") == "sha1"
           for d in signed_info.iter(ds("DigestMethod"))):
        return "SignedInfo/Reference/DigestMethod"
    return None


def _shape(signature: etree._Element) -> etree._Element | None:
    """The signature's parts checked (shape.py's rules, for an enveloped signature); returns
    the XAdES SignedProperties when there are some (they must be signed)."""
    no_text(signature, "ds:Signature")
    children = elements(signature)
    if [c.tag for c in children[:3]] != [ds("SignedInfo"), ds("SignatureValue"), ds("KeyInfo")] \
            or any(c.tag != ds("Object") for c in children[3:]):
        raise SignatureRefused("ds:Signature", "ds:Signature must hold SignedInfo, "
                                               "SignatureValue, KeyInfo and Objects")
    signed_properties = None
    for obj in children[3:]:
        for child in elements(obj):
            if local(child) != "QualifyingProperties" or \
                    etree.QName(child).namespace not in XADES_NAMESPACES \
                    or signed_properties is not None:
                raise SignatureRefused("ds:Object", f"a ds:Object holds <{local(child)}>: "
                                                    "only one XAdES QualifyingProperties")
            found = [e for e in elements(child) if local(e) == "SignedProperties"]
            if len(found) != 1:
                raise SignatureRefused("QualifyingProperties", "QualifyingProperties must hold "
                                                               "one SignedProperties")
            signed_properties = found[0]
    signed_info = children[0]
    no_text(signed_info, "SignedInfo")
    parts = elements(signed_info)
    if [local(p) for p in parts[:2]] != ["CanonicalizationMethod", "SignatureMethod"]:
        raise SignatureRefused("SignedInfo", "SignedInfo must start with "
                                             "CanonicalizationMethod and SignatureMethod")
    if parts[0].get("Algorithm") not in CANONICALIZATIONS or \
            parts[1].get("Algorithm") not in SIGNATURE_METHODS:
        raise SignatureRefused("SignedInfo", "canonicalisation or signature method not accepted")
    document, properties = [], []
    for reference in parts[2:]:
        uri = reference.get("URI")
        if reference.tag == ds("Reference") and uri == "":
            _document_reference(reference)
            document.append(reference)
        elif reference.tag == ds("Reference") and signed_properties is not None and \
                uri == f"#{signed_properties.get('Id')}":
            reference_parts(reference, "SignedInfo/Reference")
            properties.append(reference)
        else:
            raise SignatureRefused("SignedInfo/Reference", f"a Reference to '{uri}': the "
                                                           "document (URI \"\") and its XAdES "
                                                           "SignedProperties only")
    if len(document) != 1 or (signed_properties is not None and len(properties) != 1):
        raise SignatureRefused("SignedInfo", "SignedInfo must sign the whole document once "
                                             "(and the SignedProperties once, when present)")
    return signed_properties


def _document_reference(reference: etree._Element) -> None:
    """URI "" with the enveloped-signature transform, then at most a canonicalisation."""
    where = "SignedInfo/Reference[@URI='']"
    children = elements(reference)
    if not children or children[0].tag != ds("Transforms"):
        raise SignatureRefused(where, "the document Reference needs the enveloped-signature "
                                      "transform")
    algorithms = [t.get("Algorithm") for t in elements(children[0])]
    if not algorithms or algorithms[0] != ENVELOPED or len(algorithms) > 2 or \
            any(a not in CANONICALIZATIONS for a in algorithms[1:]) or \
            any(t.tag != ds("Transform") or elements(t) for t in elements(children[0])):
        raise SignatureRefused(where, "transforms: enveloped-signature, then at most one "
                                      "canonicalisation")
    rest = children[1:]
    if [c.tag for c in rest] != [ds("DigestMethod"), ds("DigestValue")] or \
            rest[0].get("Algorithm") not in DIGESTS:
        raise SignatureRefused(where, "the document Reference needs a DigestMethod this "
                                      "server accepts and a DigestValue")
    whole_text(rest[1], f"{where}/DigestValue")


def _verify_core(root: etree._Element, signature: etree._Element,
                 signer: x509.Certificate) -> None:
    deny_external_uris()
    xmlsec.tree.add_ids(root, ["Id"])
    context = verification_context(signer, enveloped=True)
    try:
        context.verify(signature)
    except xmlsec.Error:
        raise SignatureRefused("ds:Signature", "the signature does not verify: the document "
                                               "was altered after signing, or another key "
                                               "signed it") from None


def sign_cda(data: bytes, seal: Seal, digest: str = "sha256",
             signing_time: dt.datetime | None = None) -> bytes:
    """The CDA with an enveloped XAdES signature by `seal` as its last child (what a source
    that signs its documents sends; the tests' signed CDAs are made so)."""
    root = parse_xml(data)
    transforms = {"sha256": (xmlsec.constants.TransformRsaSha256,
                             xmlsec.constants.TransformSha256),
                  "sha1": (xmlsec.constants.TransformRsaSha1, xmlsec.constants.TransformSha1)}
    method, digest_transform = transforms[digest]
    signature_id = "CDA-Signature"
    signature = xmlsec.template.create(root, xmlsec.constants.TransformInclC14N, method,
                                       id=signature_id, ns="ds")
    root.append(signature)
    reference = xmlsec.template.add_reference(signature, digest_transform, uri="")
    xmlsec.template.add_transform(reference, xmlsec.constants.TransformEnveloped)
    xmlsec.template.add_transform(reference, xmlsec.constants.TransformInclC14N)
    xmlsec.template.add_reference(signature, digest_transform, uri="#CDA-SignedProperties")
    x509_data = xmlsec.template.add_x509_data(xmlsec.template.ensure_key_info(signature))
    xmlsec.template.x509_data_add_certificate(x509_data)
    xades = f"{{{XADES_111}}}"
    qualifying = etree.SubElement(etree.SubElement(signature, ds("Object")),
                                  f"{xades}QualifyingProperties", nsmap={"xades": XADES_111},
                                  Target=f"#{signature_id}")
    signed = etree.SubElement(qualifying, f"{xades}SignedProperties",
                              Id="CDA-SignedProperties")
    properties = etree.SubElement(signed, f"{xades}SignedSignatureProperties")
    etree.SubElement(properties, f"{xades}SigningTime").text = \
        (signing_time or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    cert = etree.SubElement(etree.SubElement(properties, f"{xades}SigningCertificate"),
                            f"{xades}Cert")
    cert_digest = etree.SubElement(cert, f"{xades}CertDigest")
    etree.SubElement(cert_digest, f"{xades}DigestMethod", Algorithm=DIGEST_URIS[digest])
    der = seal.certificate.public_bytes(serialization.Encoding.DER)
    etree.SubElement(cert_digest, f"{xades}DigestValue").text = \
        base64.b64encode(hashlib.new(digest, der).digest()).decode()
    context = xmlsec.SignatureContext()
    context.key = seal.key(with_certificate=True)
    xmlsec.tree.add_ids(root, ["Id"])
    context.sign(signature)
    return etree.tostring(root.getroottree(), xml_declaration=True, encoding="UTF-8")
