"""The producer's canonical form of a sub-element is xmlsec's, in both prefix styles, where
lxml's own sub-element C14N is not (the pitfall the issue measured: a spurious xmlns="" on the
grandchildren of an element under a default namespace)."""

from __future__ import annotations

import base64
import hashlib

import pytest
import xmlsec
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from xds_server.dsig.c14n import canonical_subtree

DS = "http://www.w3.org/2000/09/xmldsig#"
XADES = "http://uri.etsi.org/01903/v1.1.1#"


def xmlsec_digest(document: bytes, target: str, with_comments: bool) -> str:
    """What xmlsec digests for the element of Id `target` (SHA-256 of its C14N 1.0)."""
    root = etree.fromstring(document)
    signature = xmlsec.template.create(root, xmlsec.constants.TransformInclC14N,
                                       xmlsec.constants.TransformHmacSha256, ns="ds")
    root.append(signature)
    # a bare-name '#id' drops comments whatever the transform (XMLDSig §4.3.3.3): the
    # XPointer form keeps them
    uri = f"#xpointer(id('{target}'))" if with_comments else f"#{target}"
    reference = xmlsec.template.add_reference(signature, xmlsec.constants.TransformSha256,
                                              uri=uri)
    xmlsec.template.add_transform(reference, xmlsec.constants.TransformInclC14NWithComments
                                  if with_comments else xmlsec.constants.TransformInclC14N)
    context = xmlsec.SignatureContext()
    context.key = xmlsec.Key.from_binary_data(xmlsec.constants.KeyDataHmac, b"k")
    xmlsec.tree.add_ids(root, ["Id"])
    context.sign(signature)
    return signature.find(f".//{{{DS}}}DigestValue").text


def ours(document: bytes, target: str, with_comments: bool) -> str:
    element = etree.fromstring(document).xpath("//*[@Id=$id]", id=target)[0]
    return base64.b64encode(hashlib.sha256(canonical_subtree(element, with_comments))
                            .digest()).decode()


def lxml_own(document: bytes, target: str, with_comments: bool) -> str:
    element = etree.fromstring(document).xpath("//*[@Id=$id]", id=target)[0]
    octets = etree.tostring(element, method="c14n", with_comments=with_comments)
    return base64.b64encode(hashlib.sha256(octets).digest()).decode()


CASES = {
    "ds-prefix": f'<ds:Signature xmlns:ds="{DS}"><ds:Object><ds:Manifest Id="t"><ds:Reference '
                 'URI="urn:oid:1"><ds:DigestValue>AA==</ds:DigestValue></ds:Reference>'
                 '</ds:Manifest></ds:Object></ds:Signature>',
    "default-namespace": f'<Signature xmlns="{DS}"><Object><Manifest Id="t"><Reference '
                         'URI="urn:oid:1"><DigestValue>AA==</DigestValue></Reference>'
                         '</Manifest></Object></Signature>',
    "xades-default-in-ds-default": f'<Signature xmlns="{DS}"><Object><QualifyingProperties '
                                   f'xmlns="{XADES}"><SignedProperties Id="t"><A><B><C xmlns='
                                   f'"{DS}">x</C></B></A></SignedProperties>'
                                   '</QualifyingProperties></Object></Signature>',
    "unused-namespace-and-comment": f'<Signature xmlns="{DS}" xmlns:xsi="urn:xsi"><Object '
                                    'b="2" a="1"><Manifest Id="t"><!-- c --><Reference z="&amp;'
                                    '&lt;" a="&quot;">t&#13;</Reference></Manifest></Object>'
                                    '</Signature>',
}


@pytest.mark.parametrize("with_comments", [False, True], ids=["c14n", "with-comments"])
@pytest.mark.parametrize("case", CASES)
def test_the_producers_canonical_form_is_xmlsecs(case, with_comments):
    document = CASES[case].encode()
    assert ours(document, "t", with_comments) == xmlsec_digest(document, "t", with_comments)


def test_lxmls_own_sub_element_c14n_is_wrong_under_a_default_namespace():
    """Why the producer does not use it (and why the verifier is xmlsec)."""
    document = CASES["default-namespace"].encode()
    assert lxml_own(document, "t", False) != xmlsec_digest(document, "t", False)
    octets = etree.tostring(etree.fromstring(document).xpath("//*[@Id='t']")[0], method="c14n")
    assert b'<DigestValue xmlns="">' in octets


NAMES = st.sampled_from(["a", "b", "Reference", "DigestValue"])
SPACES = st.sampled_from([None, DS, XADES, "urn:x"])


@st.composite
def trees(draw, depth=3):
    """Random elements under random default namespaces and prefixes, with text and tails."""
    space = draw(SPACES)
    prefix = draw(st.sampled_from([None, "p", "ds"])) if space else None
    element = etree.Element(f"{{{space}}}{draw(NAMES)}" if space else draw(NAMES),
                            nsmap={prefix: space} if space else None)
    element.text = draw(st.sampled_from([None, "x", " y ", "&<"]))
    if depth:
        for _ in range(draw(st.integers(0, 3))):
            child = draw(trees(depth=depth - 1))
            child.tail = draw(st.sampled_from([None, "\n", "t"]))
            element.append(child)
    return element


@settings(max_examples=150, deadline=None)
@given(trees(), st.booleans())
def test_random_trees_canonicalise_as_xmlsec_does(tree, with_comments):
    root = etree.Element(f"{{{DS}}}Signature", nsmap={None: DS})
    holder = etree.SubElement(root, f"{{{DS}}}Object")
    tree.set("Id", "t")
    holder.append(tree)
    document = etree.tostring(root)
    assert ours(document, "t", with_comments) == xmlsec_digest(document, "t", with_comments)
