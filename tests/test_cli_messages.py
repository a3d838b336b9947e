"""What the CLI says names the right thing (outsider F7): the busy MLLP port names the option
of the command that was given (`serve --mllp-port`, `mllp --port`); an id option given empty is
a usage error before anything is sent; a URL with user:password@ is refused without echoing
the password; a 404 says to check the URL."""

from __future__ import annotations

import socket

import pytest

from .cli_run import run_in_process
from .conftest import free_port

INS = "285067512345639^^^&1.2.250.1.213.1.4.10&ISO^NH"
DOWN = f"http://127.0.0.1:{free_port()}"


@pytest.fixture
def busy_port():
    listener = socket.create_server(("127.0.0.1", 0))
    yield listener.getsockname()[1]
    listener.close()


def test_a_busy_mllp_port_of_serve_names_mllp_port(tmp_path, busy_port):
    done = run_in_process("serve", "--port", str(free_port()), "--data-dir", str(tmp_path / "v"),
                          "--mllp-port", str(busy_port),
                          env={"XDS_PROFILE": "ihe", "XDS_SECURITY": "none"})
    assert done.returncode == 2, done.stderr
    assert "give --mllp-port or XDS_MLLP_PORT" in done.stderr, done.stderr
    assert not (tmp_path / "v").exists()          # said before anything is made


def test_a_busy_port_of_the_mllp_command_names_its_port(tmp_path, busy_port):
    done = run_in_process("mllp", "--port", str(busy_port), "--data-dir", str(tmp_path / "v"),
                          env={"XDS_PROFILE": "ihe", "XDS_SECURITY": "none"})
    assert done.returncode == 2, done.stderr
    assert "give --port or XDS_MLLP_PORT" in done.stderr, done.stderr


@pytest.mark.parametrize("args", [
    ["retrieve", "1.2.250.1.999.7.1.2", "--out", "x.xml", "--repository-id", ""],
    ["retrieve", "1.2.250.1.999.7.1.2", "--out", "x.xml", "--repository-id", " "],
    ["retrieve", "1.2.250.1.999.7.1.2", "--out", "x.xml", "--repository-id", "repo"],
    ["remove", "1.2.250.1.999.7.1.2", "--documents-only", "--repository-id", ""],
    ["update", "mask", "1.2.250.1.999.7.1.2", "--entry", ""],
    ["query", "--patient", INS, "--vihf-subject", ""],
    ["query", "--patient", INS, "--vihf-role", ""],
    ["audit", "show", "--patient", ""],
    ["serve", "--host", "", "--port", "{busy}"],      # (without the check, it served: on
    ["mllp", "--host", "", "--port", "{busy}"],       # every interface; here it stops)
    ["conformance", "run", "--nist-testkit", ".", "--registry", DOWN + "/xds/registry",
     "--patient-authority", ""],
])
def test_an_empty_id_option_is_a_usage_error_before_anything_is_sent(tmp_path, args,
                                                                     busy_port):
    args = [a.replace("{busy}", str(busy_port)) for a in args]
    done = run_in_process(*args, env={"XDS_SERVER_URL": DOWN,
                                      "XDS_DATA_DIR": str(tmp_path / "none")}, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert "cannot reach" not in done.stderr and "Invalid value" in done.stderr, done.stderr
    assert not (tmp_path / "none").exists()


@pytest.mark.parametrize("setting", [("--server", "http://user:s3cret@127.0.0.1:1"),
                                     ("--registry", "http://u:s3cret@127.0.0.1:1/xds/registry"),
                                     ("--repository", "https://s3cret@127.0.0.1:1/x")])
def test_credentials_in_a_url_are_refused_and_not_echoed(setting):
    done = run_in_process("query", "--patient", INS, *setting)
    assert done.returncode == 2, done.stderr
    assert "credentials" in done.stderr and "s3cret" not in done.stderr, done.stderr


def test_credentials_in_a_url_setting_are_refused_too():
    done = run_in_process("query", "--patient", INS,
                          env={"XDS_SERVER_URL": "http://user:s3cret@127.0.0.1:1"})
    assert done.returncode == 2, done.stderr
    assert "credentials" in done.stderr and "s3cret" not in done.stderr, done.stderr


_FAILURE = """<?xml version="1.0" encoding="UTF-8"?>
<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"
 xmlns:wsa="http://www.w3.org/2005/08/addressing"><env:Header>
<wsa:Action>urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-bResponse</wsa:Action>
</env:Header><env:Body>
<rs:RegistryResponse xmlns:rs="urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0"
 status="urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Failure"><rs:RegistryErrorList>
<rs:RegistryError errorCode="{code}" codeContext="{words}" location=""
 severity="urn:oasis:names:tc:ebxml-regrep:ErrorSeverityType:Error"/>
</rs:RegistryErrorList></rs:RegistryResponse></env:Body></env:Envelope>"""


class _Stub:
    """An HTTP server: 404 text/plain off /xds/, else the SOAP failure it is given."""

    def __init__(self, code: str, words: str) -> None:
        import http.server
        import threading

        body = _FAILURE.format(code=code, words=words).encode()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path == "/json":        # a page that answers 200, not in SOAP
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", "15")
                    self.end_headers()
                    self.wfile.write(b'{"status":"ok"}')
                    return
                if not self.path.startswith("/xds/"):
                    self.send_response(404)
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Content-Length", "9")
                    self.end_headers()
                    self.wfile.write(b"not found")
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/soap+xml; charset=UTF-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                return None

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def full_repository():
    stub = _Stub("XDSRepositoryError", "the repository's storage is full: nothing was stored; "
                                       "retry once the operator has freed space")
    yield stub
    stub.close()


@pytest.mark.parametrize("path", ["/wrong", "/health", "/xds;x"])
def test_a_wrong_url_says_not_found_check_the_url(full_repository, path):
    done = run_in_process("query", "--patient", INS, "--registry", full_repository.url + path)
    assert done.returncode == 2, done.stderr
    assert "HTTP 404 not found: check the URL" in done.stderr, done.stderr
    assert "Content-Type" not in done.stderr


def test_a_full_repository_is_exit_3_try_again_later(full_repository, tmp_path):
    letter = tmp_path / "letter.txt"
    letter.write_text("a letter\n")
    done = run_in_process("submit", str(letter), "--patient", INS, "--server",
                          full_repository.url, env={"XDS_PROFILE": "ihe"})
    assert done.returncode == 3, done.stderr
    assert "storage is full" in done.stderr and "try again later" in done.stderr


def test_a_bulk_submit_stops_at_a_full_repository(full_repository, tmp_path):
    for name in ("a.txt", "b.txt"):
        (tmp_path / name).write_text("a letter\n")
    done = run_in_process("submit", str(tmp_path), "--pattern", "*.txt", "--patient", INS,
                          "--server", full_repository.url, env={"XDS_PROFILE": "ihe"})
    assert done.returncode == 3, done.stderr
    assert "0 submitted, 0 refused, stopped at" in done.stdout, done.stdout


def test_a_busy_registry_is_exit_3_too():
    stub = _Stub("XDSRegistryBusy", "try later")
    try:
        done = run_in_process("query", "--patient", INS, "--server", stub.url)
    finally:
        stub.close()
    assert done.returncode == 3, done.stderr
    assert "XDSRegistryBusy" in done.stderr


@pytest.mark.parametrize("args", [["backup", "--out", ""], ["db", "fill-forms", "--seconds", "nan"],
                                  ["db", "fill-forms", "--seconds", "-1"]])
def test_other_commands_refuse_an_empty_or_impossible_value(tmp_path, args):
    """`backup --out ''` wrote the backup into the current directory (click made '' into '.');
    `db fill-forms --seconds nan` or `-1` stopped at once and said 'run again'."""
    done = run_in_process(*args, "--data-dir", str(tmp_path / "var"), cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert "Invalid value" in done.stderr and "--" in done.stderr, done.stderr
    assert not (tmp_path / "var").exists()
