"""What a Manifest Reference to a document may declare (dsig/vocabulary.DOCUMENT_TRANSFORMS;
outside test 19, F02): no transform (the raw bytes) or inclusive C14N with comments. A comment
added to a document after signing is refused whatever the signer declared; C14N without
comments and exclusive C14N are refused by name; with C14N with comments a serialisation
change (attribute order, whitespace inside tags) verifies, a change of content does not."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable

import pytest

from xds_server.dsig import produce
from xds_server.dsig.manifest import canonical
from xds_server.dsig.produce import SignedDocument, sign_submission, signature_document
from xds_server.dsig.vocabulary import (
    C14N,
    C14N11,
    C14N11_COMMENTS,
    C14N_COMMENTS,
    EXC_C14N,
    EXC_C14N_COMMENTS,
)
from xds_server.model.content import Attachment

from .cda_data import LEVEL1, TEST_INS
from .dsig_data import cda_submission

COMMENT = b"<!-- added after signing: no signature covers it -->"


def signed_with(authority, transform, monkeypatch):
    """A set of one CDA whose Reference digests it under `transform` (None: its bytes), signed
    as another client would (our producer refuses to write what we refuse to verify)."""
    monkeypatch.setattr(produce, "DOCUMENT_TRANSFORMS", frozenset({
        None, C14N, C14N11, EXC_C14N, C14N_COMMENTS, C14N11_COMMENTS, EXC_C14N_COMMENTS}),
        raising=False)
    submission, documents = cda_submission([LEVEL1], TEST_INS)
    [entry] = submission.documents
    data = documents[entry.entry_uuid].read_bytes()
    form = canonical(data, transform) if transform else data
    value = base64.b64encode(hashlib.sha256(form).digest()).decode()
    content = signature_document(submission.submission_set.unique_id,
                                 [SignedDocument(entry.unique_id, value, transform)],
                                 authority.seal())
    signature, _ = sign_submission(submission, documents, authority.seal())   # its metadata
    documents[signature.entry_uuid] = Attachment.from_bytes(content, "text/xml")
    return submission, documents, entry


def edited(documents, entry, edit) -> None:
    data = documents[entry.entry_uuid].read_bytes()
    documents[entry.entry_uuid] = Attachment.from_bytes(edit(data), "text/xml")


def add_comment(data: bytes) -> bytes:
    return data.replace(b"<title>", COMMENT + b"<title>", 1)


@pytest.mark.parametrize("transform", [C14N, C14N11, EXC_C14N, EXC_C14N_COMMENTS])
def test_a_transform_that_leaves_bytes_out_is_refused_by_name(authority, verifier, monkeypatch,
                                                              transform):
    """F02: with C14N without comments, a comment added after signing still verified."""
    submission, documents, entry = signed_with(authority, transform, monkeypatch)
    edited(documents, entry, add_comment)
    [refusal] = verifier.verify(submission, documents).errors
    assert refusal.location == f"Manifest/Reference[@URI='urn:oid:{entry.unique_id}']" \
                               "/Transforms/Transform"
    assert f"declares the transform {transform}" in refusal.context
    assert f"uniqueId {entry.unique_id}" in refusal.context


@pytest.mark.parametrize("transform", [None, C14N_COMMENTS, C14N11_COMMENTS])
def test_a_comment_added_after_signing_is_refused(authority, verifier, monkeypatch, transform):
    submission, documents, entry = signed_with(authority, transform, monkeypatch)
    assert verifier.verify(submission, documents).errors == []
    edited(documents, entry, add_comment)
    [refusal] = verifier.verify(submission, documents).errors
    assert "the document received is not the one signed" in refusal.context


def test_with_comments_a_serialisation_change_verifies_a_content_change_does_not(
        authority, verifier, monkeypatch):
    """C14N's purpose: the same XML document, written otherwise (attributes reordered,
    whitespace inside a tag, the declaration dropped), is what was signed; text is not."""
    submission, documents, entry = signed_with(authority, C14N_COMMENTS, monkeypatch)
    data = documents[entry.entry_uuid].read_bytes()
    assert b'<typeId root="2.16.840.1.113883.1.3" extension="POCD_HD000040"/>' in data
    edited(documents, entry, lambda d: d.replace(
        b'<typeId root="2.16.840.1.113883.1.3" extension="POCD_HD000040"/>',
        b'<typeId   extension="POCD_HD000040"\n root="2.16.840.1.113883.1.3"></typeId>', 1))
    assert verifier.verify(submission, documents).errors == []
    edited(documents, entry, lambda d: d.replace(b"<title>", b"<title> ", 1))
    [refusal] = verifier.verify(submission, documents).errors
    assert "the document received is not the one signed" in refusal.context


def test_our_producer_digests_the_bytes_and_refuses_to_write_what_is_refused(authority):
    submission, documents = cda_submission([LEVEL1], TEST_INS)
    _, content = sign_submission(submission, documents, authority.seal())
    assert b"Transform " not in content and b"Transforms" not in content
    with pytest.raises(ValueError, match="would be refused on verification"):
        signature_document("1.2.3", [SignedDocument("1.2.4", "AA==", C14N)], authority.seal())


def bom_contradicting_declaration(data: bytes) -> bytes:
    """F7 (outside test 19b): a UTF-8 BOM and a declaration saying ISO-8859-1, after signing:
    the canonical form libxml2 reads (following the BOM) is unchanged, a reader following the
    declaration (expat) reads another text."""
    assert data.startswith(b"<?xml") and b"encoding=" in data[:60]
    return b"\xef\xbb\xbf" + data.replace(b"encoding='UTF-8'", b"encoding='ISO-8859-1'", 1) \
        .replace(b'encoding="UTF-8"', b'encoding="ISO-8859-1"', 1)


def redeclared(name: str, codec: str, bom: bytes = b"") -> Callable[[bytes], bytes]:
    """N6 (outside test 19c): the CDA re-encoded after signing, its declaration saying `name`
    (libxml2 follows the first bytes, so the canonical form and the digest are unchanged)."""
    def edit(data: bytes) -> bytes:
        text = re.sub(r"encoding=['\"][^'\"]+['\"]", f"encoding='{name}'",
                      data.decode("utf-8"), count=1)
        return bom + text.encode(codec)

    return edit


@pytest.mark.parametrize("edit", [
    bom_contradicting_declaration,
    redeclared("UTF-8", "utf-32-le"),                   # UCS-4 without a BOM: 3c000000
    redeclared("ISO-8859-1", "utf-32-le"),
    redeclared("UTF-16BE", "utf-16-le", b"\xff\xfe"),     # a byte order against the BOM
    redeclared("UTF-16LE", "utf-16-be", b"\xfe\xff"),
    redeclared("UTF-16BE", "utf-16-le"),                # against the first bytes' order
], ids=["utf8-bom-latin1", "utf32le-utf8", "utf32le-latin1", "bom-le-declared-be",
        "bom-be-declared-le", "le-declared-be"])
def test_a_bom_contradicting_the_declaration_is_refused(authority, verifier, monkeypatch,
                                                        edit):
    submission, documents, entry = signed_with(authority, C14N_COMMENTS, monkeypatch)
    edited(documents, entry, edit)
    refusals = verifier.verify(submission, documents).errors
    assert refusals, "the edited document verified"
    assert any(entry.unique_id in r.context and "(XML 1.0 Appendix F)"
               in r.context for r in refusals), [r.context for r in refusals]


def test_a_bom_contradicting_the_declaration_is_refused_over_http(authority, make_app,
                                                                  monkeypatch):
    """The same set sent as ITI-41 to a server requiring signed sets: the repository's
    refusal names the document; nothing is registered."""
    from xds_server.consumer.documents import PROVIDE, provide_request

    from .registry_data import open_patient
    from .test_repository import exchange

    app = make_app(profile="ihe", accept_test_ins=True, require_submission_signature=True,
                   signature_trusted_certs=str(authority.trusted))
    open_patient(app, TEST_INS)
    submission, documents, entry = signed_with(authority, C14N_COMMENTS, monkeypatch)
    edited(documents, entry, bom_contradicting_declaration)
    reply = exchange(app, PROVIDE, *provide_request(submission, documents))
    assert reply.payload.get("status", "").endswith(":Failure")
    contexts = [e.get("codeContext") for e in reply.payload.iter("{*}RegistryError")]
    assert any(entry.unique_id in c and "XML 1.0 Appendix F" in c for c in contexts), contexts
