"""The /fhir front as a WSGI application: routes, authentication, one log line, metrics and
errors as OperationOutcome for every call; the transactions themselves are reading.py,
provide.py and updates.py over the same actors as the SOAP front.

| method and path | transaction |
|---|---|
| GET /fhir/metadata | CapabilityStatement (capability.py) |
| GET /fhir/DocumentReference?…, POST /fhir/DocumentReference/_search | ITI-67 |
| GET /fhir/DocumentReference/{id} | read (GetDocuments) |
| PATCH /fhir/DocumentReference/{id} or ?identifier=… | ITI-57 (PDSM4DMP TD3.3) |
| GET /fhir/List?…, POST /fhir/List/_search | ITI-66 |
| GET /fhir/List/{id} | read |
| GET /fhir/Binary/{uniqueId} | ITI-68 |
| POST /fhir (a transaction Bundle) | ITI-65 |
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl, quote_from_bytes, unquote

from ..model.errors import STORAGE_FULL, RegistryFailure, is_disk_full
from ..security.principal import SYSTEM, Principal
from ..soap.endpoint import StartResponse, client_certificate
from .bearer import Authenticator
from .capability import capability_statement
from .http import (
    PATCH_TYPES,
    SIZE_KEY,
    FhirRequest,
    document_answer,
    error_answer,
    json_answer,
    media_type,
    new_request,
)
from .outcome import FhirError, bad_request, from_registry, issue
from .provide import Provider
from .reading import Reader
from .search import MAX_QUERY_BYTES
from .texts import check_text
from .updates import Updater

log = logging.getLogger("xds_server.fhir")
Observer = Callable[[str, str, str, float], None]
NAME = "fhir"               # the front, in logs and metrics
ENDPOINT = "mhd"            # its endpoint (docs/monitoring.md)
# a form's ASCII as it is (its own %XX, & = + included); any other byte percent-encoded
_FORM_ASCII = bytes(range(0x21, 0x7F)).decode("ascii")


class FhirFront:
    def __init__(self, reader: Reader, provider: Provider, updater: Updater,
                 authenticate: Authenticator | None, max_request_bytes: int,
                 observer: Observer | None = None) -> None:
        self.reader = reader
        self.provider = provider
        self.updater = updater
        self.authenticate = authenticate
        self.max_request_bytes = max_request_bytes
        self.observer = observer

    def __call__(self, environ: dict[str, Any], start_response: StartResponse
                 ) -> Iterable[bytes]:
        started = time.perf_counter()
        request = new_request(environ)
        sent: dict[str, int] = {}

        def recording(status: str, headers: list[tuple[str, str]], *rest: Any) -> Any:
            sent["status"] = int(status.split()[0])     # what is logged and counted: the
            return start_response(status, headers, *rest)  # status sent (a 416, a 200 whole)

        if request.method == "HEAD":    # GET's answer; the server sends its head only
            request.method = "GET"      # (serving/writing.py), with GET's Content-Length
        try:
            answer = self._route(request, recording)
            status = sent.get("status", 200)
            outcome = "success" if status < 400 else "failure"
        except FhirError as error:
            answer = error_answer(recording, error, request.request_id)
            outcome, status = "failure", error.status
            log.log(logging.WARNING if status < 500 else logging.ERROR,
                    "request_id=%s endpoint=%s transaction=%s status=%d issues=%s",
                    request.request_id, ENDPOINT, request.transaction, status, str(error)[:500],
                    extra={"xds": {"request_id": request.request_id, "front": NAME,
                                   "endpoint": ENDPOINT, "transaction": request.transaction,
                                   "issues": str(error)[:500]}})
        except Exception as exc:
            if is_disk_full(exc):     # a Binary or the audit filled the disk: not a bug
                log.error("request_id=%s endpoint=%s transaction=%s storage full: %s: writes "
                          "are refused until space is freed", request.request_id, ENDPOINT,
                          request.transaction, exc)
                error = FhirError(507, [issue(STORAGE_FULL, "", "transient")])
            else:
                log.exception("request_id=%s endpoint=%s transaction=%s unexpected error",
                              request.request_id, ENDPOINT, request.transaction)
                error = FhirError(500, [issue(f"internal error; quote request id "
                                              f"{request.request_id} to the operator", "",
                                              "exception")])
            answer = error_answer(recording, error, request.request_id)
            outcome, status = "failure", 500
        elapsed = time.perf_counter() - started
        caller = request.extra.get("caller", "-")
        size = environ.get(SIZE_KEY, 0)     # the body's bytes read (monitoring.md: every line)
        log.info("request_id=%s endpoint=%s transaction=%s outcome=%s status=%d size=%d "
                 "ms=%.1f caller=%s", request.request_id, ENDPOINT, request.transaction,
                 outcome, status, size, elapsed * 1000, caller,
                 extra={"xds": {"request_id": request.request_id, "front": NAME,
                                "endpoint": ENDPOINT, "transaction": request.transaction,
                                "caller": caller, "client": environ.get("REMOTE_ADDR", ""),
                                "outcome": outcome, "status": status, "size": size,
                                "duration_ms": round(elapsed * 1000, 3)}})
        if self.observer is not None:
            self.observer(ENDPOINT, request.transaction, outcome, elapsed)
        return answer

    def _caller(self, request: FhirRequest, transaction: str) -> Principal:
        """The caller, carrying what the audit trail records (the front named by the
        endpoint, /fhir/…, and the IHE transaction)."""
        request.transaction = transaction
        environ = request.environ
        principal = SYSTEM if self.authenticate is None else \
            self.authenticate(environ, transaction)
        subject, serial = client_certificate(environ)
        request.extra["caller"] = principal.subject_id if not principal.is_system else \
            (subject or "-")
        return dataclasses.replace(
            principal, request_id=request.request_id, transaction=transaction,
            client_address=environ.get("REMOTE_ADDR", ""),
            endpoint=f"{request.base}/{'/'.join(request.parts)}",
            client_subject=subject, client_serial=serial)

    def _route(self, request: FhirRequest, start_response: StartResponse) -> Iterable[bytes]:
        method, parts = request.method, request.parts
        rid = request.request_id
        kind = parts[0] if parts else ""
        for part in parts:
            check_text(unquote(part), "url")
        if kind != "Binary":
            check_format(request)
        try:
            if method == "GET" and parts == ["metadata"]:
                request.transaction = "metadata"
                return json_answer(start_response, 200, capability_statement(request.base),
                                   rid)
            if method == "POST" and not parts:
                principal = self._caller(request, "ITI-65")
                result = self.provider.provide(request.body(self.max_request_bytes),
                                               principal, request.base)
                return json_answer(start_response, 200, result, rid)
            if kind in ("DocumentReference", "List") and len(parts) <= 2:
                return self._resource(request, start_response, kind, parts[1:])
            if method == "GET" and kind == "Binary" and len(parts) == 2:
                if request.query_string:     # none is served: refused, not ignored (m6)
                    raise bad_request("a Binary read takes no parameter", "")
                principal = self._caller(request, "ITI-68")
                content, mime_type = self.reader.retrieve(principal, parts[1])
                return document_answer(request.environ, start_response, content, mime_type,
                                       rid)
        except RegistryFailure as failure:
            raise from_registry(failure.errors) from None
        raise not_served(method, parts)

    def _resource(self, request: FhirRequest, start_response: StartResponse, kind: str,
                  rest: list[str]) -> Iterable[bytes]:
        method, rid = request.method, request.request_id
        search = "ITI-67" if kind == "DocumentReference" else "ITI-66"
        if rest == ["_search"] and method == "POST":    # MHD: a search may be a POST
            request.query_string = _form(request, self.max_request_bytes)
            method, rest = "GET", []
        if method == "GET" and not rest:
            principal = self._caller(request, search)
            found = self.reader.find_documents(request, principal) \
                if kind == "DocumentReference" else self.reader.find_lists(request, principal)
            return json_answer(start_response, 200, found, rid)
        if method == "GET":
            principal = self._caller(request, "read" if kind == "DocumentReference"
                                     else "read List")
            return json_answer(start_response, 200,
                               self.reader.read(request, principal, kind, rest[0]), rid)
        if method == "PATCH" and kind == "DocumentReference":
            principal = self._caller(request, "ITI-57")
            patch = request.body(self.max_request_bytes, PATCH_TYPES, "patch")
            updated = self.updater.patch(request, principal, rest[0] if rest else None, patch)
            return json_answer(start_response, 200, updated, rid)
        raise not_served(method, [kind, *rest])


JSON_FORMATS = ("json", "application/json", "application/fhir+json")
_ACCEPTED = ("*/*", "application/*", "application/json", "application/fhir+json")


def check_format(request: FhirRequest) -> None:
    """JSON is the only format served: a _format or an Accept asking for another (XML, Turtle)
    is a 406 (FHIR http §3.1.0.1.7), not a JSON answer the client did not ask for."""
    asked = [v for k, v in parse_qsl(request.query_string) if k == "_format"]
    if any(value.split(";")[0].strip() not in JSON_FORMATS for value in asked):
        raise FhirError(406, [issue("_format: only JSON is served (json, application/fhir+json)",
                                    "_format", "not-supported")])
    accept = request.environ.get("HTTP_ACCEPT", "")
    types = [t.split(";")[0].strip().lower() for t in accept.split(",") if t.strip()]
    if types and not any(t in _ACCEPTED and _r4(v) for t, v in zip(
            types, [t for t in accept.split(",") if t.strip()], strict=True)):
        raise FhirError(406, [issue(f"Accept: only application/fhir+json, FHIR "
                                    f"{FHIR_VERSION}, is served", "", "not-supported")])


FHIR_VERSION = "4.0"        # the capability statement's fhirVersion, 4.0.1


def _r4(media_type: str) -> bool:
    """No fhirVersion parameter, or one naming R4 (FHIR http §3.1.0.1.8: a client asking
    fhirVersion=5.0 got an R4 answer; issue 16 re-test m6)."""
    for parameter in media_type.split(";")[1:]:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "fhirversion" and \
                not value.strip().strip('"').startswith(FHIR_VERSION):
            return False
    return True


def allowed_methods(parts: list[str]) -> tuple[str, ...]:
    """The methods served at a path (empty: no resource there)."""
    kind, rest = (parts[0], parts[1:]) if parts else ("", [])
    if not parts:
        return ("POST",)
    if parts == ["metadata"] or (kind == "Binary" and len(rest) == 1):
        return ("GET", "HEAD")
    if kind in ("DocumentReference", "List") and rest == ["_search"]:
        return ("POST",)
    if kind == "DocumentReference" and len(rest) <= 1:
        return ("GET", "HEAD", "PATCH")
    if kind == "List" and len(rest) <= 1:
        return ("GET", "HEAD")
    return ()


def not_served(method: str, parts: list[str]) -> FhirError:
    """404 where nothing is served, else 405 with the Allow header (RFC 9110 §15.5.6)."""
    allowed = allowed_methods(parts)
    text = f"{method} /fhir/{'/'.join(parts)} is not served (see /fhir/metadata)"
    if not allowed:
        return FhirError(404, [issue(text, "", "not-supported")])
    return FhirError(405, [issue(f"{text}; allowed: {', '.join(allowed)}", "",
                                 "not-supported")], [("Allow", ", ".join(allowed))])


def _form(request: FhirRequest, limit: int) -> str:
    """The parameters of a POST _search (application/x-www-form-urlencoded), with the URL's."""
    environ = request.environ
    if media_type(environ) != "application/x-www-form-urlencoded":
        raise FhirError(415, [issue("POST _search takes application/x-www-form-urlencoded",
                                    "", "not-supported")])
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise FhirError(400, [issue("Content-Length is not a number", "", "invalid")]) from None
    if length > min(limit, MAX_QUERY_BYTES):       # a body: 413 (414 is for the URI)
        raise FhirError(413, [issue(f"the search is over {MAX_QUERY_BYTES} bytes", "",
                                    "too-costly")])
    raw = environ["wsgi.input"].read(length)
    environ[SIZE_KEY] = len(raw)
    try:        # a raw byte is UTF-8 or refused, as %FF is; kept percent-encoded (16e F6)
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FhirError(400, [issue(f"the form is not UTF-8 (byte {exc.start})", "",
                                    "invalid")]) from None
    body = quote_from_bytes(raw, safe=_FORM_ASCII)
    return "&".join(filter(None, (request.query_string, body)))
