"""One SOAP 1.2 endpoint as a WSGI application, dispatching on wsa:Action through a table.

Every request gets a request id (from `X-Request-Id` when the caller sends a sane one), which is
logged with the outcome and carried by every fault, so an integrator can quote it to an operator.
No exception text or stack trace ever reaches the wire: unexpected errors are logged here and
answered with a Receiver fault that carries only the request id.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from ..model.errors import STORAGE_FULL, is_disk_full
from ..model.ids import random_hex
from .envelope import new_message_id
from .faults import RECEIVER, SENDER, SoapFault, fault_envelope, problem_action_detail, sender
from .message import (
    EncodedMessage,
    ResponseLimits,
    SoapRequest,
    SoapResponse,
    encode_response,
    read_request,
)
from .mime import MAX_PARTS
from .namespaces import WSA
from .response_body import ResponseBody, kernel_file_sender

if TYPE_CHECKING:
    from .wsdl import ServedSchemas

log = logging.getLogger("xds_server.soap")

Handler = Callable[[SoapRequest], SoapResponse]
Observer = Callable[[str, str, str, float], None]
StartResponse = Callable[..., Any]

_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")



def status_line(code: int) -> str:
    return f"{code} {HTTPStatus(code).phrase}"


def request_id_of(environ: dict[str, Any]) -> str:
    """The caller's X-Request-Id when it is a short token, else a fresh one; kept in environ."""
    existing = environ.get("xds.request_id")
    if existing:
        return existing
    offered = environ.get("HTTP_X_REQUEST_ID", "")
    request_id = offered if _REQUEST_ID.fullmatch(offered) else random_hex()
    environ["xds.request_id"] = request_id
    return request_id


@dataclass(frozen=True)
class Operation:
    """One row of an endpoint's dispatch table."""

    name: str               # short name for logs and metrics, e.g. "ITI-18"
    action: str             # request wsa:Action
    response_action: str
    request_element: str    # Clark QName of the body element the action requires
    response_element: str
    handler: Handler
    wsdl_name: str = ""     # WSDL operation name, e.g. "DocumentRegistry_RegistryStoredQuery"


class BoundedInput:
    """wsgi.input that refuses to deliver more than `limit` bytes (chunked bodies included)."""

    def __init__(self, stream: Any, content_length: int | None, limit: int) -> None:
        self._stream = stream
        self._remaining = content_length
        self._limit = limit
        self.consumed = 0

    def read(self, size: int = -1) -> bytes:
        if self._remaining is not None:
            if self._remaining <= 0:
                return b""
            size = self._remaining if size < 0 else min(size, self._remaining)
        elif size < 0:
            chunks = []
            while block := self.read(65536):
                chunks.append(block)
            return b"".join(chunks)
        data = self._stream.read(size)
        self.consumed += len(data)
        if self._remaining is not None:
            self._remaining -= len(data)
        if self.consumed > self._limit:
            raise _too_large(self._limit)
        return data


def _too_large(limit: int) -> SoapFault:
    return sender(f"request body exceeds the maximum of {limit} bytes (XDS_MAX_REQUEST_BYTES)",
                  "RequestTooLarge", http_status=413)


class SoapEndpoint:
    """WSGI app for one endpoint path (e.g. /xds/registry)."""

    def __init__(self, name: str, operations: Iterable[Operation], *, max_request_bytes: int,
                 spool_dir: Path | None, spool_threshold: int, max_part_bytes: int | None = None,
                 wsdl: Callable[[str, list[Operation]], bytes] | None = None,
                 observer: Observer | None = None,
                 authenticate: Callable[[SoapRequest], Any] | None = None,
                 max_envelope_bytes: int | None = None,
                 max_response_bytes: int | None = None,
                 max_mime_parts: int = MAX_PARTS,
                 schemas: ServedSchemas | None = None) -> None:
        """`authenticate` turns a request into its caller (security/, e.g. VIHF) or raises a
        SoapFault; it runs before any operation, and what it returns is `request.principal`."""
        self.name = name
        self.operations = {op.action: op for op in operations}
        self.max_request_bytes = max_request_bytes
        self.spool_dir = spool_dir
        self.spool_threshold = spool_threshold
        self.max_part_bytes = max_part_bytes
        self._wsdl = wsdl
        self._schemas = schemas         # served as ?xsd=NAME beside the WSDL that imports them
        self._observer = observer
        self._authenticate = authenticate
        self.max_envelope_bytes = max_envelope_bytes
        self.max_mime_parts = max_mime_parts
        self.response_limits = None if max_envelope_bytes is None else ResponseLimits(
            max_envelope_bytes, max_response_bytes or 1 << 62, max_mime_parts)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        request_id = request_id_of(environ)
        method = environ.get("REQUEST_METHOD", "GET")
        query = environ.get("QUERY_STRING", "")
        if method == "GET" and query.lower() in ("wsdl", "wsdl="):
            return self._serve_wsdl(environ, start_response, request_id)
        if method == "GET" and query.startswith("xsd="):
            return self._serve_schema(unquote(query[4:]), start_response, request_id)
        if method != "POST":
            body = (f"{self.name} is a SOAP 1.2 endpoint: POST a SOAP message, or GET ?wsdl\n"
                    ).encode()
            start_response(status_line(405), [("Content-Type", "text/plain; charset=utf-8"),
                                              ("Allow", "POST, GET"),
                                              ("Content-Length", str(len(body))),
                                              ("X-Request-Id", request_id)])
            return [body]
        return self._handle_post(environ, start_response, request_id)

    def _serve_wsdl(self, environ: dict[str, Any], start_response: StartResponse,
                    request_id: str) -> list[bytes]:
        if self._wsdl is None:
            start_response(status_line(405), [("Content-Length", "0")])
            return [b""]
        body = self._wsdl(endpoint_url(environ), list(self.operations.values()))
        start_response("200 OK", [("Content-Type", "text/xml; charset=utf-8"),
                                  ("Content-Length", str(len(body))),
                                  ("X-Request-Id", request_id)])
        return [body]

    def _serve_schema(self, name: str, start_response: StartResponse,
                      request_id: str) -> list[bytes]:
        """One schema of the WSDL's set, by its exact name; any other name is a 404 that lists
        the set (the name is looked up, never joined to a path)."""
        body = self._schemas.get(name) if self._schemas is not None else None
        status = 200
        content_type = "text/xml; charset=utf-8"
        if body is None:
            names = ", ".join(self._schemas.names) if self._schemas is not None else "none"
            body = f"{self.name} serves no schema by that name (served: {names})\n".encode()
            status, content_type = 404, "text/plain; charset=utf-8"
        start_response(status_line(status), [("Content-Type", content_type),
                                             ("Content-Length", str(len(body))),
                                             ("X-Request-Id", request_id)])
        return [body]

    def _handle_post(self, environ: dict[str, Any], start_response: StartResponse,
                     request_id: str) -> Iterable[bytes]:
        started = time.perf_counter()
        operation_name = "unknown"
        relates_to: str | None = None
        request: SoapRequest | None = None
        stream: BoundedInput | None = None
        content_length: int | None = None
        try:
            length_header = environ.get("CONTENT_LENGTH") or ""
            content_length = int(length_header) if length_header.strip() else None
            if content_length is not None and content_length > self.max_request_bytes:
                raise _too_large(self.max_request_bytes)
            stream = BoundedInput(environ["wsgi.input"], content_length, self.max_request_bytes)
            request = read_request(stream, environ.get("CONTENT_TYPE", ""), request_id,
                                   spool_dir=self.spool_dir,
                                   spool_threshold=self.spool_threshold,
                                   max_part_bytes=self.max_part_bytes,
                                   max_envelope_bytes=self.max_envelope_bytes,
                                   max_parts=self.max_mime_parts)
            relates_to = request.addressing.message_id
            request.client_subject, request.client_serial = client_certificate(environ)
            operation = self._operation_for(request)
            operation_name = operation.name
            request.transaction = operation.name
            request.client_address = environ.get("REMOTE_ADDR", "")
            request.endpoint = endpoint_url(environ)
            if self._authenticate is not None:
                request.principal = self._authenticate(request)
            response = operation.handler(request)
            encoded = encode_response(response, response.action or operation.response_action,
                                      relates_to, request.mtom, self.response_limits)
            outcome = response.outcome
            status = 200
        except SoapFault as fault:
            encoded, status, outcome = self._fault(fault, request_id, relates_to, operation_name)
        except Exception as exc:
            if is_disk_full(exc):     # the spool or a write filled the disk: not a bug
                log.error("request_id=%s endpoint=%s transaction=%s storage full: %s: writes "
                          "are refused until space is freed", request_id, self.name,
                          operation_name, exc)
                fault = SoapFault(RECEIVER, STORAGE_FULL, subcodes=())
            else:
                log.exception("request_id=%s endpoint=%s transaction=%s unexpected error",
                              request_id, self.name, operation_name)
                fault = SoapFault(RECEIVER, f"internal error; quote request id {request_id} to "
                                            "the operator", subcodes=())
            encoded, status, outcome = self._fault(fault, request_id, relates_to, operation_name)
        elapsed = time.perf_counter() - started
        caller = caller_of(request)
        # the bytes the client sent and the server read, also when the request was refused
        # before it was parsed (not the Content-Length it declared: a 413 logged
        # size=999999999 for a 1-byte body)
        size = request.size if request is not None else \
            stream.consumed if stream is not None else 0
        client = environ.get("REMOTE_ADDR", "")     # a field of the JSON form only
        log.info("request_id=%s endpoint=%s transaction=%s outcome=%s status=%d size=%d "
                 "ms=%.1f caller=%s", request_id, self.name, operation_name, outcome,
                 status, size, elapsed * 1000, caller,
                 extra={"xds": {"request_id": request_id, "front": "soap",
                                "endpoint": self.name, "transaction": operation_name,
                                "caller": caller, "client": client, "outcome": outcome,
                                "status": status, "size": size,
                                "duration_ms": round(elapsed * 1000, 3)}})
        if self._observer is not None:
            self._observer(self.name, operation_name, outcome, elapsed)
        start_response(status_line(status), [("Content-Type", encoded.content_type),
                                             ("Content-Length", str(encoded.length)),
                                             ("X-Request-Id", request_id)])
        return ResponseBody(encoded.segments, _closer(request), kernel_file_sender(environ))

    def _operation_for(self, request: SoapRequest) -> Operation:
        action = request.addressing.action
        operation = self.operations.get(action)
        if operation is None:
            supported = ", ".join(sorted(self.operations)) or "none"
            raise SoapFault(SENDER, f"action {action!r} is not supported by {self.name} "
                                    f"(supported: {supported})",
                            subcodes=((WSA, "ActionNotSupported"),),
                            detail=[problem_action_detail(action)], addressing_fault=True)
        if request.payload.tag != operation.request_element:
            raise sender(f"action {action} expects body element {operation.request_element}, "
                         f"got {request.payload.tag}", "WrongBodyElement")
        return operation

    def _fault(self, fault: SoapFault, request_id: str, relates_to: str | None,
               operation_name: str) -> tuple[EncodedMessage, int, str]:
        log.log(fault_level(fault), "request_id=%s endpoint=%s transaction=%s fault=%s "
                "subcode=%s reason=%s", request_id, self.name, operation_name, fault.code,
                fault.subcode_text, fault.reason,
                extra={"xds": {"request_id": request_id, "front": "soap",
                               "endpoint": self.name, "transaction": operation_name,
                               "fault": fault.code, "subcode": fault.subcode_text}})
        xml = fault_envelope(fault, request_id, relates_to, new_message_id())
        content_type = "application/soap+xml; charset=UTF-8"
        return EncodedMessage(content_type, len(xml), [xml]), fault.status, outcome_of(fault)


def outcome_of(fault: SoapFault) -> str:
    """The metrics' outcome: `fault:` and the innermost fault code, always `prefix:local`
    (a fault without a subcode, VersionMismatch or Receiver, is `env:` its code), so one
    pattern splits every value (it was `fault:VersionMismatch` beside `fault:xds:…`)."""
    return f"fault:{fault.subcode_text}" if fault.subcodes else f"fault:env:{fault.code}"


def fault_level(fault: SoapFault) -> int:
    """ERROR for the server's own failures (Receiver), WARNING for every fault the caller
    caused: Sender, and VersionMismatch (a SOAP 1.1 message) or MustUnderstand, which SOAP 1.2
    answers with HTTP 500 although the request is what is wrong. An operator's ERROR lines are
    then the server's problems only."""
    return logging.ERROR if fault.code == RECEIVER else logging.WARNING


def caller_of(request: SoapRequest | None) -> str:
    """Who called, for the log: the authenticated subject, else the TLS client's subject,
    else '-' (the address is logged beside it)."""
    if request is None:
        return "-"
    subject = getattr(request.principal, "subject_id", "") or request.client_subject
    return subject or "-"


def client_certificate(environ: dict[str, Any]) -> tuple[str, str]:
    """(subject, serial) of the client certificate the TLS handshake verified, else ("", "").
    Set by the server (mod_ssl's names), never from a request header (those are HTTP_*)."""
    if environ.get("SSL_CLIENT_VERIFY") != "SUCCESS":
        return "", ""
    return environ.get("SSL_CLIENT_S_DN", ""), environ.get("SSL_CLIENT_M_SERIAL", "")


def endpoint_url(environ: dict[str, Any]) -> str:
    """The URL of this endpoint for the WSDL's soap12:address and the audit trail. Never from
    the caller's Host or X-Forwarded-* headers, which are the caller's to write: the server
    sets `xds.public_host` (the socket's address, or what a trusted proxy forwarded; see
    serving/forwarded.py) and `wsgi.url_scheme`; elsewhere SERVER_NAME and SERVER_PORT."""
    scheme = environ.get("wsgi.url_scheme", "http")
    host = environ.get("xds.public_host") or (
        f"{environ.get('SERVER_NAME', 'localhost')}:{environ.get('SERVER_PORT', '80')}")
    return f"{scheme}://{host}{environ.get('SCRIPT_NAME', '')}{environ.get('PATH_INFO', '')}"


def _closer(request: SoapRequest | None) -> Callable[[], None] | None:
    """What the server calls once the answer is sent: the request's attachments closed. It
    holds the attachments only, not the request: a slow reader of the answer must not keep the
    request's parsed tree alive (a 15 MB Echo kept 15 MB more per connection)."""
    if request is None:
        return None
    attachments = list(request.attachments.values())

    def close() -> None:
        for attachment in attachments:
            attachment.close()

    return close
