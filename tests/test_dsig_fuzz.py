"""Random edits of a valid signature document, in both prefix styles: the verifier never fails
with anything but a refusal, and whatever it still accepts reads what was signed (the same
Manifest entries, signing time and certificate): no edit changes what is believed."""

from __future__ import annotations

import copy

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from xds_server.dsig.shape import read_signature
from xds_server.dsig.trust import TrustStore
from xds_server.dsig.verify import SubmissionSignatureVerifier
from xds_server.dsig.xades import read_signed_properties
from xds_server.model.content import Attachment

from .cda_data import LEVEL1, TEST_INS
from .dsig_data import SealAuthority, signed_submission

DS = "http://www.w3.org/2000/09/xmldsig#"
VALUES = st.sampled_from(["", "x", "#IHEManifest", "#S0-SignedProperties", "IHEManifest",
                          "urn:oid:1.2.3", "AA==", f"{DS}sha1",
                          "http://www.w3.org/TR/1999/REC-xslt-19991116", "2000-01-01T00:00:00Z"])
NAMES = st.sampled_from(["Id", "URI", "Algorithm", "Target", "Type",
                         "{http://www.w3.org/XML/1998/namespace}id"])
TAGS = st.sampled_from([f"{{{DS}}}Manifest", f"{{{DS}}}Reference", f"{{{DS}}}Signature",
                        f"{{{DS}}}Object", "{urn:x}Other"])


@pytest.fixture(scope="module")
def signed(tmp_path_factory):
    authority = SealAuthority.create(tmp_path_factory.mktemp("pki"))
    verifier = SubmissionSignatureVerifier(TrustStore.from_path(authority.trusted))
    cases = {}
    for prefix in ("ds", None):
        submission, documents, entry = signed_submission(authority, [LEVEL1], TEST_INS,
                                                         prefix=prefix)
        cases[prefix] = (submission, documents, entry)
    return verifier, cases


def read(content: bytes):
    parts = read_signature(etree.fromstring(content))
    properties = read_signed_properties(parts.signed_properties)
    return parts.manifest_references, properties.signing_time, properties.certificates


def mutate(root: etree._Element, data) -> None:
    elements = [e for e in root.iter() if isinstance(e.tag, str)]
    target = data.draw(st.sampled_from(elements))
    kind = data.draw(st.sampled_from(["remove", "duplicate", "attribute", "text", "comment",
                                      "rename", "wrap", "move"]))
    parent = target.getparent()
    if kind == "remove" and parent is not None:
        parent.remove(target)
    elif kind == "duplicate" and parent is not None:
        parent.insert(parent.index(target), copy.deepcopy(target))
    elif kind == "attribute":
        target.set(data.draw(NAMES), data.draw(VALUES))
    elif kind == "text":
        target.text = data.draw(VALUES)
    elif kind == "comment":
        target.insert(data.draw(st.integers(0, len(target))), etree.Comment("c"))
    elif kind == "rename":
        target.tag = data.draw(TAGS)
    elif kind == "wrap" and parent is not None:
        wrapper = etree.Element(data.draw(TAGS))
        parent.replace(target, wrapper)
        wrapper.append(target)
    elif kind == "move" and parent is not None:
        destination = data.draw(st.sampled_from(elements))
        if target not in destination.iterancestors() and destination is not target:
            destination.append(target)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(["ds", None]), st.data())
def test_no_edit_changes_what_is_read_and_accepted(signed, prefix, data):
    verifier, cases = signed
    submission, documents, entry = cases[prefix]
    original = documents[entry.entry_uuid].read_bytes()
    root = etree.fromstring(original)
    for _ in range(data.draw(st.integers(1, 3))):
        mutate(root, data)
    content = etree.tostring(root)
    mutated = {**documents, entry.entry_uuid: Attachment.from_bytes(content)}
    verdict = verifier.verify(submission, mutated)      # never raises
    if verdict.valid:
        assert read(content) == read(original)
    else:
        assert all(e.code == "XDSRepositoryMetadataError" and e.context for e in verdict.errors)
