"""A SOAP 1.2 client for any XDS.b endpoint (ours or another vendor's): WS-Addressing and MTOM.

It shares the wire codec with the server (soap/), never the server's internals, so what the tests
send is what an integrator's stack sends: real HTTP, real multipart framing.
"""

from __future__ import annotations

import copy
import http.client
import ssl
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from lxml import etree

from ..soap.attachments import Attachment, decode_base64_text
from ..soap.envelope import build_envelope, new_message_id
from ..soap.faults import SoapFault
from ..soap.message import (
    EncodedMessage,
    encode_envelope,
    externalize_binaries,
    read_message,
    resolve_include,
)
from ..soap.namespaces import SOAP12, WSA, WSA_ANONYMOUS, XDSSRV, XOP, qn

_INCLUDE = qn(XOP, "Include")


class TransportError(Exception):
    """The peer could not be reached, or what it answered is not a SOAP 1.2 message."""


@dataclass
class FaultInfo:
    code: str
    subcodes: list[str]
    reason: str
    request_id: str | None


@dataclass
class SoapReply:
    status: int
    headers: dict[str, str]
    envelope: etree._Element
    attachments: dict[str, Attachment] = field(default_factory=dict)
    mtom: bool = False

    @property
    def body(self) -> etree._Element:
        body = self.envelope.find(qn(SOAP12, "Body"))
        if body is None:
            raise TransportError("reply has no env:Body")
        return body

    @property
    def payload(self) -> etree._Element | None:
        children = [c for c in self.body if isinstance(c.tag, str)]
        return children[0] if children else None

    def header(self, local: str, namespace: str = WSA) -> str | None:
        element = self.envelope.find(f"{qn(SOAP12, 'Header')}/{qn(namespace, local)}")
        return None if element is None else (element.text or "").strip()

    @property
    def fault(self) -> FaultInfo | None:
        fault = self.body.find(qn(SOAP12, "Fault"))
        if fault is None:
            return None
        values = [v.text or "" for v in fault.iter(qn(SOAP12, "Value"))]
        reason = fault.findtext(f"{qn(SOAP12, 'Reason')}/{qn(SOAP12, 'Text')}") or ""
        request_id = fault.findtext(f"{qn(SOAP12, 'Detail')}/{qn(XDSSRV, 'RequestId')}")
        return FaultInfo(values[0] if values else "", values[1:], reason, request_id)

    def binary(self, element: etree._Element) -> bytes:
        include = element.find(_INCLUDE)
        if include is None:
            return decode_base64_text(element.text)
        return resolve_include(include, self.attachments).read_bytes()

    def close(self) -> None:
        for attachment in self.attachments.values():
            attachment.close()


def encode_request(url: str, action: str, payload: etree._Element, *,
                   binaries: Iterable[tuple[etree._Element, Attachment]] = (), mtom: bool = True,
                   extra_headers: Iterable[etree._Element] = (),
                   message_id: str | None = None) -> EncodedMessage:
    """A SOAP 1.2 request with WS-Addressing headers, plain or MTOM."""
    parts = externalize_binaries(list(binaries), mtom)
    envelope = build_envelope(payload, action=action, message_id=message_id or new_message_id(),
                              to=url, reply_to=WSA_ANONYMOUS)
    header = envelope.find(qn(SOAP12, "Header"))
    for extra in extra_headers:
        header.append(extra)
    xml = etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")
    return encode_envelope(xml, action, parts)


def decode_reply(status: int, headers: dict[str, str], stream, content_type: str, *,
                 spool_dir: Path | None = None, spool_threshold: int = 8 * 1024 * 1024
                 ) -> SoapReply:
    try:
        raw = read_message(stream, content_type, spool_dir=spool_dir,
                           spool_threshold=spool_threshold)
    except SoapFault as exc:
        raise TransportError(f"HTTP {status}: reply is not a usable SOAP message: "
                             f"{exc.reason}") from None
    return SoapReply(status, headers, raw.root, raw.attachments, raw.mtom)


class SoapClient:
    """Sends one SOAP 1.2 request per call over HTTP(S) and decodes the reply."""

    def __init__(self, url: str, *, timeout: float = 120.0, spool_dir: Path | None = None,
                 spool_threshold: int = 8 * 1024 * 1024,
                 ssl_context: ssl.SSLContext | None = None,
                 security_headers: Sequence[etree._Element] = ()) -> None:
        """`ssl_context` for https (the server verified, a client certificate for mutual
        TLS: serving/tls.client_context); `security_headers` go in every request (a VIHF's
        wsse:Security block)."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        self.url = url
        self._parts = parts
        self._timeout = timeout
        self._spool_dir = spool_dir
        self._spool_threshold = spool_threshold
        self._ssl_context = ssl_context
        self._security_headers = list(security_headers)

    def _connection(self) -> http.client.HTTPConnection:
        host, port = self._parts.hostname or "", self._parts.port
        if self._parts.scheme == "https":
            return http.client.HTTPSConnection(host, port, timeout=self._timeout,
                                               context=self._ssl_context)
        return http.client.HTTPConnection(host, port, timeout=self._timeout)

    def call(self, action: str, payload: etree._Element, *,
             binaries: Iterable[tuple[etree._Element, Attachment]] = (), mtom: bool = True,
             extra_headers: Iterable[etree._Element] = (),
             message_id: str | None = None) -> SoapReply:
        """Send `payload` under `action`; binaries go as MTOM parts (or inline base64)."""
        headers = [copy.deepcopy(h) for h in self._security_headers] + list(extra_headers)
        encoded = encode_request(self.url, action, payload, binaries=binaries, mtom=mtom,
                                 extra_headers=headers, message_id=message_id)
        return self.send_raw(encoded.content_type, encoded.chunks, encoded.length)

    def send_raw(self, content_type: str, body: Iterable[bytes] | bytes,
                 length: int | None = None) -> SoapReply:
        """POST an already-encoded message (tests use this for hand-made bad requests)."""
        connection = self._connection()
        headers = {"Content-Type": content_type}
        if isinstance(body, bytes):
            length = len(body)
        if length is not None:
            headers["Content-Length"] = str(length)
        path = self._parts.path or "/"
        if self._parts.query:
            path += "?" + self._parts.query
        try:
            connection.request("POST", path, body=body, headers=headers)
            response = connection.getresponse()
            return decode_reply(response.status,
                                {k.lower(): v for k, v in response.getheaders()}, response,
                                response.getheader("Content-Type", ""),
                                spool_dir=self._spool_dir,
                                spool_threshold=self._spool_threshold)
        except OSError as exc:
            raise TransportError(f"cannot reach {self.url}: {exc}") from exc
        finally:
            connection.close()
