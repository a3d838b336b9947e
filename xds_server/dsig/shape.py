"""What a submission-set signature document may hold, checked before any cryptography, so that
what is verified is what is read and nothing else can be mistaken for it.

A detached XAdES signature is one `ds:Signature` whose SignedInfo signs a `ds:Manifest` (the
documents' digests, DSG §5.5.3) and the XAdES `SignedProperties` (signing time and certificate);
both live in `ds:Object`s of the same Signature, beside content no signature covers. Each rule,
and the attack it stops (`tests/test_dsig_attacks.py` mounts each one):

1. The document is one `ds:Signature`, and no other Signature appears in it: a second
   signature (hidden in an Object) read instead of, or beside, the verified one.
2. Signature holds SignedInfo, SignatureValue, KeyInfo, then Objects only, with no text:
   content spliced between the parts.
3. Every Reference of SignedInfo is a same-document `#Id` whose target is the Manifest, the
   SignedProperties or the KeyInfo, each signed exactly once, the Manifest and the
   SignedProperties always: an unsigned Manifest, or a Reference to something read elsewhere.
4. Ids are unique and only `Id` attributes name targets (no `xml:id`, no other id attribute
   carrying a target's value): signature wrapping, a Reference resolving to a decoy while the
   reader reads the original.
5. Exactly one `ds:Manifest` in the document, a direct child of a `ds:Object`, and no
   `ds:Reference` outside SignedInfo and that Manifest: an unsigned Manifest entry or a
   second Manifest read as the list of signed documents.
6. Exactly one `QualifyingProperties` whose Target is this Signature and which holds one
   SignedProperties: signing time or certificate read from unsigned properties.
7. Transforms are canonicalisations only, algorithms from fixed lists (vocabulary.py): an
   XPath or XSLT transform leaving content out of a digest, or making the verifier run code.
8. A value read (DigestValue, certificate, a Reference's URI) is plain text, whole: a comment
   or element spliced in a value (`AAA<!--x-->BBB` read as `AAA`).
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509
from lxml import etree

from .certificates import from_base64
from .problems import SignatureRefused
from .vocabulary import (
    CANONICALIZATIONS,
    DIGESTS,
    DS,
    MANIFEST_TYPE,
    SHA1_SIGNATURE_METHODS,
    SIGNATURE_METHODS,
    SIGNED_PROPERTIES_TYPES,
    XADES_NAMESPACES,
    XML_NS,
)

MAX_CERTIFICATES = 8
# QualifyingProperties in either XAdES namespace (lxml's iter finds them by tag, in C)
_QUALIFYING_TAGS = tuple(f"{{{namespace}}}QualifyingProperties" for namespace in XADES_NAMESPACES)
MAX_MANIFEST_REFERENCES = 10_000


def ds(name: str) -> str:
    return f"{{{DS}}}{name}"


@dataclass(frozen=True)
class ManifestReference:
    uri: str
    digest: str                      # hashlib name
    digest_value: str                # as written (base64)
    canonicalization: str | None     # a C14N transform: the digest is of the canonical form


@dataclass
class SignatureParts:
    """The checked signature and the elements the verifier reads."""

    root: etree._Element
    signature_id: str
    canonicalization: str
    signature_method: str
    signed_info_references: list[tuple[str, etree._Element]]   # (digest value, target)
    manifest: etree._Element
    manifest_references: list[ManifestReference]
    qualifying_properties: etree._Element
    signed_properties: etree._Element
    certificates: list[x509.Certificate]
    signed_info_digests: list[str]           # hashlib names, for the SHA-1 policy

    @property
    def uses_sha1(self) -> str | None:
        """Where SHA-1 is used (signature method, a digest), or None."""
        if self.signature_method in SHA1_SIGNATURE_METHODS:
            return "Signature/SignedInfo/SignatureMethod"
        if "sha1" in self.signed_info_digests:
            return "Signature/SignedInfo/Reference/DigestMethod"
        if any(r.digest == "sha1" for r in self.manifest_references):
            return "Manifest/Reference/DigestMethod"
        return None


def elements(parent: etree._Element) -> list[etree._Element]:
    return [child for child in parent if isinstance(child.tag, str)]


def local(element: etree._Element) -> str:
    return element.tag.rpartition("}")[2]


def no_text(parent: etree._Element, where: str) -> None:
    """Only whitespace between the elements of a structure (rule 2). One pass over the
    children (called for every structure of every signature)."""
    text = parent.text
    refused = bool(text) and not text.isspace()
    for child in parent:
        if refused:
            break
        tail = child.tail
        refused = (bool(tail) and not tail.isspace()) or \
            isinstance(child, etree._ProcessingInstruction)
    if refused:
        raise SignatureRefused(where, f"{where} holds text or processing instructions between "
                                      "its elements")


def whole_text(element: etree._Element, where: str) -> str:
    """The element's text, which must be all it holds (rule 8)."""
    if len(element):
        raise SignatureRefused(where, f"{where} must be plain text (it holds a comment, a "
                                      "processing instruction or an element)")
    text = (element.text or "").strip()
    if not text:
        raise SignatureRefused(where, f"{where} is empty")
    return text


def _algorithm(element: etree._Element, allowed, where: str) -> str:
    algorithm = element.get("Algorithm") or ""
    if algorithm not in allowed:
        raise SignatureRefused(where, f"{where} algorithm '{algorithm}' is not accepted")
    return algorithm


def check_ids(root: etree._Element) -> dict[str, etree._Element]:
    """Every `Id` value once; no xml:id, no other id attribute reusing one (rule 4)."""
    ids: dict[str, etree._Element] = {}
    other: set[str] = set()
    for element in root.iter(etree.Element):       # elements only (no comments, PIs)
        for name, value in element.items():
            if name == f"{{{XML_NS}}}id":
                raise SignatureRefused("xml:id", "xml:id attributes are not accepted in a "
                                                 "signature document (they name Reference "
                                                 "targets besides Id)")
            if name == "Id":
                if value in ids:
                    raise SignatureRefused(f"@Id='{value}'", f"the Id '{value}' appears "
                                                             "twice: which element is signed?")
                ids[value] = element
            elif name.lower() == "id" or name.lower().endswith("}id"):
                other.add(value)
    clash = sorted(other & set(ids))
    if clash:
        raise SignatureRefused(f"@Id='{clash[0]}'", f"the Id '{clash[0]}' is also the value "
                                                    "of another id attribute")
    return ids


def read_signature(root: etree._Element) -> SignatureParts:
    """The signature's parts after the rules above, or SignatureRefused."""
    if root.tag != ds("Signature"):
        raise SignatureRefused("/", f"the signature document's root is {root.tag}, not a "
                                    "ds:Signature (a detached XAdES signature)")
    if sum(1 for _ in root.iter(ds("Signature"))) != 1:
        raise SignatureRefused("Signature", "the signature document holds a second "
                                            "ds:Signature: one signature is accepted")
    ids = check_ids(root)
    children = elements(root)
    no_text(root, "Signature")
    names = [c.tag for c in children[:3]]
    if names != [ds("SignedInfo"), ds("SignatureValue"), ds("KeyInfo")] or \
            any(c.tag != ds("Object") for c in children[3:]):
        found = ", ".join(local(c) for c in children) or "nothing"
        raise SignatureRefused("Signature", "ds:Signature must hold SignedInfo, SignatureValue, "
                                            f"KeyInfo and Objects, in that order (found {found})")
    signed_info, _, key_info = children[:3]
    objects = children[3:]
    manifest, qualifying, signed_properties = _objects(root, objects)
    canonicalization, method, references, digests = _signed_info(signed_info, ids)
    targets = [target for _, target in references]
    for wanted, what in ((manifest, "the Manifest"), (signed_properties, "the SignedProperties")):
        if targets.count(wanted) != 1:
            raise SignatureRefused("Signature/SignedInfo", f"SignedInfo must sign {what} "
                                                           "exactly once")
    if targets.count(key_info) > 1:
        raise SignatureRefused("Signature/SignedInfo", "SignedInfo signs the KeyInfo twice")
    for target in targets:
        if target is not manifest and target is not signed_properties and target is not key_info:
            raise SignatureRefused("Signature/SignedInfo", f"SignedInfo signs a <{local(target)}>"
                                                           ": a submission-set signature signs "
                                                           "its Manifest, SignedProperties and "
                                                           "KeyInfo only")
    signature_id = root.get("Id") or ""
    if not signature_id or qualifying.get("Target") != f"#{signature_id}":
        raise SignatureRefused("QualifyingProperties/@Target",
                               "the XAdES QualifyingProperties must target this Signature "
                               f"(Target='#{signature_id or '<Signature/@Id>'}')")
    return SignatureParts(root, signature_id, canonicalization, method, references, manifest,
                          _manifest_references(manifest), qualifying, signed_properties,
                          read_certificates(key_info), digests)


def _objects(root: etree._Element, objects: list[etree._Element]
             ) -> tuple[etree._Element, etree._Element, etree._Element]:
    """The Manifest, QualifyingProperties and SignedProperties (rules 5 and 6)."""
    manifests = list(root.iter(ds("Manifest")))
    if len(manifests) != 1 or manifests[0].getparent() not in objects:
        raise SignatureRefused("Signature/Object/Manifest",
                               f"the signature must hold one ds:Manifest in a ds:Object "
                               f"({len(manifests)} found): a second, unsigned Manifest is "
                               "refused")
    manifest = manifests[0]
    for reference in root.iter(ds("Reference")):
        if reference.getparent() is not manifest and \
                reference.getparent().tag != ds("SignedInfo"):
            raise SignatureRefused("Signature/Object", "a ds:Reference outside SignedInfo and "
                                                       "the signed Manifest (an unsigned "
                                                       "Manifest entry)")
    qualifying = list(root.iter(*_QUALIFYING_TAGS))
    if len(qualifying) != 1 or qualifying[0].getparent() not in objects:
        raise SignatureRefused("Signature/Object/QualifyingProperties",
                               "the signature must hold one XAdES QualifyingProperties in a "
                               f"ds:Object ({len(qualifying)} found)")
    namespace = etree.QName(qualifying[0]).namespace
    no_text(qualifying[0], "QualifyingProperties")
    parts = elements(qualifying[0])
    if [local(e) for e in parts[:1]] != ["SignedProperties"] or \
            any(etree.QName(e).namespace != namespace for e in parts) or \
            [local(e) for e in parts[1:]] not in ([], ["UnsignedProperties"]):
        raise SignatureRefused("QualifyingProperties", "QualifyingProperties must hold "
                                                       "SignedProperties (and optionally "
                                                       "UnsignedProperties)")
    for obj in objects:
        no_text(obj, "Signature/Object")
        for child in elements(obj):
            if child.tag == ds("SignatureProperties"):
                _unsigned_properties(child)
            elif child is not manifest and child is not qualifying[0]:
                raise SignatureRefused("Signature/Object", f"a ds:Object holds <{local(child)}>"
                                                           ": only the Manifest, the XAdES "
                                                           "properties and SignatureProperties "
                                                           "are accepted")
    return manifest, qualifying[0], parts[0]


def _unsigned_properties(properties: etree._Element) -> None:
    """SignatureProperties, where DMP clients put the purpose unsigned: never read, so held to
    text values (rule 2: nothing else can hide there)."""
    no_text(properties, "Signature/Object/SignatureProperties")
    for prop in elements(properties):
        if prop.tag != ds("SignatureProperty") or elements(prop):
            raise SignatureRefused("Signature/Object/SignatureProperties",
                                   f"SignatureProperties holds <{local(prop)}> with elements: "
                                   "unsigned content holds text only")


def _signed_info(signed_info: etree._Element, ids: dict[str, etree._Element]
                 ) -> tuple[str, str, list[tuple[str, etree._Element]], list[str]]:
    where = "Signature/SignedInfo"
    no_text(signed_info, where)
    children = elements(signed_info)
    if [local(c) for c in children[:2]] != ["CanonicalizationMethod", "SignatureMethod"] or \
            len(children) < 3 or any(c.tag != ds("Reference") for c in children[2:]) or \
            any(etree.QName(c).namespace != DS for c in children):
        raise SignatureRefused(where, "SignedInfo must hold CanonicalizationMethod, "
                                      "SignatureMethod and References")
    canonicalization = _algorithm(children[0], CANONICALIZATIONS,
                                  f"{where}/CanonicalizationMethod")
    if elements(children[0]):
        raise SignatureRefused(f"{where}/CanonicalizationMethod",
                               "CanonicalizationMethod carries parameters")
    method = _algorithm(children[1], SIGNATURE_METHODS, f"{where}/SignatureMethod")
    references, digests = [], []
    for reference in children[2:]:
        uri = reference.get("URI") or ""
        target = ids.get(uri[1:]) if uri.startswith("#") else None
        if target is None:
            raise SignatureRefused(f"{where}/Reference", f"Reference URI '{uri}' is not the "
                                                         "#Id of an element of this signature")
        _check_type(reference, target)
        _, digest, value = reference_parts(reference, f"{where}/Reference[@URI='{uri}']")
        references.append((value, target))
        digests.append(digest)
    return canonicalization, method, references, digests


def _check_type(reference: etree._Element, target: etree._Element) -> None:
    kind = reference.get("Type")
    if kind is None:
        return
    expected = {MANIFEST_TYPE} if target.tag == ds("Manifest") else \
        SIGNED_PROPERTIES_TYPES if local(target) == "SignedProperties" else set()
    if expected and kind not in expected:
        raise SignatureRefused("Signature/SignedInfo/Reference/@Type",
                               f"a Reference of Type '{kind}' points at a <{local(target)}>")


def reference_parts(reference: etree._Element, where: str
                     ) -> tuple[str | None, str, str]:
    """(the canonicalisation transform if any, hashlib name, DigestValue) of a Reference."""
    no_text(reference, where)
    children = elements(reference)
    names = [c.tag for c in children]
    if names not in ([ds("DigestMethod"), ds("DigestValue")],
                     [ds("Transforms"), ds("DigestMethod"), ds("DigestValue")]):
        raise SignatureRefused(where, "a Reference holds Transforms (optional), DigestMethod "
                                      "and DigestValue")
    canonicalization = None
    if len(children) == 3:
        no_text(children[0], where)
        transforms = elements(children[0])
        if len(transforms) != 1 or transforms[0].tag != ds("Transform") or \
                [c for c in elements(transforms[0])
                 if local(c) != "InclusiveNamespaces"]:
            raise SignatureRefused(where, "a Reference may carry one canonicalisation transform "
                                          "and nothing else")
        canonicalization = _algorithm(transforms[0], CANONICALIZATIONS, f"{where}/Transform")
    digest = DIGESTS[_algorithm(children[-2], DIGESTS, f"{where}/DigestMethod")]
    return canonicalization, digest, whole_text(children[-1], f"{where}/DigestValue")


def _manifest_references(manifest: etree._Element) -> list[ManifestReference]:
    where = "Manifest"
    no_text(manifest, where)
    children = elements(manifest)
    if not children or any(c.tag != ds("Reference") for c in children):
        raise SignatureRefused(where, "the Manifest must hold ds:Reference elements only")
    if len(children) > MAX_MANIFEST_REFERENCES:
        raise SignatureRefused(where, f"the Manifest holds {len(children)} references; at most "
                                      f"{MAX_MANIFEST_REFERENCES} are read")
    references = []
    for reference in children:
        uri = (reference.get("URI") or "").strip()
        if not uri:
            raise SignatureRefused(where, "a Manifest Reference has no URI")
        canonicalization, digest, value = reference_parts(
            reference, f"Manifest/Reference[@URI='{uri}']")
        references.append(ManifestReference(uri, digest, value, canonicalization))
    return references


def read_certificates(key_info: etree._Element) -> list[x509.Certificate]:
    where = "Signature/KeyInfo"
    no_text(key_info, where)
    data = elements(key_info)
    if not data or any(c.tag != ds("X509Data") for c in data):
        raise SignatureRefused(where, "KeyInfo must hold X509Data (the signing certificate)")
    certificates = []
    for x509_data in data:
        no_text(x509_data, f"{where}/X509Data")
        for child in elements(x509_data):
            if etree.QName(child).namespace != DS or local(child) not in (
                    "X509Certificate", "X509IssuerSerial", "X509SubjectName", "X509SKI"):
                raise SignatureRefused(f"{where}/X509Data", f"X509Data holds <{local(child)}>")
            if local(child) != "X509Certificate":
                continue       # descriptive; the certificate itself is what is used
            text = whole_text(child, f"{where}/X509Data/X509Certificate")
            try:
                certificates.append(from_base64(text))
            except ValueError as exc:           # binascii.Error is one
                raise SignatureRefused(f"{where}/X509Data/X509Certificate",
                                       f"an X509Certificate cannot be read: {exc}") from None
    if not certificates or len(certificates) > MAX_CERTIFICATES:
        raise SignatureRefused(f"{where}/X509Data", f"KeyInfo must carry between 1 and "
                                                    f"{MAX_CERTIFICATES} certificates "
                                                    f"({len(certificates)} found)")
    return certificates
