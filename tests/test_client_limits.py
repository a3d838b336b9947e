"""Client limits (issue 18, outsider minors 1, 6, 13): nan and inf are usage errors (they were
internal errors), a server trickling one byte at a time cannot hold a call past its deadline
(10 × --timeout), and `hl7 send` takes XDS_CLIENT_TIMEOUT and refuses a URL for --to."""

from __future__ import annotations

import socket
import threading
import time

import pytest
from click.testing import CliRunner

from xds_server.cli import main
from xds_server.consumer import transport
from xds_server.consumer.transport import SoapClient, TransportError


def _run(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(main, list(args), env=env or {})


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "0", "-1", "abc", "1e300"])
def test_a_timeout_that_is_not_a_duration_is_a_usage_error(value):
    result = _run("query", "--patient", "x^^^&1.2.3&ISO", "--timeout", value)
    assert result.exit_code == 2, result.output
    assert "seconds" in result.output and "internal error" not in result.output


@pytest.mark.parametrize("value", ["nan", "inf"])
def test_xds_client_timeout_nan_is_a_configuration_error(value, tmp_path):
    result = _run("query", "--patient", "x^^^&1.2.3&ISO",
                  env={"XDS_CLIENT_TIMEOUT": value, "XDS_DATA_DIR": str(tmp_path)})
    assert result.exit_code == 2, result.output
    assert "finite" in result.output and "internal error" not in result.output


def test_hl7_send_refuses_a_url_and_a_bad_timeout(tmp_path):
    message = tmp_path / "m.hl7"
    message.write_bytes(b"MSH|^~\\&|A|B|C|D|20240101||ADT^A28|1|P|2.5\r")
    result = _run("hl7", "send", str(message), "--to", "http://127.0.0.1:2575")
    assert result.exit_code == 2 and "without a scheme" in result.output
    result = _run("hl7", "send", str(message), "--to", "127.0.0.1:2575", "--timeout", "nan")
    assert result.exit_code == 2 and "internal error" not in result.output


def test_hl7_send_takes_xds_client_timeout(tmp_path):
    """A listener that never answers: the ACK wait is XDS_CLIENT_TIMEOUT's (it was 60 s)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    message = tmp_path / "m.hl7"
    message.write_bytes(b"MSH|^~\\&|A|B|C|D|20240101||ADT^A28^ADT_A05|1|P|2.5\rEVN||20240101\r")
    started = time.monotonic()
    try:
        result = _run("hl7", "send", str(message), "--to",
                      f"127.0.0.1:{listener.getsockname()[1]}",
                      env={"XDS_CLIENT_TIMEOUT": "1", "XDS_DATA_DIR": str(tmp_path)})
    finally:
        listener.close()
    assert result.exit_code != 0
    assert time.monotonic() - started < 20, result.output


def test_a_trickling_server_cannot_hold_a_call_past_its_deadline(monkeypatch):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    stop = threading.Event()

    def trickle() -> None:
        connection, _ = listener.accept()
        connection.recv(65536)
        connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/soap+xml\r\n"
                           b"Content-Length: 100000\r\n\r\n")
        while not stop.is_set():
            try:
                connection.sendall(b"<")
            except OSError:
                break
            time.sleep(0.2)
        connection.close()

    threading.Thread(target=trickle, daemon=True).start()
    monkeypatch.setattr(transport, "DEADLINE_FACTOR", 3)
    client = SoapClient(f"http://127.0.0.1:{listener.getsockname()[1]}/xds/registry",
                        timeout=0.5)
    started = time.monotonic()
    try:
        with pytest.raises(TransportError, match=r"did not complete within 1\.5 s"):
            client.send_raw("application/soap+xml", b"<x/>")
    finally:
        stop.set()
        listener.close()
    assert time.monotonic() - started < 6
