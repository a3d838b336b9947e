"""Requests and responses as the operations see them, and their wire encoding (plain or MTOM).

Binary content stays outside the XML tree: a request's `binary(element)` resolves an
`xop:Include` to its attachment (or decodes inline base64); a response's `set_binary` marks an
element whose content is written as an MTOM part or, for a plain request, as base64 text.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import unquote

from lxml import etree

from ..model.ids import random_hex
from .attachments import Attachment, decode_base64_text
from .envelope import Addressing, Envelope, read_envelope, reply_envelope
from .faults import SoapFault, sender
from .mime import (
    MAX_PARTS,
    MimeError,
    MultipartBody,
    MultipartReader,
    PartTooLarge,
    RootPartTooLarge,
    Segment,
    TooManyParts,
    expand_segments,
    parse_header_value,
    write_multipart,
)
from .namespaces import XOP, qn
from .xmlparse import parse_soap_xml

SOAP_XML = "application/soap+xml"
XOP_XML = "application/xop+xml"
ACCEPTED_TYPES = (SOAP_XML, "text/xml", "application/xml")
_INCLUDE = qn(XOP, "Include")
_INCLUDE_START = f'<xop:Include xmlns:xop="{XOP}" href="cid:'.encode("ascii")


@dataclass
class SoapRequest:
    """A decoded request: the payload element, its addressing, its attachments by content id."""

    envelope: Envelope
    attachments: dict[str, Attachment]
    mtom: bool
    request_id: str
    size: int = 0
    principal: Any = None       # who is calling, set by the endpoint's authenticator
    transaction: str = ""       # the operation's name (ITI-18, …), set by the endpoint
    # the calling system's TLS client certificate as the server verified it ("" without one)
    client_subject: str = ""
    client_serial: str = ""
    client_address: str = ""    # the peer's address (REMOTE_ADDR), set by the endpoint
    endpoint: str = ""          # the URL called, set by the endpoint (for the audit trail)
    lost: dict[str, OSError] = field(default_factory=dict)  # parts a full disk dropped

    @property
    def payload(self) -> etree._Element:
        return self.envelope.payload

    @property
    def addressing(self) -> Addressing:
        return self.envelope.addressing

    def binary(self, element: etree._Element) -> Attachment:
        """The bytes carried by `element`: its xop:Include attachment or its base64 text."""
        include = element.find(_INCLUDE)
        if include is not None:
            attachment = resolve_include(include, self.attachments)
            lost = self.lost.get(attachment.content_id)
            if lost is not None:
                raise lost          # answered "storage full" by the operation or the endpoint
            return attachment
        try:
            data = decode_base64_text(element.text)
        except ValueError as exc:
            raise sender(f"{_describe(element)}: {exc}", "InvalidBase64") from None
        return Attachment.from_bytes(data)

    def close(self) -> None:
        for attachment in self.attachments.values():
            attachment.close()


@dataclass
class SoapResponse:
    """What an operation answers: a payload element and the binaries hung on its elements, or
    the pieces of one serialised element, an Attachment piece standing for an element's
    binary content (written as an xop:Include or base64 text)."""

    payload: etree._Element | list[bytes | Attachment]
    action: str | None = None
    outcome: str = "success"
    binaries: list[tuple[etree._Element, Attachment]] = field(default_factory=list)

    def set_binary(self, element: etree._Element, attachment: Attachment) -> None:
        self.binaries.append((element, attachment))


def _describe(element: etree._Element) -> str:
    line = f" (line {element.sourceline})" if element.sourceline else ""
    return f"element {element.tag}{line}"


def _cid_of(include: etree._Element) -> str:
    href = include.get("href") or ""
    if not href.startswith("cid:"):
        raise sender(f"xop:Include href {href!r} is not a cid: URL", "InvalidXopInclude")
    return href[4:]


def resolve_include(include: etree._Element,
                    attachments: dict[str, Attachment]) -> Attachment:
    """The part an xop:Include names. RFC 2392 says the href is percent-encoded and the
    Content-ID is not; stacks differ, so both spellings are tried on both sides."""
    raw = _cid_of(include)
    for candidate in (unquote(raw), raw):
        if candidate in attachments:
            return attachments[candidate]
    for content_id, attachment in attachments.items():
        if unquote(content_id) in (raw, unquote(raw)):
            return attachment
    raise sender(f"xop:Include refers to cid:{raw}, but no MIME part has Content-ID "
                 f"<{unquote(raw)}>", "MissingAttachment")


def _check_includes(root: etree._Element, attachments: dict[str, Attachment]) -> None:
    """Every xop:Include must name a part that arrived, be the only content of its parent, and
    be the only one to name its part: one 3 MB part named 20,000 times made an Echo answer of
    60 GB (issue 13, finding 10), and no transaction needs the same bytes twice."""
    named: set[int] = set()
    for include in root.iter(_INCLUDE):
        attachment = resolve_include(include, attachments)
        if id(attachment) in named:
            raise sender(f"MIME part <{include.get('href', '')[4:]}> is named by more than one "
                         "xop:Include: each part carries one binary content",
                         "RepeatedXopInclude")
        named.add(id(attachment))
        parent = include.getparent()
        if parent is not None and (len(parent) > 1 or (parent.text or "").strip()):
            raise sender(f"{_describe(parent)} mixes xop:Include with other content",
                         "InvalidXopInclude")


@dataclass
class RawMessage:
    """A decoded SOAP message before envelope checks: root element, attachments, framing."""

    root: etree._Element
    attachments: dict[str, Attachment]
    mtom: bool
    size: int
    # content ids of the parts the disk filled up under (their bytes were dropped)
    lost: dict[str, OSError] = field(default_factory=dict)

    def close(self) -> None:
        for attachment in self.attachments.values():
            attachment.close()


def envelope_too_large(limit: int, what: str = "SOAP envelope") -> SoapFault:
    return sender(f"{what} is longer than {limit} bytes (XDS_MAX_ENVELOPE_BYTES): send documents "
                  "as MTOM parts; nothing of the message was parsed", "EnvelopeTooLarge",
                  http_status=413)


def _read_at_most(stream: BinaryIO, limit: int | None) -> bytes:
    """The stream's bytes, at most `limit` + 1 of them (enough to know it is over)."""
    if limit is None:
        return stream.read()
    chunks, total = [], 0
    while total <= limit:
        block = stream.read(min(limit + 1 - total, 65536))
        if not block:
            break
        chunks.append(block)
        total += len(block)
    return b"".join(chunks)


def read_message(stream: BinaryIO, content_type: str, *, spool_dir: Path | None,
                 spool_threshold: int, max_part_bytes: int | None = None,
                 max_envelope_bytes: int | None = None, max_parts: int = MAX_PARTS
                 ) -> RawMessage:
    """Decode an HTTP body (plain SOAP 1.2 or MTOM/XOP) into its root element and attachments.
    The envelope (the whole body, or the MTOM root part) is at most `max_envelope_bytes`, the
    MIME parts at most `max_parts`."""
    media_type, params = parse_header_value(content_type)
    if media_type == "multipart/related":
        return _read_multipart(stream, params, spool_dir, spool_threshold, max_part_bytes,
                               max_envelope_bytes, max_parts)
    if media_type not in ACCEPTED_TYPES:
        raise sender(f"unsupported Content-Type {media_type or '(none)'!r}: send "
                     f"{SOAP_XML} or multipart/related (MTOM/XOP)", "UnsupportedMediaType",
                     http_status=415)
    data = _read_at_most(stream, max_envelope_bytes)
    if max_envelope_bytes is not None and len(data) > max_envelope_bytes:
        raise envelope_too_large(max_envelope_bytes)
    root = parse_soap_xml(data)
    _check_includes(root, {})
    return RawMessage(root, {}, mtom=False, size=len(data))


def read_request(stream: BinaryIO, content_type: str, request_id: str, *,
                 spool_dir: Path | None, spool_threshold: int,
                 max_part_bytes: int | None = None,
                 max_envelope_bytes: int | None = None,
                 max_parts: int = MAX_PARTS) -> SoapRequest:
    """Decode an HTTP request body (already bounded) into a SoapRequest."""
    raw = read_message(stream, content_type, spool_dir=spool_dir,
                       spool_threshold=spool_threshold, max_part_bytes=max_part_bytes,
                       max_envelope_bytes=max_envelope_bytes, max_parts=max_parts)
    try:
        envelope = read_envelope(raw.root)
    except SoapFault:
        raw.close()
        raise
    return SoapRequest(envelope, raw.attachments, mtom=raw.mtom, request_id=request_id,
                       size=raw.size, lost=raw.lost)


def _read_multipart(stream: BinaryIO, params: dict[str, str], spool_dir: Path | None,
                    threshold: int, max_part_bytes: int | None,
                    max_envelope_bytes: int | None, max_parts: int) -> RawMessage:
    related_type = params.get("type", "").lower()
    if related_type not in (XOP_XML, SOAP_XML, "text/xml"):
        raise sender(f"multipart/related type {related_type or '(none)'!r} is not supported; "
                     f"MTOM uses type=\"{XOP_XML}\"", "UnsupportedMediaType", http_status=415)
    start = params.get("start", "").strip().strip("<>")
    try:
        parts = MultipartReader(stream, params.get("boundary", ""), spool_dir,
                                threshold, max_part_bytes, root_id=start,
                                max_root_bytes=max_envelope_bytes,
                                max_parts=max_parts).read_parts()
    except RootPartTooLarge:
        raise envelope_too_large(max_envelope_bytes or 0, "the SOAP envelope part") from None
    except PartTooLarge as exc:
        raise sender(f"MTOM message refused: {exc} (XDS_MAX_DOCUMENT_BYTES); nothing of it was "
                     "kept", "DocumentTooLarge", http_status=413) from None
    except TooManyParts as exc:
        raise sender(f"MTOM message refused: {exc} (XDS_MAX_MIME_PARTS); nothing of it was "
                     "kept", "TooManyParts", http_status=413) from None
    except MimeError as exc:
        raise sender(f"MTOM message is malformed: {exc}", "MalformedMime") from None
    attachments: dict[str, Attachment] = {}
    try:
        root_part = next((p for p in parts if p.content_id == start), None) if start else parts[0]
        if root_part is None:
            raise sender(f"multipart start=<{start}> names no MIME part", "MalformedMime")
        if root_part.disk_full is not None:
            raise root_part.disk_full       # no envelope to answer by: the endpoint's rule
        for part in parts:
            if part is not root_part:
                if part.content_id in attachments:
                    raise sender(f"two MIME parts share Content-ID <{part.content_id}>",
                                 "MalformedMime")
                attachments[part.content_id] = part.attachment
        root_bytes = root_part.attachment.read_bytes()
        root_part.attachment.close()
        root = parse_soap_xml(root_bytes)
        _check_includes(root, attachments)
    except SoapFault:
        for part in parts:
            part.attachment.close()
        raise
    size = len(root_bytes) + sum(a.size for a in attachments.values())
    lost = {part.content_id: part.disk_full for part in parts if part.disk_full is not None}
    return RawMessage(root, attachments, mtom=True, size=size, lost=lost)


@dataclass
class EncodedMessage:
    """A message ready for the wire: bytes, and whole files a server may send with sendfile."""

    content_type: str
    length: int
    segments: Iterable[Segment]

    @property
    def chunks(self) -> Iterator[bytes]:
        return expand_segments(self.segments)


def _new_content_id(index: int) -> str:
    return f"{index}.{random_hex()}@xds-server"


def externalize_binaries(binaries: list[tuple[etree._Element, Attachment]],
                         mtom: bool) -> list[Attachment] | None:
    """Write each binary into its element: an xop:Include to a new part (MTOM) or base64 text.

    Returns the MTOM parts to send, or None for a plain message.
    """
    parts: list[Attachment] = []
    for index, (element, attachment) in enumerate(binaries):
        for child in list(element):
            element.remove(child)
        if mtom:
            cid = _new_content_id(index)
            parts.append(attachment.with_content_id(cid))
            element.text = None
            etree.SubElement(element, _INCLUDE, nsmap={"xop": XOP}).set("href", f"cid:{cid}")
        else:
            element.text = attachment.base64_text()
    return parts if mtom else None


def externalize_pieces(pieces: list[bytes | Attachment], mtom: bool
                       ) -> tuple[list[bytes], list[Attachment] | None]:
    """The bytes of `pieces`, each Attachment written as externalize_binaries writes it."""
    out: list[bytes] = []
    parts: list[Attachment] = []
    for piece in pieces:
        if isinstance(piece, bytes):
            out.append(piece)
        elif mtom:
            cid = _new_content_id(len(parts))
            parts.append(piece.with_content_id(cid))
            out.append(_INCLUDE_START + cid.encode("ascii") + b'"/>')
        else:
            out.append(piece.base64_text().encode("ascii"))
    return out, parts if mtom else None


@dataclass(frozen=True)
class ResponseLimits:
    """An answer's bounds: its envelope (inline base64 included, all of it in memory) and its
    whole length (MTOM parts included, sent from files). A request cannot choose the size of
    what it is answered (issue 13: an Echo of one part named 20,000 times answered 60 GB)."""

    max_envelope_bytes: int
    max_response_bytes: int
    max_parts: int = MAX_PARTS       # the consumer's own default: never answer what it refuses


def _response_too_large(size: int, limit: int, setting: str, hint: str = "") -> SoapFault:
    return sender(f"the answer would be {size} bytes, over the maximum of {limit} ({setting})"
                  f"{hint}; ask for less in one request", "ResponseTooLarge")


def _response_too_large_parts(count: int, limit: int) -> SoapFault:
    return sender(f"the answer would have {count} MIME parts, over the maximum of {limit} "
                  "(XDS_MAX_MIME_PARTS); ask for fewer documents in one request",
                  "ResponseTooLarge")


def _base64_length(size: int) -> int:
    return 4 * ((size + 2) // 3)


def _check_inline(binary_sizes: Iterable[int], other: int, mtom: bool,
                  limits: ResponseLimits | None) -> None:
    """Before base64 text is made: an inline answer's envelope must fit its limit."""
    if limits is None or mtom:
        return
    size = other + sum(_base64_length(s) for s in binary_sizes)
    if size > limits.max_envelope_bytes:
        raise _response_too_large(size, limits.max_envelope_bytes, "XDS_MAX_ENVELOPE_BYTES",
                                  ": documents that large are sent as MTOM parts only")


def encode_response(response: SoapResponse, action: str, relates_to: str | None,
                    mtom: bool, limits: ResponseLimits | None = None) -> EncodedMessage:
    """Serialise `response`; binaries become MTOM parts when `mtom`, base64 text otherwise.
    With `limits`, an answer over them is refused (ResponseTooLarge) before it is written."""
    if isinstance(response.payload, list):
        pieces = response.payload
        _check_inline([p.size for p in pieces if isinstance(p, Attachment)],
                      sum(len(p) for p in pieces if isinstance(p, bytes)), mtom, limits)
        payload, parts = externalize_pieces(pieces, mtom)
    else:
        _check_inline([a.size for _, a in response.binaries], 0, mtom, limits)
        parts = externalize_binaries(response.binaries, mtom)
        payload = [etree.tostring(response.payload, encoding="UTF-8", xml_declaration=False,
                                  with_tail=False)]
    xml = reply_envelope(payload, action=action, relates_to=relates_to)
    if limits is not None and len(xml) > limits.max_envelope_bytes:
        raise _response_too_large(len(xml), limits.max_envelope_bytes, "XDS_MAX_ENVELOPE_BYTES")
    if limits is not None and parts is not None and len(parts) + 1 > limits.max_parts:
        raise _response_too_large_parts(len(parts) + 1, limits.max_parts)
    encoded = encode_envelope(xml, action, parts)
    if limits is not None and encoded.length > limits.max_response_bytes:
        raise _response_too_large(encoded.length, limits.max_response_bytes,
                                  "XDS_MAX_RESPONSE_BYTES")
    return encoded


def encode_envelope(xml: bytes, action: str, parts: list[Attachment] | None) -> EncodedMessage:
    """Plain SOAP 1.2, or MTOM when `parts` is a list (possibly empty)."""
    if parts is None:
        return EncodedMessage(f'{SOAP_XML}; charset=UTF-8; action="{action}"', len(xml), [xml])
    body: MultipartBody = write_multipart(
        xml,
        root_type=f'{XOP_XML}; charset=UTF-8; type="{SOAP_XML}"',
        root_id=f"root.{random_hex()}@xds-server",
        attachments=parts,
        related_type=XOP_XML,
        start_info=SOAP_XML,
        extra_params=f'; action="{action}"',
    )
    return EncodedMessage(body.content_type, body.length, body.segments)
