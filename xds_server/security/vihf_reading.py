"""What a verified VIHF assertion may say, and how it is read: only from bytes its signature
covers, each value as its whole text, each identity attribute once.

An enveloped signature covers its assertion minus the `ds:Signature` element itself, and
canonicalisation drops comments, so anything planted inside the Signature, and any comment
spliced into a value, still verifies. These rules close that gap. Each row says the attack it
stops; tests/test_trust_attacks.py, test_trust_round2.py and test_vihf.py (the XSW1-8 shapes)
mount each attack.

Each rule, and the attack it stops:

1. One `wsse:Security` header addressed to this node (no SOAP role, or next/ultimateReceiver),
   holding one `saml:Assertion` as a direct child: a second, forged assertion or header read
   instead of the signed one (XSW).
2. The assertion's ID appears once in the whole message and the single Reference is `#ID`:
   signature wrapping (XSW1-8), the Reference resolving to a copy hidden elsewhere.
3. One `ds:Signature`, a direct child of the assertion, holding exactly SignedInfo,
   SignatureValue and KeyInfo/X509Data/X509Certificate, each element of it in its place and
   the value elements holding their text alone, no comment or processing instruction:
   attributes planted in a `ds:Object`, in `ds:KeyInfo` or in `ds:SignatureValue` after
   signing (unsigned, yet inside the assertion).
4. Reference transforms only enveloped-signature and canonicalisation, known algorithms (SHA-1
   only with XDS_VIHF_ACCEPT_SHA1): an XPath or XSLT transform leaving parts of the assertion
   out of the digest; a collision-prone digest.
5. The principal is read from the assertion's own `saml:Subject` and its direct
   `saml:AttributeStatement` children only: attributes read from Advice, Evidence or the
   Signature.
6. A value is an element with no child node (element, comment, processing instruction), only
   XML whitespace stripped from it: CVE-2017-11427-style truncation, `810101234567<!--x-->0`
   read as `810101234567`; two NameIDs differing by a no-break space read as one caller. An
   identifier (NameID, Identifiant_Structure) is not even trimmed: `" 810000000099"` was
   read as the reader while IUA read the same `sub` as another principal (16e F4).
7. NameID, resource-id, role, purpose of use and structure present and not empty, the
   resource-id a CX with an ISO authority: an empty resource-id skipping the patient check,
   an anonymous caller.
8. An attribute this server reads appears once (the role once, one code per value): two
   resource-ids or two purposes of use, one checked and the other used.
9. Every value read (NameID, each text attribute, each code and code system) is at most
   MAX_VALUE_CHARS characters (NameID and Identifiant_Structure IDENTIFIER_MAX) and holds no
   control character or lone surrogate (security/identity_text.py), and the role attribute
   holds at most MAX_ROLES values: a signed VIHF with a 5 MB NameID kept in the
   verified-assertion cache and written to every audit record (issue 13, round 2: 40 of
   them held 200 MB; 10,000 would hold 50 GB). The assertion ID is bounded alike, and a
   refusal's reason is cut at MAX_REASON_CHARS: a megabyte-long algorithm URI or ID echoed
   into the fault and the log.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import NamedTuple

from lxml import etree

from ..model.hl7 import Cx
from .identity_text import IDENTIFIER_MAX, identity_problem
from .principal import Principal
from .xmldsig_algorithms import (
    CANONICALIZATIONS,
    ENVELOPED,
    SHA1_DIGEST_METHODS,
    SHA1_SIGNATURE_METHODS,
    STRONG_DIGEST_METHODS,
    STRONG_SIGNATURE_METHODS,
)

SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
DS = "http://www.w3.org/2000/09/xmldsig#"
HL7 = "urn:hl7-org:v3"
EXC_C14N_NS = "http://www.w3.org/2001/10/xml-exc-c14n#"
PURPOSE_OF_USE_SYSTEM = "1.2.250.1.213.1.1.4.248"
PURPOSES = ("normal", "bris_de_glace", "centre_15")
RESOURCE_ID = "urn:oasis:names:tc:xacml:2.0:resource:resource-id"
ROLE = "urn:oasis:names:tc:xacml:2.0:subject:role"
PURPOSE = "urn:oasis:names:tc:xspa:1.0:subject:purposeofuse"
SUBJECT_NAME = "urn:oasis:names:tc:xspa:1.0:subject:subject-id"

# text attributes: name → required
TEXT_ATTRIBUTES: dict[str, bool] = {
    "VIHF_Version": True, "Authentification_Mode": True, "Identifiant_Structure": True,
    RESOURCE_ID: True, "Secteur_Activite": False, SUBJECT_NAME: False,
}
READ_ATTRIBUTES = frozenset({*TEXT_ATTRIBUTES, ROLE, PURPOSE})
# rule 9: the structure, like the NameID, is written to the audit trail's 64-character columns
_LIMITS = {"Identifiant_Structure": IDENTIFIER_MAX}

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

_C14N = CANONICALIZATIONS
TRANSFORMS = _C14N | {ENVELOPED}
SIGNATURE_METHODS = STRONG_SIGNATURE_METHODS
DIGEST_METHODS = STRONG_DIGEST_METHODS
# SHA-1 (SHA1_SIGNATURE_METHODS, SHA1_DIGEST_METHODS), which older DMP clients sign with
# (CI-SIS): accepted only when XDS_VIHF_ACCEPT_SHA1

# what each element of the signature may hold (rule 3): anything else, anywhere inside the
# Signature, is content nobody signed; a text element holds text alone
_INCLUSIVE = f"{{{EXC_C14N_NS}}}InclusiveNamespaces"
_CHILDREN: dict[str, frozenset[str]] = {
    "SignedInfo": frozenset({"CanonicalizationMethod", "SignatureMethod", "Reference"}),
    "CanonicalizationMethod": frozenset({_INCLUSIVE}),
    "SignatureMethod": frozenset(),
    "Reference": frozenset({"Transforms", "DigestMethod", "DigestValue"}),
    "Transforms": frozenset({"Transform"}),
    "Transform": frozenset({_INCLUSIVE}),
    "DigestMethod": frozenset(),
    "KeyInfo": frozenset({"X509Data"}),
    "X509Data": frozenset({"X509Certificate"}),
    _INCLUSIVE: frozenset(),
}
_TEXT_ONLY = frozenset({"SignatureValue", "DigestValue", "X509Certificate"})
# rule 9: national identifiers (RPPS, ADELI, INS, FINESS) are tens of characters, a DN or a
# name a few dozen; the certificate's base64 and the Issuer DN have bounds of their own
MAX_VALUE_CHARS = 256
MAX_ROLES = 16
MAX_ISSUER_CHARS = 1024
MAX_CERTIFICATE_CHARS = 64 * 1024
MAX_REASON_CHARS = 1024
# XML's own whitespace, the only one stripped from a value: NBSP and other Unicode spaces are
# part of the value (two NameIDs differing by them are two callers)
XML_SPACE = " \t\r\n"


class VihfError(Exception):
    """The assertion is missing, unsigned, tampered, expired or inconsistent: the reason, at
    most MAX_REASON_CHARS long (a reason quotes what was sent: an algorithm URI, a tag, an ID;
    a multi-megabyte one would come back in the fault and the log)."""

    def __init__(self, reason: str) -> None:
        if len(reason) > MAX_REASON_CHARS:       # the middle goes: the end says what failed
            half = MAX_REASON_CHARS // 2
            reason = f"{reason[:half]}…({len(reason) - 2 * half} characters cut)…" \
                     f"{reason[-half:]}"
        super().__init__(reason)


def _ds(name: str) -> str:
    return f"{{{DS}}}{name}"


def _saml(name: str) -> str:
    return f"{{{SAML}}}{name}"


def _elements(parent: etree._Element) -> list[etree._Element]:
    """The element children (comments between elements are not content of the signature
    structure, but text is: a Signature child carrying text is refused by the caller)."""
    return [child for child in parent if isinstance(child.tag, str)]


def _only(parent: etree._Element, names: tuple[str, ...], where: str) -> list[etree._Element]:
    """`parent`'s element children, which must be exactly `names` in that order, with no text
    between them and no processing instruction."""
    children = _elements(parent)
    tags = tuple(child.tag for child in children)
    if tags != tuple(_ds(name) for name in names):
        found = ", ".join(etree.QName(tag).localname for tag in tags) or "nothing"
        raise VihfError(f"{where} must hold exactly {', '.join(names)} (found {found}): "
                        "anything else inside a signature is not signed")
    if (parent.text or "").strip(XML_SPACE) or \
            any((child.tail or "").strip(XML_SPACE) for child in parent) \
            or any(isinstance(child, etree._ProcessingInstruction) for child in parent):
        raise VihfError(f"{where} holds text or processing instructions besides its elements")
    return children


class SignatureParts(NamedTuple):
    """The elements of a checked signature that the verifier reads."""

    signature: etree._Element
    signature_value: str
    reference_uri: str
    digest_value: str
    certificate: etree._Element


@functools.lru_cache(maxsize=256)     # tags repeat from one message to the next; bounded
def _names(tag: str) -> tuple[str | None, str]:
    """(namespace, local name) of an element's tag, InclusiveNamespaces named by its whole tag
    (as `_CHILDREN` names it). Reading them through etree.QName for each element of each
    signature was a tenth of a fresh VIHF's verification."""
    if tag == _INCLUSIVE:
        return EXC_C14N_NS, _INCLUSIVE
    name = etree.QName(tag)
    return name.namespace, name.localname


def _check_contents(signature: etree._Element) -> None:
    """Every element inside the Signature is one the signature is made of, in its place; no
    comment or processing instruction anywhere in it (rule 3)."""
    for element in signature.iter():
        if not isinstance(element.tag, str):
            raise VihfError("ds:Signature holds a comment or processing instruction")
        if element is signature:
            continue
        namespace, local = _names(element.tag)
        if element.tag != _INCLUSIVE and namespace != DS:
            raise VihfError(f"ds:Signature holds {element.tag}: nothing there is signed")
        if local in _TEXT_ONLY:
            if len(element):
                raise VihfError(f"ds:{local} must hold its value alone")
            continue
        allowed = _CHILDREN.get(local)
        for child in element:
            if not isinstance(child.tag, str):
                raise VihfError("ds:Signature holds a comment or processing instruction")
            child_namespace, name = _names(child.tag)
            if allowed is None or name not in allowed or (
                    child.tag != _INCLUSIVE and child_namespace != DS):
                raise VihfError(f"ds:{local} holds {child.tag}: nothing there is signed")
        if (element.text or "").strip(XML_SPACE):
            raise VihfError(f"ds:{local} holds text")


def signature_of(assertion: etree._Element, accept_sha1: bool = False) -> SignatureParts:
    """The assertion's enveloped signature and the parts of it that are read, after checking
    their shape (rules 3 and 4)."""
    signatures = [child for child in assertion if child.tag == _ds("Signature")]
    if not signatures:
        raise VihfError("the VIHF assertion is not signed")
    if len(signatures) > 1 or sum(1 for _ in assertion.iter(_ds("Signature"))) > 1:
        raise VihfError("the VIHF assertion must carry exactly one ds:Signature")
    signature = signatures[0]
    _check_contents(signature)
    signed_info, signature_value, key_info = _only(
        signature, ("SignedInfo", "SignatureValue", "KeyInfo"), "ds:Signature")
    _, method, reference = _only(signed_info, ("CanonicalizationMethod", "SignatureMethod",
                                               "Reference"), "ds:SignedInfo")
    canonicalization = _elements(signed_info)[0].get("Algorithm")
    if canonicalization not in _C14N:
        raise VihfError(f"canonicalisation {canonicalization} is not accepted")
    methods = SIGNATURE_METHODS | (SHA1_SIGNATURE_METHODS if accept_sha1 else frozenset())
    if method.get("Algorithm") not in methods:
        raise VihfError(f"signature method {method.get('Algorithm')} is not accepted"
                        + (" (SHA-1: XDS_VIHF_ACCEPT_SHA1)" if method.get("Algorithm") in
                           SHA1_SIGNATURE_METHODS else ""))
    if len(assertion.get("ID") or "") > MAX_VALUE_CHARS:
        raise VihfError(f"the assertion ID is {len(assertion.get('ID'))} characters long; at "
                        f"most {MAX_VALUE_CHARS}")
    expected = f"#{assertion.get('ID') or ''}"
    if reference.get("URI") != expected or not assertion.get("ID"):
        raise VihfError(f"the signature must cover the assertion itself (one Reference to "
                        f"{expected})")
    _check_reference(reference, accept_sha1)
    (x509_data,) = _only(key_info, ("X509Data",), "ds:KeyInfo")
    (certificate,) = _only(x509_data, ("X509Certificate",), "ds:X509Data")
    return SignatureParts(signature, signature_value.text or "", expected,
                          _elements(reference)[-1].text or "", certificate)


def _check_reference(reference: etree._Element, accept_sha1: bool) -> None:
    children = _elements(reference)
    names = tuple(etree.QName(child).localname for child in children)
    if names not in (("Transforms", "DigestMethod", "DigestValue"),
                     ("DigestMethod", "DigestValue")):
        raise VihfError("ds:Reference must hold Transforms, DigestMethod and DigestValue")
    digests = DIGEST_METHODS | (SHA1_DIGEST_METHODS if accept_sha1 else frozenset())
    if children[-2].get("Algorithm") not in digests:
        raise VihfError(f"digest method {children[-2].get('Algorithm')} is not accepted")
    if names[0] != "Transforms":
        raise VihfError("an enveloped signature needs the enveloped-signature transform")
    algorithms = []
    for transform in _elements(children[0]):
        algorithm = transform.get("Algorithm")
        if transform.tag != _ds("Transform") or algorithm not in TRANSFORMS:
            raise VihfError(f"transform {algorithm} is not accepted (enveloped-signature and "
                            "canonicalisation only)")
        extra = [child for child in _elements(transform)
                 if child.tag != f"{{{EXC_C14N_NS}}}InclusiveNamespaces"]
        if extra:
            raise VihfError(f"transform {algorithm} carries {extra[0].tag}")
        algorithms.append(algorithm)
    if ENVELOPED not in algorithms:
        raise VihfError("an enveloped signature needs the enveloped-signature transform")


def whole_text(element: etree._Element, what: str, limit: int = MAX_VALUE_CHARS) -> str:
    """The element's text, which must be all its content: a comment, processing instruction or
    element inside it is refused (rule 6), and so is an empty value (rule 7) and one longer
    than `limit` characters (rule 9)."""
    if len(element):
        raise VihfError(f"{what} must be plain text (it holds a comment, a processing "
                        "instruction or an element)")
    text = (element.text or "").strip(XML_SPACE)
    if not text:
        raise VihfError(f"{what} is empty")
    if len(text) > limit:
        raise VihfError(f"{what} is {len(text)} characters long; at most {limit}")
    return text


def identity_value(element: etree._Element, what: str, limit: int = MAX_VALUE_CHARS) -> str:
    """A value the principal is read from: whole text (rules 6, 7) by the rules of every
    identity value (rule 9, security/identity_text.py)."""
    text = whole_text(element, what, limit)
    if limit <= IDENTIFIER_MAX and element.text != text:    # trimmed, it was the reader (16e)
        raise VihfError(f"{what} has a space at its start or end (identifiers are refused, "
                        "not trimmed)")
    if (problem := identity_problem(text, limit)) is not None:
        raise VihfError(f"{what} {problem}")
    return text


def _attribute_values(assertion: etree._Element) -> dict[str, list[etree._Element]]:
    """The AttributeValues of each attribute this server reads, from the assertion's direct
    AttributeStatements only (rule 5), each attribute once (rule 8)."""
    values: dict[str, list[etree._Element]] = {}
    for statement in assertion.iterchildren(_saml("AttributeStatement")):
        for attribute in statement.iterchildren(_saml("Attribute")):
            name = attribute.get("Name", "")
            if name not in READ_ATTRIBUTES:
                continue
            if name in values:
                raise VihfError(f"the attribute {name} appears twice")
            values[name] = list(attribute.iterchildren(_saml("AttributeValue")))
    return values


def _single(values: dict[str, list[etree._Element]], name: str) -> etree._Element | None:
    found = values.get(name)
    if found is None:
        return None
    if len(found) != 1:
        raise VihfError(f"the attribute {name} must hold one AttributeValue ({len(found)} "
                        "found)")
    return found[0]


def _coded(value: etree._Element, tag: str, what: str) -> etree._Element:
    """The one HL7 coded element (Role, PurposeOfUse) an AttributeValue holds, and nothing
    else."""
    elements = _elements(value)
    if len(elements) != 1 or elements[0].tag != f"{{{HL7}}}{tag}" or \
            (value.text or "").strip(XML_SPACE) or (elements[0].tail or "").strip(XML_SPACE):
        raise VihfError(f"{what} must hold exactly one hl7:{tag}")
    code, system = elements[0].get("code", ""), elements[0].get("codeSystem", "")
    if not code.strip(XML_SPACE) or not system.strip(XML_SPACE):
        raise VihfError(f"{what}: hl7:{tag} needs a code and a codeSystem")
    for name, text in (("code", code), ("codeSystem", system)):
        if (problem := identity_problem(text, MAX_VALUE_CHARS)) is not None:
            raise VihfError(f"{what}: hl7:{tag} {name} {problem}")
    return elements[0]


def _roles(values: dict[str, list[etree._Element]]) -> Iterator[etree._Element]:
    if len(values.get(ROLE, [])) > MAX_ROLES:
        raise VihfError(f"the attribute {ROLE} holds {len(values[ROLE])} values; at most "
                        f"{MAX_ROLES}")
    for value in values.get(ROLE, []):
        yield _coded(value, "Role", "the role attribute")


def read_principal(assertion: etree._Element) -> Principal:
    """The caller, read from a verified assertion by the rules above, or VihfError."""
    subjects = list(assertion.iterchildren(_saml("Subject")))
    name_ids = list(subjects[0].iterchildren(_saml("NameID"))) if len(subjects) == 1 else []
    if len(name_ids) != 1:
        raise VihfError("Subject/NameID (the caller's national identifier) is missing")
    subject = identity_value(name_ids[0], "Subject/NameID", IDENTIFIER_MAX)

    values = _attribute_values(assertion)
    texts: dict[str, str] = {}
    for name, required in TEXT_ATTRIBUTES.items():
        value = _single(values, name)
        if value is None:
            if required:
                raise VihfError(f"the VIHF lacks the attribute(s) {name}")
            continue
        texts[name] = identity_value(value, f"the attribute {name}",
                                     _LIMITS.get(name, MAX_VALUE_CHARS))
    if Cx.parse(texts[RESOURCE_ID]) is None:
        raise VihfError("resource-id must be the patient's INS as a CX identifier "
                        "'ID^^^&OID&ISO'")

    purpose_value = _single(values, PURPOSE)
    if purpose_value is None:
        raise VihfError(f"the VIHF lacks the attribute(s) {PURPOSE}")
    purpose = _coded(purpose_value, "PurposeOfUse", "purposeofuse")
    if purpose.get("codeSystem") != PURPOSE_OF_USE_SYSTEM or purpose.get("code") not in PURPOSES:
        raise VihfError(f"purposeofuse must be one of {', '.join(PURPOSES)} in "
                        f"{PURPOSE_OF_USE_SYSTEM}")

    roles = list(_roles(values))
    if not roles:
        raise VihfError(f"the VIHF lacks the attribute(s) {ROLE} (one hl7:Role at least)")
    first = roles[0]
    kind = ROLE_KINDS.get((first.get("codeSystem", ""), first.get("code", "")))
    if kind is None and first.get("codeSystem") in PROFESSION_SYSTEMS:
        kind = "professional"
    if kind is None:
        raise VihfError(f"role {first.get('code')} of {first.get('codeSystem')} is not a "
                        "role this server knows")
    return Principal(
        subject_id=subject, role=kind, structure_id=texts["Identifiant_Structure"],
        purpose_of_use=purpose.get("code", "normal"), patient_id=texts[RESOURCE_ID],
        attributes={"profession": f"{first.get('code')}^{first.get('codeSystem')}",
                    "specialities": " ".join(f"{r.get('code')}^{r.get('codeSystem')}"
                                             for r in roles[1:]),
                    "authentication_mode": texts["Authentification_Mode"],
                    "sector": texts.get("Secteur_Activite", ""),
                    "name": texts.get(SUBJECT_NAME, ""),
                    "vihf_version": texts["VIHF_Version"]})


def issuer_of(assertion: etree._Element) -> str:
    issuers = list(assertion.iterchildren(_saml("Issuer")))
    if len(issuers) != 1:
        raise VihfError("the assertion must have one Issuer")
    return whole_text(issuers[0], "Issuer", MAX_ISSUER_CHARS)
