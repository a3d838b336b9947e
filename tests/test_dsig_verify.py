"""A submission set signed by this project's producer, and by a DMP client's layout (the ANS
DRIMbox: default namespace, RSA-SHA1, CDA digested as canonical XML), verifies; what the
verification reads is reported; the signature's metadata passes the cisis profile."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib

import pytest
from lxml import etree

from xds_server.dsig.manifest import canonical
from xds_server.dsig.metadata import SignatureMetadataCheck
from xds_server.dsig.produce import SignedDocument, sign_submission, signature_document
from xds_server.dsig.trust import TrustStore
from xds_server.dsig.verify import SubmissionSignatureVerifier
from xds_server.dsig.vocabulary import C14N_COMMENTS, DS, XADES_111
from xds_server.model.content import Attachment
from xds_server.validation.profiles import profile_for

from .cda_data import CR_BIO, LEVEL1, TEST_INS
from .dsig_data import SEAL_NAME, cda_submission, signed_submission


@pytest.fixture(scope="module")
def sha1_verifier(authority):
    """XDS_SIGNATURE_ACCEPT_SHA1=true: what the DMP's older clients sign with."""
    return SubmissionSignatureVerifier(TrustStore.from_path(authority.trusted), accept_sha1=True)


@pytest.mark.parametrize("prefix", ["ds", None], ids=["ds-prefix", "default-namespace"])
@pytest.mark.parametrize("digest", ["sha256", "sha1"])
def test_a_signed_set_verifies_in_both_prefix_styles(authority, verifier, sha1_verifier,
                                                      prefix, digest):
    submission, documents, entry = signed_submission(authority, [CR_BIO, LEVEL1], TEST_INS,
                                                     prefix=prefix, digest=digest)
    root = etree.fromstring(documents[entry.entry_uuid].read_bytes())
    assert root.prefix == prefix and root.nsmap[prefix] == DS
    verdict = (sha1_verifier if digest == "sha1" else verifier).verify(submission, documents)
    assert verdict.errors == [] and verdict.valid
    assert verdict.signer == SEAL_NAME.rfc4514_string()
    assert verdict.signature_unique_id == entry.unique_id


def test_the_default_namespace_style_nests_xades_and_xmldsig_defaults(authority):
    """The case lxml's sub-element C14N gets wrong: XAdES as the default namespace inside
    XML-Signature's, and XML-Signature's again inside it (IssuerSerial's children)."""
    _, documents, entry = signed_submission(authority, [LEVEL1], TEST_INS, prefix=None)
    text = documents[entry.entry_uuid].read_bytes().decode()
    assert f'<QualifyingProperties xmlns="{XADES_111}"' in text
    assert f'<X509IssuerName xmlns="{DS}">' in text


@pytest.mark.parametrize("seal", ["ec-seal", "via-intermediate"])
def test_an_ec_key_and_a_chain_through_an_intermediate_verify(authority, verifier, seal):
    submission, documents, _ = signed_submission(authority, [LEVEL1], TEST_INS, seal=seal)
    assert verifier.verify(submission, documents).errors == []


def drim_signature(authority, submission, documents, digest="sha1"):
    """The DMP client's layout: every document digested as its canonical XML (C14N with
    comments) with the transform declared, SHA-1 and RSA-SHA1, no prefix."""
    signed = [SignedDocument(d.unique_id, base64.b64encode(hashlib.new(digest, canonical(
        documents[d.entry_uuid].read_bytes(), C14N_COMMENTS)).digest()).decode(),
        C14N_COMMENTS) for d in submission.documents]
    return signature_document(submission.submission_set.unique_id, signed,
                              authority.seal(), digest=digest, prefix=None)


def test_a_drimbox_style_signature_verifies_when_sha1_is_accepted(authority, verifier,
                                                                  sha1_verifier):
    submission, documents = cda_submission([CR_BIO, LEVEL1], TEST_INS)
    content = drim_signature(authority, submission, documents)
    entry, _ = sign_submission(submission, documents, authority.seal())     # the metadata
    documents[entry.entry_uuid] = Attachment.from_bytes(content)
    assert b'<Transform Algorithm="' + C14N_COMMENTS.encode() in content
    assert sha1_verifier.verify(submission, documents).errors == []
    [refusal] = verifier.verify(submission, documents).errors
    assert refusal.location == "Signature/SignedInfo/SignatureMethod"
    assert "SHA-1 is accepted only with XDS_SIGNATURE_ACCEPT_SHA1=true" in refusal.context


def test_the_signature_entry_passes_the_cisis_profile_and_the_registry_check(authority):
    submission, _, entry = signed_submission(authority, [CR_BIO, LEVEL1], TEST_INS)
    profile = profile_for("cisis", accept_test_ins=True)
    assert [e for e in profile.cisis.check(submission) if e.is_error] == []
    assert SignatureMetadataCheck(required=True)(submission) == []
    assert (entry.class_code.code, entry.type_code.code, entry.format_code.code,
            entry.language_code) == ("urn:oid:1.3.6.1.4.1.19376.1.2.1.1.1", "E1762",
                                     "http://www.w3.org/2000/09/xmldsig#", "art")
    signs = [a for a in submission.associations if a.type.endswith(":signs")]
    assert {a.target for a in signs} == {"SubmissionSet01", "Document01", "Document02"}


def test_an_unsigned_set_is_refused_only_when_required(authority, verifier):
    submission, documents = cda_submission([LEVEL1], TEST_INS)
    [refusal] = verifier.verify(submission, documents).errors
    assert refusal.code == "XDSRepositoryMetadataError" and refusal.location == "SubmissionSet"
    assert "the submission set is not signed" in refusal.context
    optional = SubmissionSignatureVerifier(verifier.trust, required=False)
    verdict = optional.verify(submission, documents)
    assert verdict.errors == [] and not verdict.signed
    assert SignatureMetadataCheck(required=False)(submission) == []
    [registry] = SignatureMetadataCheck(required=True)(submission)
    assert registry.code == "XDSRegistryMetadataError"


def test_a_signature_made_a_minute_ago_is_fresh_and_a_stale_one_is_not(authority, verifier):
    then = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    submission, documents, _ = signed_submission(authority, [LEVEL1], TEST_INS, now=then)
    assert verifier.verify(submission, documents).errors == []
    strict = SubmissionSignatureVerifier(verifier.trust, max_age=dt.timedelta(seconds=1),
                                         clock_skew=dt.timedelta(0))
    [stale] = strict.verify(submission, documents).errors
    assert "more than 1 s ago (XDS_SIGNATURE_MAX_AGE)" in stale.context


def test_the_audit_detail_names_the_signer_and_the_time(authority, verifier):
    submission, documents, entry = signed_submission(authority, [LEVEL1], TEST_INS)
    detail = verifier.verify(submission, documents).audit_detail().splitlines()
    assert detail[:2] == ["signature=valid", f"signature_document={entry.unique_id}"]
    assert detail[2] == f"signer={SEAL_NAME.rfc4514_string()}"
    assert detail[3].startswith("signing_time=")
