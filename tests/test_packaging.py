"""The dependency pair that must hold: xmlsec and lxml on the same libxml2, signing for real."""

from __future__ import annotations

import subprocess
import sys

import pytest
from lxml import etree


def test_xmlsec_imports_next_to_lxml_on_the_same_libxml2():
    import xmlsec

    assert xmlsec.get_libxml_version() == etree.LIBXML_VERSION
    assert etree.LXML_VERSION[:3] == (6, 1, 3)


def test_xmlsec_signs_and_verifies_an_lxml_tree():
    import xmlsec

    document = etree.fromstring(b'<Assertion xmlns="urn:test" ID="a1"><Subject>INS</Subject>'
                                b"</Assertion>")
    signature = xmlsec.template.create(document, xmlsec.constants.TransformExclC14N,
                                       xmlsec.constants.TransformHmacSha256)
    document.append(signature)
    reference = xmlsec.template.add_reference(signature, xmlsec.constants.TransformSha256)
    xmlsec.template.add_transform(reference, xmlsec.constants.TransformEnveloped)
    key = xmlsec.Key.from_binary_data(xmlsec.constants.KeyDataHmac, b"shared secret of tests")
    context = xmlsec.SignatureContext()
    context.key = key
    context.sign(signature)
    verifier = xmlsec.SignatureContext()
    verifier.key = key
    verifier.verify(signature)
    document.find("{urn:test}Subject").text = "tampered"
    fresh = xmlsec.SignatureContext()
    fresh.key = key
    with pytest.raises(xmlsec.Error):
        fresh.verify(signature)


def test_console_script_reports_version():
    from xds_server import __version__

    output = subprocess.run([sys.executable, "-m", "xds_server.cli", "--version"],
                            capture_output=True, text=True, check=True).stdout
    assert __version__ in output
