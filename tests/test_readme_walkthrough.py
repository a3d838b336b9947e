"""The README's walk-through, run as written: its shell blocks (marked `<!-- walkthrough:NAME
-->`) against the platform `make run` serves (the Makefile's own settings), and against a server
with TLS and VIHF started by the README's own command. Only the port is changed (a free one for
the README's 8443; XDS_SERVER_URL for make run's 8080) and the commands run in a scratch
directory holding the checkout's cda_samples/ and .venv."""

from __future__ import annotations

import os
import re
import signal
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from .conftest import free_port, start_server, stop_server

pytestmark = pytest.mark.http

ROOT = Path(__file__).resolve().parents[1]


def block(name: str) -> str:
    """The ```sh block after `<!-- walkthrough:NAME -->` in README.md."""
    found = re.search(rf"<!-- walkthrough:{name} -->\s*```sh\n(.*?)```",
                      (ROOT / "README.md").read_text(), re.S)
    assert found, f"README.md has no walkthrough:{name} block"
    return found.group(1)


def make_run_settings() -> dict[str, str]:
    """The XDS_ settings the Makefile's `run` recipe gives the server."""
    recipe = re.search(r"^run:.*?\n((?:\t.*\n)+)", (ROOT / "Makefile").read_text(), re.M)
    assert recipe, "the Makefile has no run target"
    pairs = re.findall(r"(XDS_[A-Z_]+)=\$\$\{\1:-([^}]*)\}", recipe.group(1))
    return dict(pairs)


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    """A directory like the checkout's: cda_samples/ and the .venv of the Python running."""
    (tmp_path / "cda_samples").symlink_to(ROOT / "cda_samples")
    venv = Path(sys.prefix)
    (tmp_path / ".venv").symlink_to(venv)
    assert (venv / "bin" / "activate").is_file(), "the tests run from a virtual environment"
    return tmp_path


def _shell(script: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    child = {k: v for k, v in os.environ.items() if not k.startswith("XDS_")}
    child.update(env)
    return subprocess.run(["bash", "-e", "-x", "-c", script], cwd=cwd, env=child,
                          capture_output=True, text=True, timeout=600)


def test_make_run_serves_the_test_platform_it_says(scratch):
    settings = make_run_settings()
    assert settings == {"XDS_SECURITY": "none", "XDS_REQUIRE_SUBMISSION_SIGNATURE": "false",
                        "XDS_ACCEPT_TEST_INS": "true"}
    process, url, log = start_server(scratch / "var", settings, workers=1)
    try:
        done = _shell(block("platform"), scratch, {"XDS_SERVER_URL": url})
        assert done.returncode == 0, done.stderr[-3000:]
        assert "4 submitted, 0 refused" in done.stdout
        assert (scratch / "lab-report.xml").read_bytes() == \
            (ROOT / "cda_samples" / "CR-BIO_glycemie-creatinine_RPLC.xml").read_bytes()
        assert '"visibility": "MASQUE_PS"' in done.stdout
        first_lines = log.read_text().splitlines()[:3]
        assert any("test platform: security none" in line and "test INS accepted" in line
                   for line in first_lines), first_lines
    finally:
        stop_server(process)


def test_the_secured_walkthrough_runs_as_written(scratch):
    port = str(free_port())
    pki = _shell(block("pki"), scratch, {})
    assert pki.returncode == 0, pki.stderr[-2000:]
    server_script = block("secure-server").replace("8443", port)
    child = {k: v for k, v in os.environ.items() if not k.startswith("XDS_")}
    with open(scratch / "server.log", "wb") as log:
        server = subprocess.Popen(["bash", "-e", "-c", server_script], cwd=scratch, env=child,
                                  stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_for_https(f"https://127.0.0.1:{port}/health", scratch / "ca.pem", server)
        done = _shell(block("secure-client").replace("8443", port), scratch, {})
        assert done.returncode == 0, done.stderr[-3000:]
        assert "4 submitted, 0 refused" in done.stdout
        assert "masked: 1.2.250.1.999.7.1.2 version 2 with MASQUE_PS" in done.stdout
        assert (scratch / "lab-report.xml").is_file()
        anonymous = _shell(". .venv/bin/activate\nxds-server query --patient "
                           "'285067512345639^^^&1.2.250.1.213.1.4.10&ISO^NH' --cacert ca.pem "
                           f"--server https://127.0.0.1:{port} || echo status=$?", scratch, {})
        assert "status=1" in anonymous.stdout and "InvalidSecurity" in anonymous.stderr
        untrusted = _shell(". .venv/bin/activate\nxds-server query --patient "
                           "'285067512345639^^^&1.2.250.1.213.1.4.10&ISO^NH' "
                           f"--server https://127.0.0.1:{port} || echo status=$?", scratch, {})
        assert "status=2" in untrusted.stdout
        assert "certificate is not trusted" in untrusted.stderr and "--cacert" in \
            untrusted.stderr
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=5)


def _wait_for_https(url: str, authority: Path, server: subprocess.Popen) -> None:
    context = ssl.create_default_context(cafile=str(authority))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError("the README's server command exited")
        try:
            with urllib.request.urlopen(url, timeout=2, context=context) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer in 60 s")

