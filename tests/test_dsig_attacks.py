"""Each attack on a signed submission set is refused with its own error, naming the reference or
field, in both prefix styles: signature wrapping, documents swapped or altered after signing,
a digest of other bytes, certificates of another authority, impostors, expired certificates,
a second signature, unsigned Manifest entries, references outside the set, the set's uniqueId
changed, and the rest of the rules written beside the code (dsig/shape.py, trust.py,
manifest.py, metadata.py, verify.py)."""

from __future__ import annotations

import base64
import copy
import datetime as dt
import hashlib

import pytest
from lxml import etree

from xds_server.dsig.produce import SignedDocument, sign_submission, signature_document
from xds_server.dsig.trust import TrustStore
from xds_server.dsig.verify import SubmissionSignatureVerifier
from xds_server.dsig.vocabulary import DS, XADES_111
from xds_server.model.content import Attachment
from xds_server.model.metadata import Association, Code

from .cda_data import CR_BIO, LEVEL1, TEST_INS
from .dsig_data import cda_submission, signed_submission

XML_ID = "{http://www.w3.org/XML/1998/namespace}id"
PATHS = [CR_BIO, LEVEL1]


def ds(name: str) -> str:
    return f"{{{DS}}}{name}"


def edit_signature(edit):
    """An attack that rewrites the signature document (after signing) with `edit(root)`."""
    def mount(authority, prefix):
        submission, documents, entry = signed_submission(authority, PATHS, TEST_INS,
                                                         prefix=prefix)
        root = etree.fromstring(documents[entry.entry_uuid].read_bytes())
        edit(root, authority)
        documents[entry.entry_uuid] = Attachment.from_bytes(etree.tostring(root))
        return submission, documents

    return mount


def edit_submission(edit):
    """An attack on the submission or the documents sent beside a valid signature."""
    def mount(authority, prefix):
        submission, documents, entry = signed_submission(authority, PATHS, TEST_INS,
                                                         prefix=prefix)
        edit(submission, documents, entry)
        return submission, documents

    return mount


def signed_by(seal: str, **options):
    def mount(authority, prefix):
        submission, documents, _ = signed_submission(authority, PATHS, TEST_INS, seal=seal,
                                                     prefix=prefix, **options)
        return submission, documents

    return mount


def manifest_of(entries):
    """A valid signature by the trusted seal over a Manifest the test writes: `entries(
    submission, documents)` gives its SignedDocuments."""
    def mount(authority, prefix):
        submission, documents = cda_submission(PATHS, TEST_INS)
        signed = entries(submission, documents)
        entry, _ = sign_submission(submission, documents, authority.seal(), prefix=prefix)
        documents[entry.entry_uuid] = Attachment.from_bytes(signature_document(
            submission.submission_set.unique_id, signed, authority.seal(), prefix=prefix))
        return submission, documents

    return mount


def digest(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def honest(submission, documents):
    return [SignedDocument(d.unique_id, digest(documents[d.entry_uuid].read_bytes()))
            for d in submission.documents]


# --- the edits ------------------------------------------------------------------------------

def wrap_manifest(root, _):
    """XSW: the signed Manifest hidden in a SignatureProperty, a forged one in its place."""
    manifest = root.find(f".//{ds('Manifest')}")
    forged = copy.deepcopy(manifest)
    forged.attrib.pop("Id")
    forged[1].find(ds("DigestValue")).text = digest(b"forged")
    manifest.getparent().replace(manifest, forged)
    root.find(f".//{ds('SignatureProperty')}").append(manifest)


def decoy_with_the_manifest_id(root, _):
    """XSW: another element carrying the Manifest's Id, for the Reference to resolve to."""
    root.find(f".//{ds('SignatureProperty')}").set("Id", "IHEManifest")


def xml_id_decoy(root, _):
    root.find(f".//{ds('SignatureProperty')}").set(XML_ID, "S0-SignedProperties")


def append_manifest_entry(root, _):
    """A Reference added to the signed Manifest after signing."""
    manifest = root.find(f".//{ds('Manifest')}")
    manifest.append(copy.deepcopy(manifest[1]))
    manifest[-1].set("URI", "urn:oid:1.2.3.4.5.6")


def unsigned_manifest_entry(root, _):
    """A Reference slipped into unsigned content (a SignatureProperty)."""
    reference = copy.deepcopy(root.find(f".//{ds('Manifest')}")[1])
    reference.set("URI", "urn:oid:1.2.3.4.5.6")
    root.find(f".//{ds('SignatureProperty')}").append(reference)


def second_signature_inside(root, _):
    root.find(f".//{ds('SignatureProperty')}").append(copy.deepcopy(root))


def later_signing_time(root, _):
    time = root.find(f".//{{{XADES_111}}}SigningTime")
    time.text = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


def signature_value_of_another_key(root, authority):
    value = root.find(ds("SignatureValue"))
    value.text = base64.b64encode(authority.seal("impostor").sign(b"other", "sha256")).decode()


def certificate_replaced(root, authority):
    certificate = authority.seal("impostor").certificate
    from cryptography.hazmat.primitives import serialization
    root.find(f".//{ds('X509Certificate')}").text = base64.b64encode(
        certificate.public_bytes(serialization.Encoding.DER)).decode()


def xslt_transform(root, _):
    reference = root.find(f".//{ds('Manifest')}")[1]
    transforms = etree.Element(ds("Transforms"))
    etree.SubElement(transforms, ds("Transform"),
                     Algorithm="http://www.w3.org/TR/1999/REC-xslt-19991116")
    reference.insert(0, transforms)


def comment_in_digest(root, _):
    value = root.find(f".//{ds('Manifest')}")[1].find(ds("DigestValue"))
    text = value.text
    value.text = text[:4]
    value.append(etree.Comment("x"))
    value[-1].tail = text[4:]


def external_reference(root, _):
    root.find(f"{ds('SignedInfo')}/{ds('Reference')}").set("URI", "file:///etc/passwd")


def planted_in_unsigned_properties(root, _):
    etree.SubElement(root.find(f".//{ds('SignatureProperty')}"), f"{{{XADES_111}}}SigningTime"
                     ).text = "2000-01-01T00:00:00Z"


def foreign_object(root, _):
    etree.SubElement(etree.SubElement(root, ds("Object")), "{urn:evil}Payload")


def not_a_signature(root, _):
    root.tag = "{urn:evil}Signature"


# --- the submission edits -------------------------------------------------------------------

def swap_documents(submission, documents, _):
    first, second = submission.documents[:2]
    documents[first.entry_uuid], documents[second.entry_uuid] = \
        documents[second.entry_uuid], documents[first.entry_uuid]


def alter_document(submission, documents, _):
    first = submission.documents[0]
    documents[first.entry_uuid] = Attachment.from_bytes(
        documents[first.entry_uuid].read_bytes().replace(b"TSH", b"T4L"))


def change_set_unique_id(submission, documents, _):
    submission.submission_set.unique_id = "1.2.250.1.999.777"


def add_document_after_signing(submission, documents, _):
    extra = copy.deepcopy(submission.documents[1])
    extra.entry_uuid, extra.unique_id = "Document09", "1.2.250.1.999.9"
    submission.documents.insert(0, extra)
    documents["Document09"] = Attachment.from_bytes(b"<added/>")


def second_signature_entry(submission, documents, entry):
    twin = copy.deepcopy(entry)
    twin.entry_uuid, twin.unique_id = "Signature02", "2.25.42"
    submission.documents.append(twin)
    documents["Signature02"] = documents[entry.entry_uuid]


def drop_signs_to_set(submission, documents, entry):
    submission.associations = [a for a in submission.associations
                               if not (a.type.endswith(":signs") and a.target == "SubmissionSet01")]


def signs_outside(submission, documents, entry):
    submission.associations.append(Association(
        "as-out", "urn:ihe:iti:2007:AssociationType:signs", entry.entry_uuid,
        "urn:uuid:6f1c2f1e-0000-4000-8000-000000000000"))


def document_signs_outside(submission, documents, entry):
    """F5 (outside test 19b): a CDA of the correctly signed set made a signer of a document
    registered earlier (GetRelatedDocuments(signs) would name it its signer)."""
    cda = next(d for d in submission.documents if d is not entry)
    submission.associations.append(Association(
        "as-cda-signs", "urn:ihe:iti:2007:AssociationType:signs", cda.entry_uuid,
        "urn:uuid:6f1c2f1e-0000-4000-8000-000000000001"))


def wrong_format_code(submission, documents, entry):
    entry.format_code = Code("urn:ihe:iti:xds-sd:text:2008", "1.3.6.1.4.1.19376.1.2.3")


def wrong_purpose(submission, documents, entry):
    entry.event_codes = [Code("1.2.840.10065.1.12.1.1", "1.2.840.10065.1.12")]


def oversized(submission, documents, entry):
    documents[entry.entry_uuid] = Attachment.from_bytes(b" " * (1024 * 1024 + 1))


def with_doctype(submission, documents, entry):
    documents[entry.entry_uuid] = Attachment.from_bytes(
        b'<!DOCTYPE x [<!ENTITY e "e">]>' + documents[entry.entry_uuid].read_bytes()[38:])


# (id, mount, code, where the error points, what it says)
ATTACKS = [
    ("wrapping-second-manifest", edit_signature(wrap_manifest), "Signature/Object/Manifest",
     "one ds:Manifest in a ds:Object (2 found): a second, unsigned Manifest is refused"),
    ("wrapping-duplicate-id", edit_signature(decoy_with_the_manifest_id), "@Id='IHEManifest'",
     "the Id 'IHEManifest' appears twice"),
    ("wrapping-xml-id", edit_signature(xml_id_decoy), "xml:id",
     "xml:id attributes are not accepted"),
    ("manifest-entry-added-after-signing", edit_signature(append_manifest_entry),
     "Signature/SignedInfo/Reference[@URI='#IHEManifest']",
     "the Manifest (the list of signed documents) was altered after signing"),
    ("unsigned-manifest-entry", edit_signature(unsigned_manifest_entry), "Signature/Object",
     "a ds:Reference outside SignedInfo and the signed Manifest (an unsigned Manifest entry)"),
    ("second-signature-inside", edit_signature(second_signature_inside), "Signature",
     "holds a second ds:Signature"),
    ("signed-properties-altered", edit_signature(later_signing_time),
     "Signature/SignedInfo/Reference[@URI='#S0-SignedProperties']",
     "the XAdES SignedProperties (signing time and certificate) was altered after signing"),
    ("signature-value-of-another-key", edit_signature(signature_value_of_another_key),
     "Signature/SignatureValue", "the SignatureValue does not verify"),
    ("certificate-replaced", edit_signature(certificate_replaced),
     "SignedProperties/SignedSignatureProperties/SigningCertificate",
     "the signed SigningCertificate digest matches no certificate of KeyInfo"),
    ("xslt-transform", edit_signature(xslt_transform),
     "Manifest/Reference[@URI='urn:oid:",
     "algorithm 'http://www.w3.org/TR/1999/REC-xslt-19991116' is not accepted"),
    ("comment-in-a-digest", edit_signature(comment_in_digest), "/DigestValue",
     "must be plain text"),
    ("external-reference", edit_signature(external_reference), "Signature/SignedInfo/Reference",
     "Reference URI 'file:///etc/passwd' is not the #Id of an element"),
    ("planted-in-unsigned-properties", edit_signature(planted_in_unsigned_properties),
     "Signature/Object/SignatureProperties", "unsigned content holds text only"),
    ("foreign-object", edit_signature(foreign_object), "Signature/Object",
     "a ds:Object holds <Payload>"),
    ("not-a-signature", edit_signature(not_a_signature), "/",
     "not a ds:Signature (a detached XAdES signature)"),
    ("document-swapped-after-signing", edit_submission(swap_documents), "Manifest/Reference",
     "documents swapped after signing"),
    ("document-altered-after-signing", edit_submission(alter_document), "Manifest/Reference",
     "the document received is not the one signed"),
    ("digest-of-other-bytes", manifest_of(lambda s, d: [
        SignedDocument(e.unique_id, digest(base64.b64encode(d[e.entry_uuid].read_bytes())))
        for e in s.documents]), "Manifest/Reference",
     "digest is that of the document's base64 text, not of the document's bytes as sent"),
    ("canonical-digest-without-its-transform", manifest_of(lambda s, d: [
        SignedDocument(e.unique_id, digest(etree.tostring(etree.fromstring(
            d[e.entry_uuid].read_bytes()).getroottree(), method="c14n", with_comments=True)))
        for e in s.documents]), "Manifest/Reference",
     "canonical XML (with comments), while the Reference declares no canonicalisation"),
    ("reference-outside-the-set", manifest_of(lambda s, d: [
        *honest(s, d), SignedDocument("1.2.250.1.999.404", digest(b"elsewhere"))]),
     "Manifest/Reference[@URI='urn:oid:1.2.250.1.999.404']",
     "the Manifest signs urn:oid:1.2.250.1.999.404, which is not in this submission set"),
    ("set-unique-id-changed", edit_submission(change_set_unique_id), "Manifest/Reference",
     "but this submission set's uniqueId is 1.2.250.1.999.777 (changed after signing"),
    ("document-added-after-signing", edit_submission(add_document_after_signing), "Manifest",
     "DocumentEntry Document09 (uniqueId 1.2.250.1.999.9) is not signed"),
    ("document-referenced-twice", manifest_of(lambda s, d: [*honest(s, d), honest(s, d)[0]]),
     "Manifest/Reference", "times: one Reference per document"),
    ("second-signature-entry", edit_submission(second_signature_entry), "DocumentEntry",
     "the submission carries 2 signature documents"),
    ("no-signs-to-the-set", edit_submission(drop_signs_to_set), "Association",
     "no 'signs' association from it to the SubmissionSet"),
    ("signs-outside-the-set", edit_submission(signs_outside), "Association.targetObject",
     "which is not in this submission set"),
    ("a-document-signs-outside", edit_submission(document_signs_outside),
     "Association.sourceObject", "but only the set's signature document"),
    ("wrong-format-code", edit_submission(wrong_format_code), "DocumentEntry.formatCode",
     "formatCode 'urn:ihe:iti:xds-sd:text:2008'"),
    ("purpose-not-in-event-codes", edit_submission(wrong_purpose),
     "DocumentEntry.eventCodeList", "signed for purpose 1.2.840.10065.1.12.1.14"),
    ("oversized-signature", edit_submission(oversized), "Document",
     "a signature document is at most 1048576"),
    ("doctype-in-signature", edit_submission(with_doctype), "Document",
     "not XML this server reads"),
    ("certificate-of-another-authority", signed_by("other-authority"),
     "Signature/KeyInfo/X509Data",
     "is issued by 'CN=Another authority', which is not an authority this server trusts"),
    ("impostor-with-the-seals-name", signed_by("impostor"), "Signature/KeyInfo/X509Data",
     "is issued by 'CN=ORG-SIGN 1750099991,O=Hopital Exemple,C=FR', which is not an "
     "authority this server trusts"),
    ("impostor-authority", signed_by("fake-authority"), "Signature/KeyInfo/X509Data",
     "but that authority's key did not sign it (an impostor certificate)"),
    ("expired-certificate", signed_by("expired"), "Signature/KeyInfo/X509Data",
     "had expired at the signing time"),
    ("expired-certificate-backdated", signed_by(
        "expired", now=dt.datetime.now(dt.UTC) - dt.timedelta(days=40)),
     "SignedProperties/SignedSignatureProperties/SigningTime", "(XDS_SIGNATURE_MAX_AGE)"),
    ("certificate-not-valid-yet", signed_by("not-yet-valid"), "Signature/KeyInfo/X509Data",
     "was not valid yet at the signing time"),
    ("encipherment-only-certificate", signed_by("encipherment-only"),
     "Signature/KeyInfo/X509Data", "does not allow digital signatures (keyUsage)"),
    ("signing-time-in-the-future", signed_by(
        "seal", now=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)),
     "SignedProperties/SignedSignatureProperties/SigningTime", "is in the future"),
]


@pytest.mark.parametrize("prefix", ["ds", None], ids=["ds-prefix", "default-namespace"])
@pytest.mark.parametrize("mount, where, says", [a[1:] for a in ATTACKS],
                         ids=[a[0] for a in ATTACKS])
def test_each_attack_is_refused_with_its_own_error(authority, verifier, prefix, mount, where,
                                                   says):
    submission, documents = mount(authority, prefix)
    errors = verifier.verify(submission, documents).errors
    assert errors, "the attack was accepted"
    assert all(e.code == "XDSRepositoryMetadataError" for e in errors)
    assert any(says in e.context and where in e.location for e in errors), \
        [(e.location, e.context) for e in errors]


def test_the_errors_are_all_different():
    """'Its own error': no two attacks are told the same thing."""
    said = [a[3] for a in ATTACKS]
    assert len(said) == len(set(said))


def test_the_unaltered_signature_is_accepted(authority, verifier):
    """The control of every mount above."""
    for prefix in ("ds", None):
        submission, documents, _ = signed_submission(authority, PATHS, TEST_INS, prefix=prefix)
        assert verifier.verify(submission, documents).errors == []


@pytest.mark.parametrize("seal, state", [("expired", "had expired"),
                                         ("not-yet-valid", "was not valid yet")])
def test_a_certificate_is_named_for_what_it_is_on_every_submission(authority, seal, state):
    """The chain is cached per certificate: the second submission signed by an expired seal
    was told its *authority* certificate had expired (the cached path's objects were compared
    by identity with this request's signer)."""
    fresh = SubmissionSignatureVerifier(TrustStore.from_path(authority.trusted))
    for _ in range(3):
        submission, documents = signed_by(seal)(authority, "ds")
        said = [e.context for e in fresh.verify(submission, documents).errors]
        assert any("the signing certificate" in s and state in s for s in said), said
        assert not any("authority certificate" in s for s in said), said


def test_a_set_is_signed_once_by_the_library(authority):
    """Signing an already signed set added a second entry with the same id (Signature01) and
    signed the first signature too (outside test of issue 19, F04): the library refuses."""
    submission, documents, _ = signed_submission(authority, PATHS, TEST_INS)
    before = (len(submission.documents), len(submission.associations))
    with pytest.raises(ValueError, match="already signed"):
        sign_submission(submission, documents, authority.seal("seal"))
    assert (len(submission.documents), len(submission.associations)) == before


def test_a_refusal_lists_at_most_a_hundred_errors_then_how_many_more():
    """A trusted signer's Manifest naming 5,500 documents not in the set gave a 2.26 MB answer
    (F03): the list stops at 100 and one more error says how many were left out."""
    from xds_server.ebxml.encode import MAX_LISTED_ERRORS, registry_response
    from xds_server.model.errors import ErrorCode, error

    errors = [error(ErrorCode.REPOSITORY_METADATA_ERROR, f"reference {i} is not in the set",
                    f"urn:oid:1.2.3.{i}") for i in range(5500)]
    listed = registry_response(errors).findall(".//{*}RegistryError")
    assert len(listed) == MAX_LISTED_ERRORS + 1
    assert [e.get("location") for e in listed[:3]] == ["urn:oid:1.2.3.0", "urn:oid:1.2.3.1",
                                                       "urn:oid:1.2.3.2"]
    assert listed[-1].get("errorCode") == "XDSRepositoryMetadataError"
    assert "and 5400 more errors not listed" in listed[-1].get("codeContext")
    few = registry_response(errors[:MAX_LISTED_ERRORS]).findall(".//{*}RegistryError")
    assert len(few) == MAX_LISTED_ERRORS
