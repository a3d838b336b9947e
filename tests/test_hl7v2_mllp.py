"""HL7 v2 over real MLLP connections: `xds-server serve --mllp-port` and `xds-server mllp`,
sent to by python-hl7's MLLP client (a client nobody here wrote) and by `xds-server hl7 send`;
the documents then found by ITI-18 and retrieved by ITI-43 over HTTP, byte for byte. And the
listener's limits: size, slow and idle senders, connection count, framing, TLS."""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

import hl7.client
import pytest
import trustme
from cryptography import x509

from xds_server.consumer.documents import RETRIEVE, parse_retrieve, retrieve_request
from xds_server.consumer.queries import STORED_QUERY, find_documents_request
from xds_server.consumer.transport import SoapClient

from .conftest import free_port, start_server, stop_server
from .hl7v2_data import (
    CONSENT,
    INS,
    ORU_INIT,
    adt,
    cda_of,
    load,
    nir,
    parse_ack,
    senders_file,
)

pytestmark = pytest.mark.http
VT, END = b"\x0b", b"\x1c\x0d"
RIM = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"


def wait_for_port(port: int, deadline: float = 30.0) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


def receive(sock: socket.socket, timeout: float = 10.0) -> bytes:
    """One framed answer, or b'' when the server closed the connection."""
    sock.settimeout(timeout)
    buffer = b""
    while END not in buffer:
        chunk = sock.recv(65536)
        if not chunk:
            return buffer
        buffer += chunk
    return buffer[buffer.find(VT) + 1:buffer.find(END)]


def closed_within(sock: socket.socket, seconds: float) -> bool:
    sock.settimeout(seconds)
    try:
        while sock.recv(65536):
            pass
        return True
    except TimeoutError:
        return False
    except ConnectionError:
        return True


# --- with the HTTP server ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def served(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("hl7-serve") / "var"
    port = free_port()
    env = {"XDS_PROFILE": "cisis", "XDS_SECURITY": "none", "XDS_ACCEPT_TEST_INS": "true",
           "XDS_REQUIRE_SUBMISSION_SIGNATURE": "false", "XDS_MLLP_PORT": str(port),
           "XDS_MLLP_SENDERS": str(senders_file(data_dir.parent))}
    process, url, log_path = start_server(data_dir, env, workers=1)
    try:
        wait_for_port(port)
        yield url, port, log_path
    finally:
        stop_server(process)
    # a clean stop (finding 6): every worker and listener exits quietly, the server with 0
    stopped = Path(log_path).read_text()
    assert "Traceback" not in stopped and "AssertionError" not in stopped, stopped[-2000:]
    assert process.returncode == 0, stopped[-2000:]
    # the listeners stop with the server: nothing left on the port
    end = time.monotonic() + 10
    while time.monotonic() < end:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) != 0:
                break
        time.sleep(0.2)
    else:
        raise AssertionError("the MLLP listener outlived `serve`")


def test_ans_examples_over_mllp_then_iti18_and_iti43(served):
    url, port, log_path = served
    oru = load(ORU_INIT / "message_ORU_CR_Bio_INIT_N3_SEGUR.hl7")
    with hl7.client.MLLPClient("127.0.0.1", port) as client:
        consent = client.send_message(load(CONSENT /
                                           "ConsentementConsultation_NonOppositionAlimentation.er7"))
        assert parse_ack(consent.strip(VT + END)).code == "AA"
        ack = parse_ack(client.send_message(oru).strip(VT + END))
    assert (ack.code, ack.control_id) == ("AA", "015"), ack.raw
    registry = SoapClient(url + "/xds/registry")
    reply = registry.call(STORED_QUERY, find_documents_request(
        INS + "^NH", ["urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"]))
    found = [e.get("value") for e in reply.payload.iter(f"{{{RIM}}}ExternalIdentifier")
             if e.get("identificationScheme") == "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab"]
    assert found == ["1.2.250.1.213.1.1.9"]
    repository = SoapClient(url + "/xds/repository")
    entry = next(reply.payload.iter(f"{{{RIM}}}ExtrinsicObject"))
    repository_id = next(s.findtext(f"{{{RIM}}}ValueList/{{{RIM}}}Value")
                         for s in entry.iter(f"{{{RIM}}}Slot")
                         if s.get("name") == "repositoryUniqueId")
    result = parse_retrieve(repository.call(RETRIEVE, retrieve_request(
        [(repository_id, "1.2.250.1.213.1.1.9")])))
    assert [d.data for d in result.documents] == [cda_of(oru)]
    assert "request_id=" in Path(log_path).read_text()


def test_many_senders_at_once(served):
    _, port, _ = served
    answers: list[str] = []
    retried: list[str] = []

    def sender() -> None:
        with hl7.client.MLLPClient("127.0.0.1", port) as client:
            for _ in range(3):
                message = adt("A28", nir())
                for _ in range(5):       # AR: not now, send again (what a sender does)
                    ack = parse_ack(client.send_message(message).strip(VT + END))
                    if ack.code != "AR":
                        break
                    retried.append(ack.texts)
                    time.sleep(0.2)
                answers.append(ack.code)

    threads = [threading.Thread(target=sender) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert answers == ["AA"] * 18
    assert all("send again" in text for text in retried), retried


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    child = {k: v for k, v in os.environ.items() if not k.startswith("XDS_")}
    child.update(env or {})
    return subprocess.run([sys.executable, "-m", "xds_server.cli", *args], env=child,
                          capture_output=True, text=True, timeout=60)


def test_cli_send_prints_acks_and_exit_codes(served, tmp_path):
    _, port, _ = served
    good, bad = tmp_path / "a28.hl7", tmp_path / "bad.hl7"
    good.write_bytes(adt("A28", nir()).replace(b"\r", b"\n"))
    bad.write_bytes(adt("A28", nir(), zfa="ZFA|ACTIF||||||||XX||NA|"))
    result = _cli("hl7", "send", str(good), "--to", f"127.0.0.1:{port}")
    assert result.returncode == 0 and "MSA|AA|" in result.stdout, result.stderr
    result = _cli("hl7", "send", str(good), str(bad), "--to", f"127.0.0.1:{port}")
    assert result.returncode == 1 and "MSA|AE|" in result.stdout
    result = _cli("hl7", "send", str(good), "--to", f"127.0.0.1:{free_port()}")
    assert result.returncode == 2 and "cannot connect" in result.stderr   # environment
    assert "Traceback" not in result.stderr


# --- the listener's limits ---------------------------------------------------------------------

def _listener(data_dir: Path, env: dict[str, str]) -> tuple[subprocess.Popen, int]:
    port = free_port()
    child = {k: v for k, v in os.environ.items() if not k.startswith("XDS_")}
    child.update({"XDS_DATA_DIR": str(data_dir), "XDS_PROFILE": "cisis",
                  "XDS_ACCEPT_TEST_INS": "true", "XDS_REQUIRE_SUBMISSION_SIGNATURE": "false",
                  "XDS_SECURITY": "none", **env})
    data_dir.mkdir(parents=True, exist_ok=True)
    child.setdefault("XDS_MLLP_SENDERS", str(senders_file(data_dir)))
    log = open(data_dir / "mllp.log", "wb")   # noqa: SIM115 (closed with the process)
    process = subprocess.Popen([sys.executable, "-m", "xds_server.cli", "mllp", "--port",
                                str(port)], stdout=log, stderr=subprocess.STDOUT, env=child,
                               start_new_session=True)
    try:
        wait_for_port(port)
    except RuntimeError:
        process.kill()
        raise RuntimeError((data_dir / "mllp.log").read_text()) from None
    return process, port


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


@pytest.fixture(scope="module")
def limited(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("hl7-limits") / "var"
    process, port = _listener(data_dir, {
        "XDS_MLLP_MAX_MESSAGE_BYTES": "4096", "XDS_MLLP_MESSAGE_TIMEOUT": "1",
        "XDS_MLLP_IDLE_TIMEOUT": "2", "XDS_MLLP_MAX_CONNECTIONS": "3",
        "XDS_MLLP_PROCESSES": "1"})
    yield port, data_dir
    _stop(process)


def test_a_message_over_the_size_limit_is_answered_and_closed(limited):
    port, _ = limited
    message = adt("A28", nir(), control_id="BIG-1", extra=["NTE|1||" + "x" * 8000])
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(VT + message + END)
        ack = parse_ack(receive(sock))
        assert (ack.code, ack.control_id) == ("AR", "BIG-1")
        assert "4096" in ack.texts and ack.errors[0][3].startswith("207^")
        assert closed_within(sock, 5)


@pytest.fixture(scope="module")
def crowded(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("hl7-crowd") / "var"
    process, port = _listener(data_dir, {
        "XDS_MLLP_MAX_MESSAGE_BYTES": "4096", "XDS_MLLP_MESSAGE_TIMEOUT": "5",
        "XDS_MLLP_MAX_CONNECTIONS": "20", "XDS_MLLP_PROCESSES": "1"})
    yield port
    _stop(process)


def test_many_large_messages_at_once_share_a_bounded_budget(crowded):
    """Each under the size limit, together over four messages' worth: the ones beyond are
    answered AR (busy) instead of buffered (the listener's memory is not the senders' to
    choose)."""
    partial = VT + adt("A28", nir(), control_id="PART", extra=["NTE|1||" + "x" * 3500])
    socks = [socket.create_connection(("127.0.0.1", crowded)) for _ in range(6)]
    try:
        for sock in socks:
            sock.sendall(partial)           # no FS CR: each still being read
            time.sleep(0.05)
        answers = [receive(sock, 6) for sock in socks]
    finally:
        for sock in socks:
            sock.close()
    busy = [parse_ack(a) for a in answers if b"too many large messages" in a]
    assert len(busy) >= 1
    # not now: AR 207 with the message's control id (its MSH was read), never 100
    assert all((a.code, a.control_id) == ("AR", "PART") and a.errors[0][3].startswith("207^")
               for a in busy)


def test_a_slow_sender_is_cut_off(limited):
    """A message trickled in is closed after XDS_MLLP_MESSAGE_TIMEOUT (slowloris)."""
    port, _ = limited
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(VT + b"MSH|^~\\&|")
        started = time.monotonic()
        for _ in range(4):
            time.sleep(0.4)
            try:
                sock.sendall(b"x")
            except OSError:
                break
        assert closed_within(sock, 5)
        assert time.monotonic() - started < 5


def test_an_idle_connection_is_closed(limited):
    port, _ = limited
    with socket.create_connection(("127.0.0.1", port)) as sock:
        assert closed_within(sock, 6)


def test_connections_beyond_the_limit_are_closed(limited):
    port, _ = limited
    held = [socket.create_connection(("127.0.0.1", port)) for _ in range(3)]
    try:
        time.sleep(0.3)
        with socket.create_connection(("127.0.0.1", port)) as extra:
            assert closed_within(extra, 1.5)
    finally:
        for sock in held:
            sock.close()
    time.sleep(0.3)
    with socket.create_connection(("127.0.0.1", port)) as sock:   # room again
        sock.sendall(VT + adt("A28", nir()) + END)
        assert parse_ack(receive(sock)).code == "AA"


def test_two_messages_in_one_frame_and_a_trailing_line_feed(limited):
    """VT m1 m2 FS CR (two messages run together): AR 100 with m1's control id, neither acted
    on (m2's patient is not made); VT msg FS CR LF in one write: answered, and the connection
    goes on (the LF is the gap some senders leave between frames)."""
    port, _ = limited
    first, second = nir(), nir()
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(VT + adt("A28", first, control_id="PAIR-1") + adt("A28", second) + END)
        ack = parse_ack(receive(sock))
        assert (ack.code, ack.control_id) == ("AR", "PAIR-1") and "second MSH" in ack.texts
        sock.sendall(VT + adt("A28", first, control_id="LF-1") + END + b"\n")
        assert parse_ack(receive(sock)).code == "AA"
        sock.sendall(VT + adt("A31", second, control_id="LF-2") + END + b"\r\n")
        ack = parse_ack(receive(sock))
        assert (ack.code, ack.control_id) == ("AA", "LF-2")
        # sent again after a lost ACK with a regenerated MSH-7 (finding 13): the same ACK
        resend = adt("A31", second, control_id="LF-2").replace(b"|20261202101010||ADT",
                                                               b"|20261203080000||ADT", 1)
        sock.sendall(VT + resend + END)
        assert receive(sock) == ack.raw
        # MSH-2 with a duplicated character (finding 9): AR 102 naming MSH-2, with MSH-10
        sock.sendall(VT + adt("A31", second, control_id="ENC-1").replace(b"|^~\\&|", b"|^^\\&|")
                     + END)
        ack = parse_ack(receive(sock))
        assert (ack.code, ack.control_id) == ("AR", "ENC-1") and ack.errors[0][2] == "MSH^1^2"


def test_framing_errors_are_answered_and_closed(limited):
    port, _ = limited
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(adt("A28", nir(), control_id="NOVT-1") + END)     # no VT
        ack = parse_ack(receive(sock))
        assert ack.code == "AR" and ack.control_id == "NOVT-1" and "framing" in ack.texts
        assert closed_within(sock, 5)
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = receive(sock)
        assert answer == b"" or parse_ack(answer).code == "AR"
        assert closed_within(sock, 5)


# --- TLS -----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tls_listener(tmp_path_factory):
    root = tmp_path_factory.mktemp("hl7-pki")
    authority = trustme.CA()
    server = authority.issue_cert("127.0.0.1", "localhost")
    client = authority.issue_cert("ris.example", common_name="RIS de test")
    other = authority.issue_cert("lab.example", common_name="Another system")
    files = {name: root / f"{name}.pem" for name in ("ca", "server", "client", "other")}
    authority.cert_pem.write_to_path(str(files["ca"]))
    server.private_key_and_cert_chain_pem.write_to_path(str(files["server"]))
    client.private_key_and_cert_chain_pem.write_to_path(str(files["client"]))
    other.private_key_and_cert_chain_pem.write_to_path(str(files["other"]))
    subject = x509.load_pem_x509_certificate(client.cert_chain_pems[0].bytes()) \
        .subject.rfc4514_string()
    # GAM^CHU-Y is bound to the client certificate; GAM^CHU-X to the loopback network only
    table = senders_file(root, f"""
[[sender]]
application = "GAM"
facility = "CHU-Y"
messages = ["ADT"]
certificate = "{subject}"

[[sender]]
application = "GAM"
facility = "CHU-X"
messages = ["ADT"]
networks = ["127.0.0.0/8"]
""")
    process, port = _listener(root / "var", {
        "XDS_CERTFILE": str(files["server"]), "XDS_KEYFILE": str(files["server"]),
        "XDS_CA_CERTS": str(files["ca"]), "XDS_CLIENT_CERT": "required",
        "XDS_MLLP_SENDERS": str(table)})
    yield port, files
    _stop(process)


def test_mllp_over_mutual_tls(tls_listener, tmp_path):
    port, files = tls_listener
    context = ssl.create_default_context(cafile=str(files["ca"]))
    context.load_cert_chain(str(files["client"]))
    with socket.create_connection(("127.0.0.1", port)) as raw, \
            context.wrap_socket(raw, server_hostname="127.0.0.1") as sock:
        sock.sendall(VT + adt("A28", nir()) + END)
        assert parse_ack(receive(sock)).code == "AA"
    message = tmp_path / "a28.hl7"
    message.write_bytes(adt("A28", nir()))
    result = _cli("hl7", "send", str(message), "--to", f"127.0.0.1:{port}", "--tls",
                  "--cacert", str(files["ca"]), "--cert", str(files["client"]))
    assert result.returncode == 0 and "MSA|AA|" in result.stdout, result.stderr
    # without a client certificate, or in plain text: no answer, no traceback
    result = _cli("hl7", "send", str(message), "--to", f"127.0.0.1:{port}", "--tls",
                  "--cacert", str(files["ca"]))
    assert result.returncode == 2 and "Traceback" not in result.stderr    # TLS refused
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(VT + adt("A28", nir()) + END)
        answer = receive(sock)
        assert b"MSA|AA" not in answer


def test_a_certificate_speaks_only_for_the_sender_bound_to_it(tls_listener):
    """Attack: any certificate of XDS_CA_CERTS claiming a sender's MSH-3/4 (another system's
    certificate, or a certificate using a name bound to a network): AR, nothing done."""
    port, files = tls_listener

    def send(certificate: str, sender: str) -> str:
        context = ssl.create_default_context(cafile=str(files["ca"]))
        context.load_cert_chain(str(files[certificate]))
        with socket.create_connection(("127.0.0.1", port)) as raw, \
                context.wrap_socket(raw, server_hostname="127.0.0.1") as sock:
            sock.sendall(VT + adt("A28", nir(), sender=sender) + END)
            ack = parse_ack(receive(sock))
            return f"{ack.code} {ack.texts}"

    assert send("client", "GAM^CHU-Y").startswith("AA")
    refused = send("other", "GAM^CHU-Y")
    assert refused.startswith("AR") and "another TLS client certificate" in refused
    refused = send("client", "GAM^CHU-X")
    assert refused.startswith("AR") and "not bound to the TLS client certificate" in refused


def test_the_atna_export_names_a_certificate_bound_sender(tls_listener, tmp_path):
    """Re-test finding: MLLP senders were exported as persons of role "administrator",
    without how they were bound. Over a real TLS connection, then `xds-server audit export
    --format dicom`: the Source is the application (MSH-3|MSH-4) with its certificate's
    subject, no Human Requestor, and sender_bound_by=certificate beside MSH-10; every message
    valid by the DICOM schema's rules."""
    import base64

    from lxml import etree

    from .dicom_audit import problems

    port, files = tls_listener
    context = ssl.create_default_context(cafile=str(files["ca"]))
    context.load_cert_chain(str(files["client"]))
    with socket.create_connection(("127.0.0.1", port)) as raw, \
            context.wrap_socket(raw, server_hostname="127.0.0.1") as sock:
        sock.sendall(VT + adt("A28", nir(), control_id="ATNA-TLS-1") + END)
        assert parse_ack(receive(sock)).code == "AA"
    out = tmp_path / "audit.xml"
    result = _cli("audit", "export", "--format", "dicom", "--out", str(out),
                  "--data-dir", str(files["ca"].parent / "var"))
    assert result.returncode == 0, result.stderr
    root = etree.parse(str(out)).getroot()
    assert [problems(m) for m in root] == [[]] * len(root)
    assert "administrator" not in out.read_text()

    def detail(message, kind: str) -> str:
        found = [base64.b64decode(d.get("value")).decode()
                 for d in message.iter("ParticipantObjectDetail") if d.get("type") == kind]
        return found[0] if found else ""

    [message] = [m for m in root if detail(m, "MSH-10") == "ATNA-TLS-1"]
    assert detail(message, "sender_bound_by") == "certificate"
    [source] = message.xpath("ActiveParticipant[@UserIsRequestor='true']")
    assert source.get("UserID") == "GAM|CHU-Y"
    assert "RIS de test" in source.get("AlternativeUserID")
    assert source.get("NetworkAccessPointID") == "127.0.0.1"
