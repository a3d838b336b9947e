"""XML-Signature core validation by xmlsec: SignedInfo's references (the Manifest, the XAdES
SignedProperties) and the SignatureValue, with the signer's key.

Why xmlsec (measured, `bench/dsig_libraries.py`): it canonicalises a sub-element of a document
written with a default namespace correctly, as DMP clients write their signatures
(`<Signature xmlns="http://www.w3.org/2000/09/xmldsig#">`); lxml 6.1.3 (and 5.3), and with it
signxml, put a spurious `xmlns=""` on the grandchildren and reject those valid signatures.

Two things xmlsec would do that this module stops:
- it dereferences a Manifest's References itself (XMLDSig §5.1 leaves that to the application;
  python-xmlsec cannot set XMLSEC_DSIG_FLAGS_IGNORE_MANIFESTS): it would open `urn:oid:...` as
  a file name, and fail on the DSG SubmissionSet reference whose DigestValue is "0". So the
  Manifest is moved, for the verification, into an element of the XML-Signature namespace
  that xmlsec does not process; no namespace declaration changes, so the Manifest's canonical
  form, and the digest SignedInfo holds of it, are the same. The Manifest's references are
  checked by `manifest.py` against the bytes received.
- it would fetch any external URI through its default I/O callbacks (files, HTTP): they are
  removed, process-wide, so no signature verified in this process reaches outside it.
"""

from __future__ import annotations

import copy
import functools

import xmlsec
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from lxml import etree

from .certificates import der_of
from .problems import SignatureRefused
from .shape import SignatureParts, ds, local

UNPROCESSED = ds("ManifestHeldForTheApplication")
# What xmlsec may run, besides shape.py's checks (a second lock on the same door): once a
# list is given, any other transform (XSLT, XPath, base64...) is refused by xmlsec itself.
C14N_TRANSFORMS = (
    xmlsec.constants.TransformInclC14N, xmlsec.constants.TransformInclC14NWithComments,
    xmlsec.constants.TransformInclC14N11, xmlsec.constants.TransformInclC14N11WithComments,
    xmlsec.constants.TransformExclC14N, xmlsec.constants.TransformExclC14NWithComments,
)
DIGEST_TRANSFORMS = (xmlsec.constants.TransformSha1, xmlsec.constants.TransformSha256,
                      xmlsec.constants.TransformSha384, xmlsec.constants.TransformSha512)
SIGNATURE_TRANSFORMS = (
    xmlsec.constants.TransformRsaSha1, xmlsec.constants.TransformRsaSha256,
    xmlsec.constants.TransformRsaSha384, xmlsec.constants.TransformRsaSha512,
    xmlsec.constants.TransformEcdsaSha256, xmlsec.constants.TransformEcdsaSha384,
)


@functools.cache
def deny_external_uris() -> None:
    """No xmlsec I/O callbacks: a Reference can only resolve inside the document."""
    xmlsec.cleanup_callbacks()


@functools.lru_cache(maxsize=256)
def public_key(certificate_der: bytes) -> xmlsec.Key:
    """The certificate's public key alone for xmlsec, loaded once (a context takes a copy of
    it): a source signs every submission with the same seal. Loaded from the certificate, the
    key carried its X.509 data, which every context copied (0.06 ms a verification, as the
    VIHF's did); the certificate itself is checked by xades.py and trust.py, not by xmlsec."""
    certificate = x509.load_der_x509_certificate(certificate_der)
    pem = certificate.public_key().public_bytes(serialization.Encoding.PEM,
                                                serialization.PublicFormat.SubjectPublicKeyInfo)
    return xmlsec.Key.from_memory(pem, xmlsec.constants.KeyDataFormatPem)


def _hold_manifest(manifest: etree._Element) -> None:
    parent = manifest.getparent()
    context = manifest.nsmap
    holder = etree.SubElement(parent, UNPROCESSED)
    parent.replace(manifest, holder)       # holder takes the Manifest's place...
    holder.append(manifest)                # ...and the Manifest goes inside it
    if holder.nsmap != parent.nsmap or manifest.nsmap != context:
        raise SignatureRefused("Signature/Object/Manifest", "the Manifest's namespace context "
                                                            "cannot be kept for verification")


def verification_context(signer: x509.Certificate, enveloped: bool = False
                         ) -> xmlsec.SignatureContext:
    """An xmlsec context that verifies with `signer`'s key and runs only the transforms this
    server reads (canonicalisations, digests, signature methods; `enveloped` for a CDA's own
    signature): a signature asking for any other is refused by xmlsec itself."""
    context = xmlsec.SignatureContext()
    extra = (xmlsec.constants.TransformEnveloped,) if enveloped else ()
    for transform in (*C14N_TRANSFORMS, *DIGEST_TRANSFORMS, *extra):
        context.enable_reference_transform(transform)
    for transform in (*C14N_TRANSFORMS, *SIGNATURE_TRANSFORMS):
        context.enable_signature_transform(transform)
    context.key = public_key(der_of(signer))
    return context


def verify_core(parts: SignatureParts, signer: x509.Certificate) -> None:
    """SignedInfo's references and SignatureValue verified with `signer`'s key, or
    SignatureRefused saying which failed."""
    deny_external_uris()
    root = parts.root
    if parts.manifest.getparent().tag != UNPROCESSED:
        _hold_manifest(parts.manifest)
    xmlsec.tree.add_ids(root, ["Id"])
    context = verification_context(signer)
    try:
        context.verify(root)
    except xmlsec.Error:
        raise _diagnosis(parts) from None


def _diagnosis(parts: SignatureParts) -> SignatureRefused:
    """Which part failed: a signed element's digest (recomputed by xmlsec in a copy, with a
    throw-away key), else the SignatureValue."""
    for claimed, target in parts.signed_info_references:
        actual = _digest_of(parts.root, target)
        if actual is not None and actual != "".join(claimed.split()):
            what = {"Manifest": "the Manifest (the list of signed documents)",
                    "SignedProperties": "the XAdES SignedProperties (signing time and "
                                        "certificate)",
                    "KeyInfo": "the KeyInfo"}.get(local(target), local(target))
            return SignatureRefused(f"Signature/SignedInfo/Reference[@URI='#{target.get('Id')}']",
                                    f"{what} was altered after signing: its digest is not the "
                                    "one SignedInfo signs")
    return SignatureRefused("Signature/SignatureValue",
                            "the SignatureValue does not verify with the signing certificate's "
                            "key: SignedInfo was altered, or another key signed it")


def _digest_of(root: etree._Element, target: etree._Element) -> str | None:
    """The digest xmlsec computes for `target`, as its Reference in SignedInfo asks."""
    reference = next(r for r in root.find(ds("SignedInfo")).iter(ds("Reference"))
                     if r.get("URI") == f"#{target.get('Id')}")
    scratch_root = copy.deepcopy(root)
    scratch = xmlsec.template.create(scratch_root, xmlsec.constants.TransformInclC14N,
                                     xmlsec.constants.TransformHmacSha256)
    scratch_root.append(scratch)
    copied = copy.deepcopy(reference)
    copied.find(ds("DigestValue")).text = ""
    scratch.find(ds("SignedInfo")).append(copied)
    key = xmlsec.Key.from_binary_data(xmlsec.constants.KeyDataHmac, b"diagnosis only")
    context = xmlsec.SignatureContext()
    context.key = key
    xmlsec.tree.add_ids(scratch_root, ["Id"])
    try:
        context.sign(scratch)
    except xmlsec.Error:
        return None
    return "".join((copied.find(ds("DigestValue")).text or "").split())
