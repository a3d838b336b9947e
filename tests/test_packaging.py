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


def _requirements(section: str) -> set[str]:
    """The distribution names of setup.cfg's install_requires or of an extra."""
    import configparser
    import re
    from pathlib import Path

    config = configparser.ConfigParser()
    config.read(Path(__file__).resolve().parents[1] / "setup.cfg")
    option = "install_requires" if section == "install" else section
    where = "options" if section == "install" else "options.extras_require"
    lines = config[where][option].splitlines()
    return {re.split(r"[<>=\[ ]", line.strip())[0].lower() for line in lines
            if line.strip() and not line.strip().startswith("#")}


# an import name → its distribution, where they differ
DISTRIBUTIONS = {"yaml": "pyyaml", "prometheus_client": "prometheus-client",
                 "saxonche": "saxonche", "psycopg": "psycopg", "fhir": "fhir.resources",
                 "jwt": "pyjwt"}


def test_the_server_needs_what_it_installs_and_no_more():
    """Every library xds_server imports is an install requirement, and an install requirement
    nothing imports (zeep, which only the tests use) is not one."""
    import ast
    from pathlib import Path

    import xds_server

    package = Path(xds_server.__file__).parent
    imported = set()
    for source in package.rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported.add(node.module.split(".")[0])
    third_party = {name for name in imported
                   if name not in sys.stdlib_module_names and name != "xds_server"}
    installed = _requirements("install")
    wanted = {DISTRIBUTIONS.get(name, name).replace("_", "-").lower() for name in third_party}
    assert wanted - installed == set()
    assert "zeep" not in installed and "zeep" in _requirements("test")
    # needed without an import of their own: drivers and servers loaded by name
    by_name = {"psycopg", "gunicorn"}
    assert installed - wanted - by_name == set()
