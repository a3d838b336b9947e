"""The SOAP 1.2 core in-process: dispatch, WS-Addressing, MTOM/XOP, faults, hardened parsing."""

from __future__ import annotations

import base64
import hashlib
import io
import logging

import pytest
from lxml import etree

from xds_server.app import create_app
from xds_server.soap.endpoint import Operation, SoapEndpoint
from xds_server.soap.message import read_message
from xds_server.soap.namespaces import XDSSRV, qn

from .conftest import call_wsgi
from .soap_messages import (
    BILLION_LAUGHS,
    SOAP12,
    WSA,
    XXE,
    binary_element,
    echo_body,
    envelope,
    mtom,
)

SOAP_XML = "application/soap+xml; charset=UTF-8"
NS = {"env": SOAP12, "wsa": WSA, "x": XDSSRV, "xop": "http://www.w3.org/2004/08/xop/include"}
ALL_BYTES = bytes(range(256)) * 64


@pytest.fixture
def app(make_settings):
    return create_app(make_settings(spool_threshold_bytes=4096, max_request_bytes=1024 * 1024))


def post(app, body: bytes, content_type: str = SOAP_XML, path: str = "/xds/registry", **kw):
    return call_wsgi(app, "POST", path, body, content_type, **kw)


def parse_reply(result) -> tuple[etree._Element, dict]:
    raw = read_message(io.BytesIO(result.body), result.content_type, spool_dir=None,
                       spool_threshold=1 << 30)
    return raw.root, raw.attachments


def fault_of(result) -> dict:
    root, _ = parse_reply(result)
    values = root.xpath("//env:Fault/env:Code//env:Value/text()", namespaces=NS)
    return {
        "code": values[0],
        "subcodes": values[1:],
        "reason": root.xpath("string(//env:Fault/env:Reason/env:Text)", namespaces=NS),
        "request_id": root.xpath("string(//env:Detail/x:RequestId)", namespaces=NS),
        "action": root.xpath("string(//env:Header/wsa:Action)", namespaces=NS),
        "root": root,
    }


# --- successful exchanges -------------------------------------------------------------------

def test_plain_echo_answers_with_response_action_and_relates_to(app):
    result = post(app, envelope(echo_body("héllo wörld ✓"), message_id="urn:uuid:abc-1"))
    assert result.status == 200
    assert result.content_type.startswith("application/soap+xml")
    root, _ = parse_reply(result)
    assert root.xpath("string(//wsa:Action)", namespaces=NS) == "urn:xds-server:2026:EchoResponse"
    assert root.xpath("string(//wsa:RelatesTo)", namespaces=NS) == "urn:uuid:abc-1"
    message_id = root.xpath("string(//wsa:MessageID)", namespaces=NS)
    assert message_id.startswith("urn:uuid:") and message_id != "urn:uuid:abc-1"
    assert root.xpath("string(//x:EchoResponse)", namespaces=NS) == "héllo wörld ✓"
    assert result.headers["x-request-id"]


@pytest.mark.parametrize("declaration", [True, False], ids=["xml-decl", "no-xml-decl"])
def test_mtom_round_trip_binary_accents_percent_encoded_cid(app, declaration):
    cid_raw = "doc 1/é@example.org"
    cid_href = "doc%201%2F%C3%A9%40example.org"
    text = "Compte rendu: hémoglobine glyquée, 6,5 % — «normal»".encode()
    root = envelope(echo_body("Dossier médical " + binary_element(cid_href, "application/pdf")
                              + binary_element("txt@example.org", "text/plain; charset=utf-8")),
                    declaration=declaration)
    body, content_type = mtom(root, [(cid_raw, ALL_BYTES, "application/pdf"),
                                     ("txt@example.org", text, "text/plain; charset=utf-8")])
    result = post(app, body, content_type)
    assert result.status == 200, result.body[:2000]
    assert result.content_type.startswith("multipart/related")
    assert 'type="application/xop+xml"' in result.content_type
    reply, attachments = parse_reply(result)
    binaries = reply.xpath("//x:EchoResponse/x:Binary", namespaces=NS)
    assert [b.get("sha1") for b in binaries] == [hashlib.sha1(ALL_BYTES).hexdigest(),
                                                 hashlib.sha1(text).hexdigest()]
    received = []
    for element in binaries:
        href = element.find("xop:Include", NS).get("href")
        received.append(attachments[href[4:]].read_bytes())
    assert received == [ALL_BYTES, text]
    assert reply.xpath("string(//x:EchoResponse/text())", namespaces=NS) == "Dossier médical "


def test_mtom_without_attachments_and_without_start_parameter(app):
    body, content_type = mtom(envelope(echo_body("rien")), [], start=None)
    result = post(app, body, content_type)
    assert result.status == 200
    assert result.content_type.startswith("multipart/related")
    reply, attachments = parse_reply(result)
    assert attachments == {}
    assert reply.xpath("string(//x:EchoResponse)", namespaces=NS) == "rien"


def test_mtom_root_part_found_by_start_even_when_not_first(app):
    root = envelope(echo_body(binary_element("a@x")))
    body, content_type = mtom(root, [("a@x", b"A" * 10, "application/octet-stream")],
                              root_last=True)
    assert body.index(b"AAAAAAAAAA") < body.index(b"Envelope")
    result = post(app, body, content_type)
    assert result.status == 200, fault_of(result)["reason"]


def test_inline_base64_request_gets_inline_base64_answer(app):
    payload = base64.b64encode(ALL_BYTES).decode()
    wrapped = "\n".join(payload[i:i + 76] for i in range(0, len(payload), 76))
    result = post(app, envelope(echo_body(f'<x:Binary contentType="application/pdf">{wrapped}'
                                          "</x:Binary>")))
    assert result.status == 200
    reply, attachments = parse_reply(result)
    assert attachments == {}
    element = reply.find(".//x:Binary", NS)
    assert base64.b64decode(element.text) == ALL_BYTES
    assert element.get("size") == str(len(ALL_BYTES))


def test_large_part_spills_to_disk_and_is_removed_after_the_response(app, make_settings):
    spool = app.settings.spool_dir
    big = bytes(range(256)) * 2048  # 512 KiB, over the 4 KiB spool threshold
    body, content_type = mtom(envelope(echo_body(binary_element("big@x"))),
                              [("big@x", big, "application/octet-stream")])
    result = post(app, body, content_type)
    assert result.status == 200
    _, attachments = parse_reply(result)
    assert next(iter(attachments.values())).read_bytes() == big
    assert list(spool.iterdir()) == [], "spool files must be deleted once the response is sent"


# --- WS-Addressing --------------------------------------------------------------------------

def test_missing_action_is_message_addressing_header_required(app):
    fault = fault_of(result := post(app, envelope(echo_body(), action=None)))
    assert result.status == 400
    assert fault["code"] == "env:Sender"
    assert fault["subcodes"] == ["wsa:MessageAddressingHeaderRequired"]
    assert fault["action"] == "http://www.w3.org/2005/08/addressing/fault"
    assert fault["root"].xpath("string(//wsa:ProblemHeaderQName)", namespaces=NS) == "wsa:Action"


def test_missing_message_id_is_refused(app):
    fault = fault_of(post(app, envelope(echo_body(), message_id=None)))
    assert fault["subcodes"] == ["wsa:MessageAddressingHeaderRequired"]
    assert "MessageID" in fault["reason"]


def test_unknown_action_is_action_not_supported_and_names_it(app):
    result = post(app, envelope(echo_body(), action="urn:ihe:iti:2007:Nope"))
    fault = fault_of(result)
    assert result.status == 400
    assert fault["subcodes"] == ["wsa:ActionNotSupported"]
    assert "urn:ihe:iti:2007:Nope" in fault["reason"]
    assert fault["root"].xpath("string(//wsa:ProblemAction/wsa:Action)",
                               namespaces=NS) == "urn:ihe:iti:2007:Nope"


def test_dispatch_is_by_action_not_by_body_element(make_settings):
    """Two actions with the same body element (as ITI-42 and ITI-57) reach two handlers."""
    from xds_server.soap.message import SoapResponse

    element = qn("urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0", "SubmitObjectsRequest")

    def answer(label):
        return lambda request: SoapResponse(etree.Element(qn(XDSSRV, label)))

    endpoint = SoapEndpoint("registry", [
        Operation("ITI-42", "urn:ihe:iti:2007:RegisterDocumentSet-b", "r42", element,
                  qn(XDSSRV, "A"), answer("A")),
        Operation("ITI-57", "urn:ihe:iti:2010:UpdateDocumentSet", "r57", element,
                  qn(XDSSRV, "B"), answer("B")),
    ], max_request_bytes=1 << 20, spool_dir=None, spool_threshold=1 << 20)
    body = '<lcm:SubmitObjectsRequest xmlns:lcm="urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0"/>'
    for action, expected in (("urn:ihe:iti:2007:RegisterDocumentSet-b", "A"),
                             ("urn:ihe:iti:2010:UpdateDocumentSet", "B")):
        root, _ = parse_reply(post(endpoint, envelope(body, action=action)))
        assert root.find(f".//{{{XDSSRV}}}{expected}") is not None


def test_wrong_body_element_for_action(app):
    fault = fault_of(post(app, envelope("<other xmlns='urn:x'/>")))
    assert fault["subcodes"] == ["xds:WrongBodyElement"]


def test_duplicate_action_header_is_invalid_cardinality(app):
    extra = "<wsa:Action>urn:xds-server:2026:Echo</wsa:Action>"
    fault = fault_of(post(app, envelope(echo_body(), extra_headers=extra)))
    assert fault["subcodes"] == ["wsa:InvalidAddressingHeader", "wsa:InvalidCardinality"]


def test_non_anonymous_reply_to_is_refused(app):
    extra = ("<wsa:ReplyTo><wsa:Address>http://192.0.2.1/callback</wsa:Address>"
             "</wsa:ReplyTo>")
    fault = fault_of(post(app, envelope(echo_body(), extra_headers=extra)))
    assert fault["subcodes"] == ["wsa:InvalidAddressingHeader",
                                 "wsa:OnlyAnonymousAddressSupported"]


def test_ihe_example_headers_are_understood(app):
    """wsa:To and wsa:ReplyTo (anonymous) with mustUnderstand, as in the IHE examples."""
    extra = ('<wsa:ReplyTo><wsa:Address>http://www.w3.org/2005/08/addressing/anonymous'
             '</wsa:Address></wsa:ReplyTo><wsa:To env:mustUnderstand="1">'
             "http://localhost/xds/registry</wsa:To>"
             '<wsse:Security env:mustUnderstand="true" xmlns:wsse="http://docs.oasis-open.org/'
             'wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"/>')
    assert post(app, envelope(echo_body(), extra_headers=extra)).status == 200


# --- mustUnderstand and envelope shape ------------------------------------------------------

def test_must_understand_unknown_header_gives_must_understand_fault(app):
    extra = '<v:Vendor xmlns:v="urn:vendor" env:mustUnderstand="true">x</v:Vendor>'
    result = post(app, envelope(echo_body(), extra_headers=extra))
    fault = fault_of(result)
    assert result.status == 500  # SOAP 1.2 HTTP binding: MustUnderstand is not a Sender fault
    assert fault["code"] == "env:MustUnderstand"
    not_understood = fault["root"].find(".//env:Header/env:NotUnderstood", NS)
    assert not_understood is not None
    prefix, local = not_understood.get("qname").split(":")
    assert local == "Vendor" and not_understood.nsmap[prefix] == "urn:vendor"


@pytest.mark.parametrize("attributes", ['env:mustUnderstand="false"',
                                        'env:mustUnderstand="true" env:role='
                                        '"http://www.w3.org/2003/05/soap-envelope/role/none"'])
def test_unknown_header_not_required_or_not_for_us_is_ignored(app, attributes):
    extra = f'<v:Vendor xmlns:v="urn:vendor" {attributes}>x</v:Vendor>'
    assert post(app, envelope(echo_body(), extra_headers=extra)).status == 200


def test_soap11_envelope_is_version_mismatch(app):
    body = (b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>'
            b"<x/></s:Body></s:Envelope>")
    result = post(app, body, "text/xml")
    assert result.status == 500
    assert fault_of(result)["code"] == "env:VersionMismatch"


@pytest.mark.parametrize("body, subcode", [
    (f'<env:Envelope xmlns:env="{SOAP12}"><env:Header/></env:Envelope>', "xds:InvalidEnvelope"),
    (envelope("").decode(), "xds:EmptyBody"),
    ("<notsoap/>", "xds:NotSoapEnvelope"),
])
def test_envelope_shape_errors(app, body, subcode):
    fault = fault_of(post(app, body.encode()))
    assert fault["subcodes"] == [subcode]


# --- bad input: parsing, size, media type ---------------------------------------------------

def test_malformed_xml_says_where(app):
    broken = envelope(echo_body("<unclosed>"))
    fault = fault_of(result := post(app, broken))
    assert result.status == 400
    assert fault["subcodes"] == ["xds:MalformedXml"]
    assert "line 2, column" in fault["reason"]


@pytest.mark.parametrize("payload", [XXE, BILLION_LAUGHS], ids=["xxe", "billion-laughs"])
def test_dtd_and_entities_refused_without_expansion(app, payload):
    fault = fault_of(result := post(app, payload))
    assert result.status == 400
    assert fault["subcodes"] == ["xds:UnsafeXml"]
    assert b"root:" not in result.body and b"lollol" not in result.body


def test_dtd_refused_in_utf16_too(app):
    text = XXE.decode().replace('<?xml version="1.0"?>', '<?xml version="1.0" encoding="UTF-16"?>')
    fault = fault_of(post(app, text.encode("utf-16")))
    assert fault["subcodes"] == ["xds:UnsafeXml"]


def test_dtd_refused_inside_mtom_root_part(app):
    body, content_type = mtom(XXE, [])
    assert fault_of(post(app, body, content_type))["subcodes"] == ["xds:UnsafeXml"]


class CountingStream(io.RawIOBase):
    """A request body of `size` bytes that counts how much the server reads."""

    def __init__(self, size: int) -> None:
        self.remaining = size
        self.read_total = 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        n = self.remaining if n < 0 else min(n, self.remaining)
        self.remaining -= n
        self.read_total += n
        return b"<" * n


def test_oversized_declared_length_refused_without_reading(app):
    stream = CountingStream(50 * 1024 * 1024)
    result = call_wsgi(app, "POST", "/xds/registry", stream, SOAP_XML,
                       content_length=50 * 1024 * 1024)
    assert result.status == 413
    assert fault_of(result)["subcodes"] == ["xds:RequestTooLarge"]
    assert stream.read_total == 0


def test_oversized_chunked_body_stops_reading_at_the_limit(app):
    stream = CountingStream(50 * 1024 * 1024)
    result = call_wsgi(app, "POST", "/xds/registry", stream, SOAP_XML, content_length=None)
    # a plain SOAP body is all envelope: cut at the lower of the two limits
    assert result.status == 413
    assert fault_of(result)["subcodes"] == [_first_limit(app)[0]]
    assert stream.read_total <= _first_limit(app)[1] + 65536


def _first_limit(app) -> tuple[str, int]:
    settings = app.settings
    if settings.max_envelope_bytes < settings.max_request_bytes:
        return "xds:EnvelopeTooLarge", settings.max_envelope_bytes
    return "xds:RequestTooLarge", settings.max_request_bytes


def test_oversized_mtom_body_stops_reading_and_leaves_no_spool_file(app):
    prefix = b"--b\r\nContent-ID: <r>\r\n\r\n"

    class MimeStream(CountingStream):
        def read(self, n=-1):
            return super().read(n).replace(b"<", b"A")

    stream = MimeStream(50 * 1024 * 1024)
    chained = io.BufferedReader(_Chain(prefix, stream))
    result = call_wsgi(app, "POST", "/xds/registry", chained,
                       'multipart/related; type="application/xop+xml"; boundary=b')
    # the first part is the envelope (no start parameter): cut at the lower limit
    assert result.status == 413
    assert fault_of(result)["subcodes"] == [_first_limit(app)[0]]
    assert stream.read_total <= _first_limit(app)[1] + 2 * 65536
    assert list(app.settings.spool_dir.iterdir()) == []


class _Chain(io.RawIOBase):
    def __init__(self, head: bytes, tail: io.RawIOBase) -> None:
        self.head, self.tail = head, tail

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self.head:
            n = min(len(buffer), len(self.head))
            buffer[:n], self.head = self.head[:n], self.head[n:]
            return n
        data = self.tail.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)


@pytest.mark.parametrize("content_type", ["text/plain", "application/json", ""])
def test_unsupported_media_type(app, content_type):
    result = post(app, envelope(echo_body()), content_type)
    assert result.status == 415
    assert fault_of(result)["subcodes"] == ["xds:UnsupportedMediaType"]


@pytest.mark.parametrize("body, content_type, reason", [
    (b"--b\r\nContent-ID: <r>\r\n\r\n<x/>", 'multipart/related; type="application/xop+xml"; '
     "boundary=b", "missing boundary"),
    (b"no boundary at all", 'multipart/related; type="application/xop+xml"; boundary=b',
     "preamble"),
    (b"--b--\r\n", 'multipart/related; type="application/xop+xml"; boundary=b', "no part"),
    (b"x", 'multipart/related; type="application/xop+xml"', "boundary"),
])
def test_malformed_mime_is_a_sender_fault(app, body, content_type, reason):
    fault = fault_of(post(app, body, content_type))
    assert fault["subcodes"] == ["xds:MalformedMime"]
    assert reason in fault["reason"]


def test_xop_include_to_missing_part(app):
    body, content_type = mtom(envelope(echo_body(binary_element("absent@x"))), [])
    fault = fault_of(post(app, body, content_type))
    assert fault["subcodes"] == ["xds:MissingAttachment"]
    assert "absent@x" in fault["reason"]


def test_bad_inline_base64_names_the_element(app):
    fault = fault_of(post(app, envelope(echo_body("<x:Binary>not*base64</x:Binary>"))))
    assert fault["subcodes"] == ["xds:InvalidBase64"]
    assert "Binary" in fault["reason"]


# --- faults carry a request id; no stack trace on the wire ----------------------------------

def test_fault_request_id_matches_header_and_log(app, caplog):
    with caplog.at_level(logging.INFO, logger="xds_server.soap"):
        result = post(app, envelope(echo_body(), action="urn:x:unknown"))
    fault = fault_of(result)
    assert fault["request_id"] == result.headers["x-request-id"]
    assert any(fault["request_id"] in record.getMessage() for record in caplog.records)


def test_callers_request_id_is_kept(app):
    result = post(app, envelope(echo_body()), headers={"X-Request-Id": "lab-42.7"})
    assert result.headers["x-request-id"] == "lab-42.7"
    evil = post(app, envelope(echo_body()), headers={"X-Request-Id": "a b\r\nX: y"})
    assert evil.headers["x-request-id"] != "a b\r\nX: y"


def test_internal_error_is_receiver_fault_without_stack_trace(caplog):
    def broken(request):
        raise RuntimeError("secret database password in message")

    endpoint = SoapEndpoint("registry", [
        Operation("Echo", "urn:xds-server:2026:Echo", "r", qn(XDSSRV, "Echo"),
                  qn(XDSSRV, "EchoResponse"), broken)],
        max_request_bytes=1 << 20, spool_dir=None, spool_threshold=1 << 20)
    with caplog.at_level(logging.ERROR, logger="xds_server.soap"):
        result = post(endpoint, envelope(echo_body()))
    assert result.status == 500
    fault = fault_of(result)
    assert fault["code"] == "env:Receiver"
    assert fault["request_id"] in fault["reason"]
    for leak in (b"Traceback", b"RuntimeError", b"secret", b".py"):
        assert leak not in result.body
    assert "secret database password" in caplog.text  # the operator sees it, in the log


def test_get_without_wsdl_is_405_and_unknown_path_404(app):
    assert call_wsgi(app, "GET", "/xds/registry").status == 405
    assert call_wsgi(app, "GET", "/nowhere").status == 404


def test_diagnostics_can_be_switched_off(make_settings):
    quiet = create_app(make_settings(diagnostics=False))
    fault = fault_of(post(quiet, envelope(echo_body())))
    assert fault["subcodes"] == ["wsa:ActionNotSupported"]
