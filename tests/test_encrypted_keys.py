"""Every private key the server or the client reads for TLS (XDS_KEYFILE, XDS_REGISTRY_KEYFILE,
XDS_ATNA_KEYFILE, the client's --key) refused in one line when encrypted: without a password
callback OpenSSL asks for the pass phrase on the terminal, and an unattended start waits
(outside test 19c, N7; the seal keys: test_config_signature.py)."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization

from xds_server.app import registry_tls
from xds_server.cli import main
from xds_server.config import ConfigError, load_settings
from xds_server.ops.syslog import ConfigurationError, TlsOptions, tls_context
from xds_server.serving.tls import client_context, server_context

from .dsig_data import SealAuthority

ENCRYPTED = "the private key is encrypted (protected by a pass phrase)"
SAYS = re.escape(ENCRYPTED)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """(certificate, its key encrypted with a pass phrase)"""
    directory = tmp_path_factory.mktemp("encrypted-keys")
    key, certificate = SealAuthority.create(directory).files("seal")
    private = serialization.load_pem_private_key(key.read_bytes(), password=None)
    encrypted = directory / "encrypted.key"
    encrypted.write_bytes(private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret")))
    return str(certificate), str(encrypted)


def test_the_servers_key(files):
    certificate, key = files
    with pytest.raises(ConfigError, match=rf"keyfile {re.escape(key)}: {SAYS}"):
        server_context(certificate, key)


def test_serve_says_it_in_one_line(tmp_path, files):
    certificate, key = files
    result = CliRunner().invoke(main, ["serve", "--port", "18995"], env={
        "XDS_DATA_DIR": str(tmp_path / "var"), "XDS_PROFILE": "ihe",
        "XDS_CERTFILE": certificate, "XDS_KEYFILE": key})
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    [line] = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert ENCRYPTED in line and f"keyfile {key}" in line, line


def test_the_clients_key(files):
    certificate, key = files
    with pytest.raises(ConfigError, match=SAYS):
        client_context(None, certificate, key)


def test_the_repositorys_key_for_a_remote_registry(tmp_path, files):
    certificate, key = files
    settings = load_settings({"data_dir": str(tmp_path)}, environ={
        "XDS_REGISTRY_URL": "https://registry.example/xds/registry",
        "XDS_REGISTRY_CERTFILE": certificate, "XDS_REGISTRY_KEYFILE": key})
    with pytest.raises(ConfigError, match=rf"registry_keyfile {re.escape(key)}: {SAYS}"):
        registry_tls(settings)


def test_the_audit_forwarders_key(files):
    certificate, key = files
    with pytest.raises(ConfigurationError, match=SAYS):
        tls_context(TlsOptions(certfile=certificate, keyfile=key))
