"""HTTPS with mutual TLS over real connections, with a PKI made here (trustme): the handshake
refuses a client without a certificate and TLS below 1.2; the README's workflow (submit, query,
retrieve) runs through the CLI with a client certificate and a VIHF it signs; the certificate's
subject and serial reach the audit trail; a document leaves over TLS byte for byte."""

from __future__ import annotations

import hashlib
import socket
import ssl

import pytest
import trustme
from sqlalchemy import text

from xds_server.records.actor import Records
from xds_server.store.database import Database

from .cda_data import CR_BIO, TEST_INS
from .cli_run import run_in_process as run_cli  # one shell call a family: test_cli_client.py
from .conftest import start_server, stop_server
from .vihf_data import SigningAuthority

pytestmark = pytest.mark.http   # every test here talks to a server over loopback

PROFESSIONAL = "810101234567"


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    root = tmp_path_factory.mktemp("pki")
    authority = trustme.CA(organization_name="Test IGC-Sante")
    server = authority.issue_cert("127.0.0.1", "localhost")
    client = authority.issue_cert("lps.example", organization_name="Clinique Exemple",
                                  common_name="LPS de test")
    files = {"ca": root / "ca.pem", "server": root / "server.pem", "client": root / "client.pem"}
    authority.cert_pem.write_to_path(str(files["ca"]))
    server.private_key_and_cert_chain_pem.write_to_path(str(files["server"]))
    client.private_key_and_cert_chain_pem.write_to_path(str(files["client"]))
    vihf = SigningAuthority.create(root / "vihf")
    return files, client, vihf


def _client_context(files, with_certificate: bool = True) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(files["ca"]))
    if with_certificate:
        context.load_cert_chain(str(files["client"]))
    return context


@pytest.fixture(scope="module")
def secured(pki, tmp_path_factory):
    files, _, vihf = pki
    data_dir = tmp_path_factory.mktemp("tls-server") / "var"
    env = {"XDS_DATA_DIR": str(data_dir), "XDS_PROFILE": "cisis", "XDS_SECURITY": "vihf",
           "XDS_VIHF_TRUSTED_CERTS": str(vihf.trusted), "XDS_ACCEPT_TEST_INS": "true",
           "XDS_CERTFILE": str(files["server"]), "XDS_KEYFILE": str(files["server"]),
           "XDS_CA_CERTS": str(files["ca"]), "XDS_CLIENT_CERT": "required",
           # the organisation seal signs the VIHF and the submission set (CI-SIS §5)
           "XDS_SIGNATURE_TRUSTED_CERTS": str(vihf.trusted)}
    assert run_cli("patient", "add", TEST_INS, env=env).returncode == 0
    process, url, _ = start_server(data_dir, env, workers=1, tls=_client_context(files))
    yield url, env, data_dir
    stop_server(process)


def _handshake(url: str, context: ssl.SSLContext) -> bytes:
    """The first bytes of the answer to GET /health, b"" when the TLS session was refused
    (with TLS 1.3 the server's refusal of a certificate arrives after the client's handshake)."""
    port = int(url.rsplit(":", 1)[1])
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, \
                context.wrap_socket(raw, server_hostname="127.0.0.1") as sock:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            return sock.recv(100)
    except (ssl.SSLError, ConnectionError):
        return b""


def test_a_client_without_certificate_is_refused_in_the_handshake(pki, secured):
    files, _, _ = pki
    assert _handshake(secured[0], _client_context(files, with_certificate=False)) == b""


def test_tls_below_1_2_is_refused(pki, secured):
    files, _, _ = pki
    context = _client_context(files)
    context.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    context.maximum_version = ssl.TLSVersion.TLSv1_1
    assert _handshake(secured[0], context) == b""


def test_with_a_certificate_the_server_answers(pki, secured):
    files, _, _ = pki
    assert _handshake(secured[0], _client_context(files)).startswith(b"HTTP/1.1 200")


def test_the_readme_workflow_over_mutual_tls_with_a_signed_vihf(pki, secured, tmp_path):
    files, _, vihf = pki
    url, env, _ = secured
    connection = ["--cacert", str(files["ca"]), "--cert", str(files["client"]),
                  "--key", str(files["client"]),
                  "--vihf-key", str(vihf.directory / "signer.key"),
                  "--vihf-cert", str(vihf.directory / "signer.pem"),
                  "--vihf-subject", PROFESSIONAL, "--vihf-structure", "1750099991"]
    endpoints = ["--registry", url + "/xds/registry"]
    seal = ["--sign-key", str(vihf.directory / "signer.key"),
            "--sign-cert", str(vihf.directory / "signer.pem")]
    submitted = run_cli("submit", str(CR_BIO), "--patient", TEST_INS, "--repository",
                        url + "/xds/repository", *endpoints, *connection, *seal, env=env)
    assert submitted.returncode == 0, submitted.stderr + submitted.stdout
    unique_id = submitted.stdout.split()[0]
    database = Database.from_url(f"sqlite:///{secured[2] / 'registry.sqlite3'}")
    Records(database).authorize(TEST_INS, PROFESSIONAL)   # the patient's authorisation (DMP)

    listed = run_cli("query", "--patient", TEST_INS, *endpoints, *connection, env=env)
    assert listed.returncode == 0, listed.stderr
    assert unique_id in listed.stdout

    out = tmp_path / "copy.xml"
    got = run_cli("retrieve", unique_id, "--out", str(out), "--patient", TEST_INS,
                  "--repository", url + "/xds/repository", *endpoints, *connection, env=env)
    assert got.returncode == 0, got.stderr
    assert hashlib.sha256(out.read_bytes()).digest() == \
        hashlib.sha256(CR_BIO.read_bytes()).digest()

    with database.engine.connect() as db:
        rows = db.execute(text(          # not the built-in register's ITI-42, whose Source
            "SELECT client_subject, client_serial, subject_id FROM audit_events "   # is the
            "WHERE client_subject NOT LIKE 'https://%'")).all()    # repository (3.42.5)
    database.dispose()
    assert rows, "the transactions were audited"
    serial = format(_serial(files["client"]), "X")
    for subject, recorded_serial, person in rows:
        assert "CN=LPS de test" in subject and "O=Clinique Exemple" in subject
        assert recorded_serial.upper().lstrip("0") == serial.lstrip("0")
        assert person == PROFESSIONAL


def test_without_a_vihf_a_client_certificate_alone_is_not_an_identity(pki, secured):
    files, _, _ = pki
    url, env, _ = secured
    result = run_cli("query", "--patient", TEST_INS, "--registry", url + "/xds/registry",
                     "--cacert", str(files["ca"]), "--cert", str(files["client"]), env=env)
    assert result.returncode != 0
    assert "InvalidSecurity" in result.stderr and "Traceback" not in result.stderr


def _serial(pem_path) -> int:
    from cryptography import x509

    return x509.load_pem_x509_certificate(pem_path.read_bytes()).serial_number
