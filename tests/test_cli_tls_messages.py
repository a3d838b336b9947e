"""What the client says of a wrong URL (outsider 18f F7): https:// to a plain-HTTP server is
"no TLS there: use http://" (it said to give a client certificate); a certificate for another
name, with the right --cacert, names the mismatch (it said to give the authority); a 200 that
is not SOAP (/health's JSON) is "not a SOAP endpoint: check the URL"."""

from __future__ import annotations

import socket
import ssl
import threading

import pytest
import trustme

from .cli_run import run_in_process
from .test_cli_messages import INS, _Stub


@pytest.fixture
def plain():
    stub = _Stub("XDSRegistryError", "unused")
    yield stub
    stub.close()


def test_https_to_a_plain_http_server_says_use_http(plain):
    url = plain.url.replace("http://", "https://")
    done = run_in_process("query", "--patient", INS, "--server", url)
    assert done.returncode == 2, done.stderr
    assert "no TLS there" in done.stderr and "use http://" in done.stderr, done.stderr
    assert "--cert" not in done.stderr


def test_a_200_that_is_not_soap_says_not_a_soap_endpoint(plain):
    done = run_in_process("query", "--patient", INS, "--registry", f"{plain.url}/json")
    assert done.returncode == 2, done.stderr
    assert f"{plain.url}/json: HTTP 200 application/json, not a SOAP endpoint: check the " \
           "URL" in done.stderr, done.stderr
    assert "unsupported Content-Type" not in done.stderr


def test_a_certificate_for_another_name_names_the_mismatch(tmp_path):
    authority = trustme.CA()
    authority.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("other.example").configure_cert(context)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(10)

    def serve_one() -> None:
        try:
            connection, _ = listener.accept()
            with context.wrap_socket(connection, server_side=True):
                pass
        except (OSError, ssl.SSLError):
            pass

    thread = threading.Thread(target=serve_one, daemon=True)
    thread.start()
    try:
        done = run_in_process("query", "--patient", INS, "--cacert", str(tmp_path / "ca.pem"),
                              "--server", f"https://127.0.0.1:{listener.getsockname()[1]}")
    finally:
        thread.join(10)
        listener.close()
    assert done.returncode == 2, done.stderr
    assert "certificate is not for this host name" in done.stderr, done.stderr
    assert "give the authority" not in done.stderr
