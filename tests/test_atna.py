"""ATNA: every audit record also goes to an audit record repository as a DICOM audit message in
RFC 5424 syslog, over TLS (RFC 5425, mutual) or UDP (RFC 5426), from a durable queue (the trail's
own rows): a repository outage delays no transaction and loses no record. Receivers started
here (tests/syslog_receiver.py)."""

from __future__ import annotations

import datetime as dt
import ssl

import pytest
import trustme

from xds_server.config import ConfigError, load_settings
from xds_server.consumer.metadata import submit_objects_request
from xds_server.consumer.transport import SoapClient
from xds_server.ops.syslog import BOM, format_message
from xds_server.store import audit_store

from .conftest import start_server, stop_server
from .crash import open_patient_at
from .dicom_audit import problems
from .registry_data import (
    FIND_DOCUMENTS,
    SUCCESS,
    new_patient,
    open_patient,
    register,
    run_query,
    single_document_submission,
)
from .syslog_receiver import HEADER, TlsReceiver, UdpReceiver


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """An authority, the repository's certificate (127.0.0.1), the server's client certificate."""
    directory = tmp_path_factory.mktemp("atna-pki")
    authority = trustme.CA(organization_name="Test ATNA authority")
    server = authority.issue_cert("127.0.0.1")
    client = authority.issue_cert("xds-server.test")
    authority.cert_pem.write_to_path(str(directory / "ca.pem"))
    client.private_key_and_cert_chain_pem.write_to_path(str(directory / "client.pem"))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.verify_mode = ssl.CERT_REQUIRED          # ATNA: the node authenticates itself
    authority.configure_trust(context)
    server.configure_cert(context)
    return {"context": context, "ca": str(directory / "ca.pem"),
            "client": str(directory / "client.pem"), "authority": authority}


def tls_app(make_app, pki, receiver: TlsReceiver, ca: str | None = None):
    app = make_app(atna_url=f"tls://127.0.0.1:{receiver.port}", atna_certfile=pki["client"],
                   atna_ca_certs=ca or pki["ca"])
    app.atna.max_backoff_seconds = 0.5       # the tests' outages last seconds
    return app


def trail_request_ids(app) -> list[str]:
    return [event.request_id for event in app.database.read(audit_store.trail)]


def backlog(app) -> int:
    return app.database.read(audit_store.forwarding_backlog)


def submit(app, patient: str) -> None:
    reply = register(app, single_document_submission(patient))
    assert reply.status == SUCCESS, reply.errors


def test_a_message_is_rfc5424_with_a_utf8_body():
    at = dt.datetime(2026, 12, 2, 1, 2, 3, 456789, tzinfo=dt.UTC)
    message = format_message("<AuditMessage>é</AuditMessage>".encode(), at, "arr host\n")
    header = HEADER.match(message)
    assert header is not None
    priority, stamp, host, app_name, _, msgid, data = header.groups()
    assert (priority, stamp, msgid, data) == (b"85", b"2026-12-02T01:02:03.456789Z",
                                               b"IHE+RFC-3881", b"-")
    assert host == b"arr_host_" and app_name == b"xds-server"      # printable ASCII only
    assert message[header.end():] == BOM + "<AuditMessage>é</AuditMessage>".encode()


@pytest.mark.parametrize("url", ["http://arr:514", "tls://arr", "tls://:6514", "udp://arr:x",
                                 "tls://arr:6514/path", "tls://user@arr:6514"])
def test_an_unusable_atna_url_is_refused_at_start(url):
    with pytest.raises(ConfigError, match="atna_url"):
        load_settings(environ={"XDS_ATNA_URL": url})


def test_records_reach_the_repository_over_mutual_tls(make_app, pki):
    receiver = TlsReceiver(pki["context"]).start()
    try:
        app = tls_app(make_app, pki, receiver)
        patient = new_patient()
        open_patient(app, patient)
        submit(app, patient)
        assert run_query(app, FIND_DOCUMENTS, {
            "$XDSDocumentEntryPatientId": patient,
            "$XDSDocumentEntryStatus": ["urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"],
        }).status == SUCCESS
        app.registry.queries.audit_writer.flush()
        expected = trail_request_ids(app)
        assert len(expected) >= 2
        assert receiver.wait_for(lambda r: sorted(r.request_ids()) == sorted(expected))
        messages = {m.find("EventIdentification/EventTypeCode").get("csd-code"): m
                    for m in receiver.audit_messages()}
        register_message = messages["ITI-42"]       # DICOM form: csd-code, originalText
        assert register_message.find("EventIdentification/EventID").get("csd-code") == "110107"
        assert patient in register_message.xpath(
            "ParticipantObjectIdentification/@ParticipantObjectID")
        assert "ITI-18" in messages
        assert [problems(m) for m in receiver.audit_messages()] == \
            [[] for _ in receiver.audit_messages()]
        assert receiver.wait_for(lambda r: backlog(app) == 0)
    finally:
        receiver.stop()


def test_an_outage_delays_nothing_and_loses_nothing_over_tls(make_app, pki):
    receiver = TlsReceiver(pki["context"]).start()
    try:
        app = tls_app(make_app, pki, receiver)
        patient = new_patient()
        open_patient(app, patient)
        submit(app, patient)
        assert receiver.wait_for(lambda r: len(r.messages) == len(trail_request_ids(app)))
        receiver.stop()                                   # the repository goes away
        for _ in range(3):
            submit(app, patient)                          # transactions go on regardless
        assert backlog(app) >= 3
        receiver.start()                                  # and comes back
        expected = trail_request_ids(app)
        assert receiver.wait_for(lambda r: set(r.request_ids()) == set(expected), 30), (
            len(receiver.request_ids()), len(expected))
        assert receiver.wait_for(lambda r: backlog(app) == 0)
    finally:
        receiver.stop()


def test_a_repository_with_an_untrusted_certificate_gets_nothing(make_app, pki, tmp_path):
    """The repository's certificate is verified: a server with a certificate from another
    authority (a man in the middle) is not sent the records, which stay queued."""
    other = trustme.CA(organization_name="Someone else")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    other.issue_cert("127.0.0.1").configure_cert(context)
    impostor = TlsReceiver(context).start()
    try:
        app = tls_app(make_app, pki, impostor)
        patient = new_patient()
        open_patient(app, patient)
        submit(app, patient)
        assert impostor.wait_for(lambda r: r.handshake_failures > 0, 10)
        assert impostor.messages == []
        assert backlog(app) == len(trail_request_ids(app)) > 0
    finally:
        impostor.stop()


def test_an_outage_then_recovery_over_udp(make_app):
    receiver = UdpReceiver().start()
    try:
        app = make_app(atna_url=f"udp://127.0.0.1:{receiver.port}")
        app.atna.max_backoff_seconds = 0.5
        patient = new_patient()
        open_patient(app, patient)
        submit(app, patient)
        assert receiver.wait_for(lambda r: len(r.messages) == len(trail_request_ids(app)))
        receiver.stop()
        for _ in range(3):
            submit(app, patient)
        receiver.start()
        expected = trail_request_ids(app)
        assert receiver.wait_for(lambda r: set(r.request_ids()) == set(expected), 30), (
            len(receiver.request_ids()), len(expected))
        assert receiver.wait_for(lambda r: backlog(app) == 0)
    finally:
        receiver.stop()


def test_without_atna_nothing_is_queued(make_app):
    app = make_app()
    patient = new_patient()
    open_patient(app, patient)
    submit(app, patient)
    assert app.atna is None and trail_request_ids(app) and backlog(app) == 0


@pytest.mark.http
def test_a_served_server_sends_each_record_once(tmp_path):
    """Under gunicorn (two workers), one forwarder per data directory: each record once."""
    receiver = UdpReceiver().start()
    database_url = f"sqlite:///{tmp_path / 'registry.sqlite3'}"
    process, url, _ = start_server(tmp_path, {
        "XDS_PROFILE": "ihe", "XDS_DATABASE_URL": database_url,
        "XDS_ATNA_URL": f"udp://127.0.0.1:{receiver.port}"})
    try:
        patient = new_patient()
        open_patient_at(database_url, patient)
        client = SoapClient(url + "/xds/registry")
        for _ in range(6):
            reply = client.call("urn:ihe:iti:2007:RegisterDocumentSet-b",
                                submit_objects_request(single_document_submission(patient)))
            assert reply.payload.get("status") == SUCCESS
        assert receiver.wait_for(lambda r: len(r.request_ids()) >= 6)
        receiver.wait_for(lambda r: False, 1.5)           # anything more would come now
        ids = receiver.request_ids()
        assert len(ids) == len(set(ids)) >= 6
    finally:
        stop_server(process)
        receiver.stop()



@pytest.mark.parametrize(("fqdn", "name", "expected"), [
    ("localhost", "vm", "vm"),                       # /etc/hosts: 127.0.1.1 vm → 'localhost'
    ("localhost.localdomain", "vm", "vm"),
    ("ip6-localhost", "vm", "vm"),
    ("vm.hospital.example", "vm", "vm.hospital.example"),
])
def test_the_syslog_hostname_names_this_host_not_loopback(fqdn, name, expected, monkeypatch):
    import socket

    from xds_server.ops.syslog import host_name

    monkeypatch.setattr(socket, "getfqdn", lambda *_: fqdn)
    monkeypatch.setattr(socket, "gethostname", lambda: name)
    assert host_name() == expected
