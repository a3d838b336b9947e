"""Signing a submission set as the DMP expects it (IHE DSG SubmissionSet Signature, XAdES
v1.1.1 detached, the layout of the ANS DRIMbox client): a signature document whose signed
Manifest names the set (digest 0) and every document by `urn:oid:` uniqueId with the digest of
its bytes, its DocumentEntry (DSG §5.5.6.1 codes, the DMP's formatCode), a HasMember from the
set and `signs` associations to the set (the DMP's) and to each document (DSG, so that ITI-18
GetRelatedDocuments finds a document's signature).

Algorithms: RSA (or ECDSA) with SHA-256 by default, as DSG requires; `digest="sha1"` writes what
the older DMP clients write. Canonical XML 1.0 with comments for SignedInfo, as they do.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from lxml import etree

from ..model import vocabulary as v
from ..model.content import Attachment
from ..model.metadata import Association, Code, DocumentEntry, Submission
from .c14n import canonical_subtree
from .seal import Seal
from .vocabulary import (
    C14N_COMMENTS,
    DIGEST_URIS,
    DOCUMENT_TRANSFORMS,
    DS,
    MANIFEST_TYPE,
    PURPOSE_SYSTEM,
    PURPOSES,
    SIGNATURE_CLASS,
    SIGNATURE_FORMAT,
    SIGNATURE_LANGUAGE,
    SIGNATURE_MIME_TYPE,
    SIGNATURE_TYPE,
    SOURCE_PURPOSE,
    XADES_111,
)

MANIFEST_ID = "IHEManifest"
SIGNED_PROPERTIES_ID = "S0-SignedProperties"
ZERO = "AA=="                        # the set's "hash value of 0", as DMP clients write it


def _digest(attachment: Attachment, digest: str) -> str:
    hasher = hashlib.new(digest)
    for block in attachment.iter_chunks():
        hasher.update(block)
    return base64.b64encode(hasher.digest()).decode()


def _b64(octets: bytes, digest: str) -> str:
    return base64.b64encode(hashlib.new(digest, octets).digest()).decode()


class _Builder:
    """Elements in the XML-Signature namespace (prefix `ds`, or the default namespace as the
    DMP's Java clients write it) and in XAdES 1.1.1."""

    def __init__(self, prefix: str | None) -> None:
        self.prefix = prefix

    def ds(self, parent: etree._Element | None, name: str, text: str | None = None,
           redeclare: bool = False, **attributes: str) -> etree._Element:
        """`redeclare`: declare the namespace here (inside XAdES elements, where the default
        namespace is XAdES's when no prefix is used)."""
        tag = f"{{{DS}}}{name}"
        element = etree.Element(tag, nsmap={self.prefix: DS}) if parent is None \
            else etree.SubElement(parent, tag, nsmap={self.prefix: DS} if redeclare else None)
        for key, value in attributes.items():
            element.set(key, value)
        element.text = text
        return element

    def xades(self, parent: etree._Element, name: str, text: str | None = None,
              nsmap: dict | None = None, **attributes: str) -> etree._Element:
        element = etree.SubElement(parent, f"{{{XADES_111}}}{name}", nsmap=nsmap)
        for key, value in attributes.items():
            element.set(key, value)
        element.text = text
        return element

    def reference(self, parent: etree._Element, uri: str, digest: str, value: str = "",
                  kind: str | None = None) -> etree._Element:
        reference = self.ds(parent, "Reference", **({"Type": kind} if kind else {}), URI=uri)
        self.ds(reference, "DigestMethod", Algorithm=DIGEST_URIS[digest])
        return self.ds(reference, "DigestValue", value)


@dataclass(frozen=True)
class SignedDocument:
    """A Manifest entry: a document's uniqueId and the base64 digest of its bytes (or of its
    canonical XML, when `canonicalization` names the transform, as DMP clients do for CDA)."""

    unique_id: str
    digest_value: str
    canonicalization: str | None = None


def signature_document(set_unique_id: str, documents: list[SignedDocument], seal: Seal, *,
                       digest: str = "sha256", purpose: str = SOURCE_PURPOSE,
                       signing_time: dt.datetime | None = None,
                       prefix: str | None = "ds") -> bytes:
    """The detached XAdES signature of a set and its documents."""
    build = _Builder(prefix)
    signing_time = signing_time or dt.datetime.now(dt.UTC)
    signature_id = f"Signature-{uuid.uuid4().hex}"
    root = build.ds(None, "Signature", Id=signature_id)
    signed_info = build.ds(root, "SignedInfo")
    build.ds(signed_info, "CanonicalizationMethod", Algorithm=C14N_COMMENTS)
    build.ds(signed_info, "SignatureMethod", Algorithm=seal.method(digest))
    manifest_digest = build.reference(signed_info, f"#{MANIFEST_ID}", digest, kind=MANIFEST_TYPE)
    properties_digest = build.reference(signed_info, f"#{SIGNED_PROPERTIES_ID}", digest,
                                        kind=XADES_111 + "SignedProperties")
    signature_value = build.ds(root, "SignatureValue")
    x509_data = build.ds(build.ds(root, "KeyInfo"), "X509Data")
    for certificate in (seal.certificate, *seal.chain):
        der = certificate.public_bytes(serialization.Encoding.DER)
        build.ds(x509_data, "X509Certificate", base64.b64encode(der).decode())
    # the purpose, where DMP clients put it (unsigned, never read by a verifier) ...
    properties = build.ds(build.ds(root, "Object"), "SignatureProperties")
    build.ds(properties, "SignatureProperty", purpose, Id="purposeOfSignature",
             Target=f"#{signature_id}")
    manifest = build.ds(build.ds(root, "Object"), "Manifest", Id=MANIFEST_ID)
    build.reference(manifest, f"urn:oid:{set_unique_id}", digest, ZERO)
    for document in documents:
        if document.canonicalization not in DOCUMENT_TRANSFORMS:    # what we verify (F02)
            raise ValueError(f"a document Reference with the transform "
                             f"{document.canonicalization} would be refused on verification")
        value = build.reference(manifest, f"urn:oid:{document.unique_id}", digest,
                                document.digest_value)
        if document.canonicalization:
            reference = value.getparent()
            transforms = build.ds(reference, "Transforms")
            reference.insert(0, transforms)          # Transforms come first
            build.ds(transforms, "Transform", Algorithm=document.canonicalization)
    signed_properties = _qualifying_properties(build, root, signature_id, seal, digest,
                                               purpose, signing_time)
    manifest_digest.text = _b64(canonical_subtree(manifest), digest)
    properties_digest.text = _b64(canonical_subtree(signed_properties), digest)
    signature_value.text = base64.b64encode(
        seal.sign(canonical_subtree(signed_info, with_comments=True), digest)).decode()
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _qualifying_properties(build: _Builder, root: etree._Element, signature_id: str,
                           seal: Seal, digest: str, purpose: str,
                           signing_time: dt.datetime) -> etree._Element:
    """XAdES SignedProperties: signing time and certificate, and (... signed here, as DSG
    asks) the purpose as a CommitmentTypeIndication."""
    nsmap = {None if build.prefix is None else "xades": XADES_111}
    qualifying = build.xades(build.ds(root, "Object"), "QualifyingProperties", nsmap=nsmap,
                             Target=f"#{signature_id}")
    signed = build.xades(qualifying, "SignedProperties", Id=SIGNED_PROPERTIES_ID)
    signature_properties = build.xades(signed, "SignedSignatureProperties")
    build.xades(signature_properties, "SigningTime",
                signing_time.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    cert = build.xades(build.xades(signature_properties, "SigningCertificate"), "Cert")
    cert_digest = build.xades(cert, "CertDigest")
    build.xades(cert_digest, "DigestMethod", Algorithm=DIGEST_URIS[digest])
    build.xades(cert_digest, "DigestValue",
                _b64(seal.certificate.public_bytes(serialization.Encoding.DER), digest))
    issuer_serial = build.xades(cert, "IssuerSerial")
    redeclare = build.prefix is None
    build.ds(issuer_serial, "X509IssuerName", seal.certificate.issuer.rfc4514_string(),
             redeclare=redeclare)
    build.ds(issuer_serial, "X509SerialNumber", str(seal.certificate.serial_number),
             redeclare=redeclare)
    policy = build.xades(signature_properties, "SignaturePolicyIdentifier")
    build.xades(policy, "SignaturePolicyImplied")
    indication = build.xades(build.xades(signed, "SignedDataObjectProperties"),
                             "CommitmentTypeIndication")
    build.xades(build.xades(indication, "CommitmentTypeId"), "Identifier", f"urn:oid:{purpose}")
    build.xades(indication, "AllSignedDataObjects")
    return signed


def _new_id(like: str, symbol: str) -> str:
    return f"urn:uuid:{uuid.uuid4()}" if like.startswith("urn:uuid:") else symbol


def _new_oid() -> str:
    return f"2.25.{uuid.uuid4().int}"


def signature_entry(submission: Submission, unique_id: str, entry_uuid: str, purpose: str,
                    signing_time: dt.datetime, facility: Code | None = None,
                    practice: Code | None = None) -> DocumentEntry:
    """The signature's DocumentEntry (DSG §5.5.6.1, the DMP's codes): patient, author, legal
    authenticator, facility and practice setting of the set's first document (`facility` and
    `practice` for a set with none: a folder alone)."""
    assert submission.submission_set is not None
    first = next(iter(submission.documents), None)
    moment = signing_time.astimezone(dt.UTC).strftime("%Y%m%d%H%M%S")
    label = PURPOSES.get(purpose, "Signature")
    return DocumentEntry(
        entry_uuid=entry_uuid, unique_id=unique_id,
        patient_id=submission.submission_set.patient_id, title=label,
        mime_type=SIGNATURE_MIME_TYPE, language_code=SIGNATURE_LANGUAGE,
        class_code=SIGNATURE_CLASS, type_code=SIGNATURE_TYPE, format_code=SIGNATURE_FORMAT,
        event_codes=[Code(purpose, PURPOSE_SYSTEM, label)],
        confidentiality_codes=[Code("N", "2.16.840.1.113883.5.25", "Normal")],
        healthcare_facility_type_code=first.healthcare_facility_type_code if first else facility,
        practice_setting_code=first.practice_setting_code if first else practice,
        authors=list(submission.submission_set.authors or (first.authors if first else [])),
        legal_authenticator=(first.legal_authenticator if first else None) or next(
            (a.person for a in submission.submission_set.authors if a.person), None),
        source_patient_id=(first.source_patient_id if first else None)
        or submission.submission_set.patient_id,
        creation_time=moment, service_start_time=moment, service_stop_time=moment)


def sign_submission(submission: Submission, documents: Mapping[str, Attachment], seal: Seal,
                    *, digest: str = "sha256", purpose: str = SOURCE_PURPOSE,
                    prefix: str | None = "ds", now: dt.datetime | None = None,
                    facility: Code | None = None, practice: Code | None = None
                    ) -> tuple[DocumentEntry, bytes]:
    """Sign `submission` (its documents' bytes in `documents`, by entryUUID): adds the
    signature DocumentEntry and its associations to it, and returns that entry and the
    signature document, to send as its Document. The entry takes the first document's
    facility and practice setting; a set without documents (a folder alone) takes `facility`
    and `practice`, which the registry requires of every DocumentEntry."""
    if submission.submission_set is None:
        raise ValueError("a submission without a SubmissionSet cannot be signed")
    if not submission.documents and (facility is None or practice is None):
        # outside round 19d F-R5: the entry went out without the two codes and was refused
        raise ValueError("a submission set with no document signs with the facility and "
                         "practice setting codes given (facility=, practice=): the signature "
                         "entry needs healthcareFacilityTypeCode and practiceSettingCode")
    set_id = submission.submission_set.entry_uuid
    if any(a.type == v.SIGNS and a.target == set_id for a in submission.associations):
        # signing twice added a second entry with the same symbolic id (Signature01), which
        # the DMP refuses as two signatures (outside test of issue 19, F04)
        raise ValueError("this submission set is already signed: sign it once")
    signing_time = now or dt.datetime.now(dt.UTC)
    signed = [SignedDocument(d.unique_id, _digest(documents[d.entry_uuid], digest))
              for d in submission.documents]
    content = signature_document(submission.submission_set.unique_id, signed, seal,
                                 digest=digest, purpose=purpose, signing_time=signing_time,
                                 prefix=prefix)
    entry = signature_entry(submission, _new_oid(), _new_id(set_id, "Signature01"), purpose,
                            signing_time, facility, practice)
    entry.hash = hashlib.sha1(content).hexdigest()
    entry.size = str(len(content))

    def association(kind: str, source: str, target: str, symbol: str,
                    slots: dict | None = None) -> Association:
        return Association(_new_id(set_id, symbol), kind, source, target, slots=slots or {})

    links = [association(v.HAS_MEMBER, set_id, entry.entry_uuid, "SignatureMembership",
                         {v.SUBMISSION_SET_STATUS: ["Original"]}),
             association(v.SIGNS, entry.entry_uuid, set_id, "SignatureSignsSet")]
    links += [association(v.SIGNS, entry.entry_uuid, d.entry_uuid, f"SignatureSigns{i:02d}")
              for i, d in enumerate(submission.documents, 1)]
    submission.documents.append(entry)
    submission.associations += links
    return entry, content
