"""HTTP pieces of the FHIR front: the request as read (bounded), JSON answers, the base URL,
document bodies handed to the server's sendfile, Range requests."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from ..model.content import Attachment, file_chunks
from ..soap.endpoint import StartResponse, request_id_of, status_line
from ..soap.mime import FileSegment
from .outcome import FhirError, bad_request, issue, operation_outcome
from .texts import check_json, parse_pairs, shown
from .vocabulary import FHIR_JSON

JSON_TYPES = ("application/fhir+json", "application/json")
PATCH_TYPES = ("application/json-patch+json",)
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


@dataclass
class FhirRequest:
    environ: dict[str, Any]
    method: str
    parts: list[str]                 # the path after /fhir, split on /
    query_string: str
    request_id: str
    base: str                        # scheme://host/fhir, for fullUrl and attachment.url
    transaction: str = "unknown"
    extra: dict[str, Any] = field(default_factory=dict)

    def body(self, limit: int, types: tuple[str, ...] = JSON_TYPES, root: str = "Bundle"
             ) -> Any:
        """The JSON body, at most `limit` bytes, of one of `types`, its texts and depth
        checked (fhir/texts.py; `root` names it in the answer); FhirError otherwise."""
        content_type = media_type(self.environ)
        if content_type not in types:
            raise FhirError(415, [issue(f"Content-Type must be {' or '.join(types)}", "",
                                        "not-supported")])
        length_header = self.environ.get("CONTENT_LENGTH") or "0"
        try:
            length = int(length_header)
        except ValueError:
            raise bad_request("Content-Length is not a number") from None
        if length > limit:
            raise FhirError(413, [issue(f"the body is over {limit} bytes "
                                        "(XDS_MAX_REQUEST_BYTES)", "", "too-costly")])
        raw = self.environ["wsgi.input"].read(length) if length else b""
        self.environ[SIZE_KEY] = len(raw)          # the request line's size
        value = parse_json(raw)
        check_json(value, root)
        return value


def media_type(environ: dict[str, Any]) -> str:
    """The body's media type, lower case; 415 naming a charset other than UTF-8 (FHIR JSON and
    forms are UTF-8: a body declared iso-8859-1 was read as UTF-8 all the same, 16e F6)."""
    kind, *params = environ.get("CONTENT_TYPE", "").split(";")
    for param in params:
        name, _, value = param.partition("=")
        charset = value.strip().strip('"').lower()
        if name.strip().lower() == "charset" and charset not in ("utf-8", "utf8"):
            raise FhirError(415, [issue(f"charset '{shown(charset)}' is not served: FHIR "
                                        "bodies are UTF-8", "Content-Type", "not-supported")])
    return kind.strip().lower()


def parse_json(raw: bytes) -> Any:
    """The body as JSON; a nesting past the interpreter's recursion limit (a body of a million
    '[') is a 400 like any malformed body: the C decoder checks its depth as it goes (a
    lesser depth that would still exhaust the validators is check_json's)."""
    try:
        text = raw.decode("utf-8")      # FHIR JSON is UTF-8: json.loads(bytes) also took
    except UnicodeDecodeError as exc:   # UTF-16 and UTF-32 bodies (issue 16 re-test m8)
        raise bad_request(f"the body is not UTF-8 (byte {exc.start})", code="structure") \
            from None
    try:
        return json.loads(text, parse_constant=_no_constant, parse_float=_finite,
                          object_pairs_hook=parse_pairs)
    except (ValueError, RecursionError) as exc:
        raise bad_request(f"the body is not JSON: {str(exc)[:200]}", code="structure") from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")    # Python's json takes NaN, Infinity


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):                        # 1e400: inf, past every decimal
        raise ValueError(f"number {text[:32]} is out of range")
    return value


def base_url(environ: dict[str, Any]) -> str:
    """Never from the caller's Host header: the server's own address (serving/forwarded.py
    sets xds.public_host), as the SOAP endpoints' address is."""
    scheme = environ.get("wsgi.url_scheme", "http")
    host = environ.get("xds.public_host") or (
        f"{environ.get('SERVER_NAME', 'localhost')}:{environ.get('SERVER_PORT', '80')}")
    return f"{scheme}://{host}{environ.get('SCRIPT_NAME', '')}/fhir"


def local_id(reference: str, kind: str, base: str, bare: bool = False) -> str | None:
    """The id a reference names on this server: `Kind/id`, `<this server's base>/Kind/id`, or
    (with `bare`, a search's `patient=id`) `id`; None for another server's resource or another
    kind. Attack stopped (issue 16 re-test m6): `http://evil.example/fhir/DocumentReference/
    <id>` and `patient=http://elsewhere/fhir/Patient/<id>` were read as this server's."""
    if reference.startswith(f"{base}/"):
        reference = reference[len(base) + 1:]
    head, slash, tail = reference.partition("/")
    if slash:
        return tail if head == kind and tail and "/" not in tail else None
    return reference if bare and reference and ":" not in reference else None


def binary_url(base: str, unique_id: str) -> str:
    return f"{base}/Binary/{quote(unique_id, safe='')}"


def _json_bytes(resource: Any) -> bytes:
    """UTF-8 JSON; a text UTF-8 cannot carry (a lone surrogate a client sent, quoted back)
    is written as its JSON escape rather than failing the answer (texts.shown is the rule;
    this is the net under it)."""
    text = json.dumps(resource, ensure_ascii=False, separators=(",", ":"))
    try:
        return text.encode()
    except UnicodeEncodeError:
        return json.dumps(resource, separators=(",", ":")).encode()


def json_answer(start_response: StartResponse, status: int, resource: Any, request_id: str,
                headers: list[tuple[str, str]] = ()) -> list[bytes]:
    body = resource if isinstance(resource, bytes) else _json_bytes(resource)
    start_response(status_line(status), [("Content-Type", f"{FHIR_JSON}; charset=utf-8"),
                                         ("Content-Length", str(len(body))),
                                         ("X-Request-Id", request_id), *headers])
    return [body]


def error_answer(start_response: StartResponse, error: FhirError,
                 request_id: str) -> list[bytes]:
    headers = [("WWW-Authenticate", 'Bearer realm="xds-server"')] if error.status == 401 \
        else []
    headers += error.headers
    return json_answer(start_response, error.status, operation_outcome(error.issues),
                       request_id, headers)


def document_answer(environ: dict[str, Any], start_response: StartResponse,
                    content: Attachment, mime_type: str, request_id: str) -> Any:
    """The document's bytes as they are stored: whole (sendfile through the server when it is
    a file), or the one byte range asked (RFC 9110 §14; several ranges get the whole)."""
    size = content.size
    headers = [("Content-Type", mime_type), ("Accept-Ranges", "bytes"),
               ("X-Request-Id", request_id), ("Cache-Control", "no-store")]
    # This answer carries no validator (no ETag, no Last-Modified), so no If-Range can match
    # one: RFC 9110 §13.1.5, the range is ignored and the whole document sent (a client
    # resuming with a validator of another copy got a 206 of these bytes: issue 16, m12).
    wanted = None if environ.get("HTTP_IF_RANGE") else \
        _range(environ.get("HTTP_RANGE", ""), size)
    if wanted == "unsatisfiable":
        start_response(status_line(416), [("Content-Range", f"bytes */{size}"),
                                          ("Content-Length", "0"), *headers])
        return [b""]
    if isinstance(wanted, tuple):
        first, last = wanted
        start_response(status_line(206), [("Content-Range", f"bytes {first}-{last}/{size}"),
                                          ("Content-Length", str(last - first + 1)), *headers])
        return _slice(content, first, last - first + 1)
    start_response(status_line(200), [("Content-Length", str(size)), *headers])
    if content.path is None:
        return [content.read_bytes()]
    return _whole_file(environ, FileSegment(content.path, size))


def _range(header: str, size: int) -> tuple[int, int] | str | None:
    match = _RANGE.fullmatch(header.strip()) if header else None
    if match is None or (not match.group(1) and not match.group(2)):
        return None
    first, last = match.groups()
    if not first:                          # the last N bytes
        count = int(last)
        if count == 0:
            return "unsatisfiable"
        return max(size - count, 0), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or (last and int(last) < start):
        return "unsatisfiable"
    return start, end


def _slice(content: Attachment, offset: int, length: int) -> Iterator[bytes]:
    if content.path is None:
        yield content.read_bytes()[offset:offset + length]
        return
    with open(content.path, "rb") as handle:
        handle.seek(offset)
        while length > 0:
            block = handle.read(min(length, 1 << 20))
            if not block:
                return
            length -= len(block)
            yield block


def _whole_file(environ: dict[str, Any], segment: FileSegment) -> Iterator[bytes]:
    """The project's worker takes the file itself (sendfile from its event loop); elsewhere
    it is read in large blocks."""
    send = environ.get("xds.send_file")
    if send is not None:
        send(segment)
        return
    yield from file_chunks(segment.path)


SIZE_KEY = "xds.request_size"       # the body's bytes read, for the request's log line

def new_request(environ: dict[str, Any]) -> FhirRequest:
    path = environ.get("PATH_INFO", "/")
    parts = [p for p in path[len("/fhir"):].split("/") if p]
    return FhirRequest(environ, environ.get("REQUEST_METHOD", "GET"), parts,
                       environ.get("QUERY_STRING", ""), request_id_of(environ),
                       base_url(environ))
