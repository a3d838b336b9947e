"""SOAP 1.2 envelopes: read a request's header blocks and body, build a response envelope.

WS-Addressing 1.0 (SOAP binding) is read here because dispatch depends on it: the Action header,
not the body element, chooses the operation (ITI-42 and ITI-57 share `lcm:SubmitObjectsRequest`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from lxml import etree

from ..model.ids import urn_uuid
from .faults import (
    MUST_UNDERSTAND,
    VERSION_MISMATCH,
    SoapFault,
    addressing_fault,
    problem_header_detail,
    sender,
)
from .namespaces import (
    ROLE_NEXT,
    ROLE_ULTIMATE_RECEIVER,
    SOAP11,
    SOAP12,
    WSA,
    WSA_ANONYMOUS,
    WSA_NONE,
    WSSE,
    qn,
    split_qn,
)

# Header blocks this core processes, so mustUnderstand="true" on them is honoured.
UNDERSTOOD_HEADERS = frozenset(
    {qn(WSA, name) for name in ("Action", "MessageID", "To", "ReplyTo", "FaultTo", "From",
                                "RelatesTo")}
    | {qn(WSSE, "Security")}
)
_SINGLE_WSA = ("Action", "MessageID", "To", "ReplyTo", "FaultTo", "From")
_TRUE = ("true", "1")


def new_message_id() -> str:
    return urn_uuid()


@dataclass
class Addressing:
    """The WS-Addressing properties of a request."""

    action: str
    message_id: str
    to: str | None = None
    reply_to: str = WSA_ANONYMOUS
    fault_to: str | None = None


@dataclass
class Envelope:
    header: etree._Element | None
    body: etree._Element
    payload: etree._Element
    addressing: Addressing
    headers: list[etree._Element] = field(default_factory=list)


_ENVELOPE, _HEADER, _BODY = (qn(SOAP12, name) for name in ("Envelope", "Header", "Body"))
_ROLE, _MUST_UNDERSTAND = qn(SOAP12, "role"), qn(SOAP12, "mustUnderstand")
_ADDRESS = qn(WSA, "Address")
_WSA_PREFIX = "{" + WSA + "}"


def _children(element: etree._Element) -> list[etree._Element]:
    """Element children, comments and processing instructions left out (filtered in lxml)."""
    return list(element.iterchildren(etree.Element))


def read_envelope(root: etree._Element) -> Envelope:
    """Check the envelope shape, mustUnderstand and addressing; return its parts."""
    if root.tag != _ENVELOPE:
        if root.tag == qn(SOAP11, "Envelope"):
            raise SoapFault(VERSION_MISMATCH,
                            "SOAP 1.1 envelope received; this endpoint speaks SOAP 1.2 "
                            f"(namespace {SOAP12})")
        namespace, local = split_qn(root.tag)
        if local == "Envelope":
            raise SoapFault(VERSION_MISMATCH, f"unknown envelope namespace {namespace!r}; "
                                              f"expected SOAP 1.2 ({SOAP12})")
        raise sender(f"root element is {root.tag}, not a SOAP 1.2 Envelope", "NotSoapEnvelope")

    children = _children(root)
    header = body = None
    for child in children:
        if child.tag == _HEADER and header is None and body is None:
            header = child
        elif child.tag == _BODY and body is None:
            body = child
        else:
            raise sender(f"unexpected element {child.tag} in env:Envelope (expected an optional "
                         "env:Header then one env:Body)", "InvalidEnvelope")
    if body is None:
        raise sender("env:Envelope has no env:Body", "InvalidEnvelope")

    headers = _children(header) if header is not None else []
    _check_must_understand(headers)
    addressing = read_addressing(headers)

    payload_elements = _children(body)
    if not payload_elements:
        raise sender("env:Body is empty: expected the request element", "EmptyBody")
    if len(payload_elements) > 1:
        raise sender(f"env:Body holds {len(payload_elements)} elements; expected exactly one",
                     "InvalidEnvelope")
    return Envelope(header, body, payload_elements[0], addressing, headers)


def _targets_us(block: etree._Element) -> bool:
    role = block.get(_ROLE)
    return role in (None, "", ROLE_NEXT, ROLE_ULTIMATE_RECEIVER)


def _check_must_understand(headers: list[etree._Element]) -> None:
    missed = [
        block for block in headers
        if (block.get(_MUST_UNDERSTAND) or "").strip() in _TRUE
        and _targets_us(block)
        and block.tag not in UNDERSTOOD_HEADERS
    ]
    if missed:
        names = ", ".join(block.tag for block in missed)
        raise SoapFault(MUST_UNDERSTAND,
                        f"header block(s) marked mustUnderstand are not understood: {names}",
                        not_understood=tuple(split_qn(block.tag) for block in missed))


def _address_of(block: etree._Element, name: str) -> str:
    address = next(block.iterchildren(_ADDRESS), None)   # find() parses a path: 5x slower
    if address is None or not (address.text or "").strip():
        raise addressing_fault(f"wsa:{name} has no wsa:Address", "InvalidAddressingHeader",
                               "InvalidEPR", detail=[problem_header_detail(name)])
    return address.text.strip()


def read_addressing(headers: list[etree._Element]) -> Addressing:
    """WS-Addressing 1.0: Action and MessageID required, each header at most once."""
    found: dict[str, etree._Element] = {}
    for block in headers:
        if not block.tag.startswith(_WSA_PREFIX):
            continue
        local = block.tag[len(_WSA_PREFIX):]
        if local not in _SINGLE_WSA or not _targets_us(block):
            continue
        if local in found:
            raise addressing_fault(f"wsa:{local} appears more than once",
                                   "InvalidAddressingHeader", "InvalidCardinality",
                                   detail=[problem_header_detail(local)])
        found[local] = block

    def text_of(local: str) -> str | None:
        block = found.get(local)
        return None if block is None else (block.text or "").strip()

    action = text_of("Action")
    if not action:
        raise addressing_fault(
            "wsa:Action header is required: it names the IHE transaction (for example "
            "urn:ihe:iti:2007:RegistryStoredQuery)", "MessageAddressingHeaderRequired",
            detail=[problem_header_detail("Action")])
    message_id = text_of("MessageID")
    if not message_id:
        raise addressing_fault("wsa:MessageID header is required for a request that expects a "
                               "reply", "MessageAddressingHeaderRequired",
                               detail=[problem_header_detail("MessageID")])
    reply_to = WSA_ANONYMOUS
    if "ReplyTo" in found:
        reply_to = _address_of(found["ReplyTo"], "ReplyTo")
        if reply_to not in (WSA_ANONYMOUS,):
            raise addressing_fault(
                f"wsa:ReplyTo {reply_to} is not supported: this endpoint answers synchronously "
                f"(use {WSA_ANONYMOUS})", "InvalidAddressingHeader",
                "OnlyAnonymousAddressSupported", detail=[problem_header_detail("ReplyTo")])
    fault_to = _address_of(found["FaultTo"], "FaultTo") if "FaultTo" in found else None
    if fault_to not in (None, WSA_ANONYMOUS, WSA_NONE):
        raise addressing_fault(
            f"wsa:FaultTo {fault_to} is not supported: faults are returned on the HTTP response",
            "InvalidAddressingHeader", "OnlyAnonymousAddressSupported",
            detail=[problem_header_detail("FaultTo")])
    return Addressing(action=action, message_id=message_id, to=text_of("To"), reply_to=reply_to,
                      fault_to=fault_to)


def build_envelope(payload: etree._Element, *, action: str, message_id: str,
                   relates_to: str | None = None, to: str | None = None,
                   reply_to: str | None = None) -> etree._Element:
    """env:Envelope with WS-Addressing headers around `payload` (a request or a reply)."""
    env = etree.Element(qn(SOAP12, "Envelope"), nsmap={"env": SOAP12, "wsa": WSA})
    header = etree.SubElement(env, qn(SOAP12, "Header"))
    action_el = etree.SubElement(header, qn(WSA, "Action"))
    action_el.set(qn(SOAP12, "mustUnderstand"), "true")
    action_el.text = action
    etree.SubElement(header, qn(WSA, "MessageID")).text = message_id
    if relates_to:
        etree.SubElement(header, qn(WSA, "RelatesTo")).text = relates_to
    if reply_to:
        reply = etree.SubElement(header, qn(WSA, "ReplyTo"))
        etree.SubElement(reply, qn(WSA, "Address")).text = reply_to
    if to:
        to_el = etree.SubElement(header, qn(WSA, "To"))
        to_el.set(qn(SOAP12, "mustUnderstand"), "true")
        to_el.text = to
    body = etree.SubElement(env, qn(SOAP12, "Body"))
    body.append(payload)
    return env


_MARK_ID, _MARK_RELATES, _MARK_BODY = "\u2063id\u2063", "\u2063relates\u2063", "\u2063body\u2063"


@functools.lru_cache(maxsize=256)
def _reply_template(action: str, with_relates_to: bool) -> tuple[bytes, bytes, bytes, bytes]:
    """build_envelope's serialisation cut where the message id, the RelatesTo and the body go.
    Serialising an envelope tree for every answer cost more than an echo's whole handler."""
    holder = etree.Element("{urn:xds-server}marker")
    envelope = build_envelope(holder, action=action, message_id=_MARK_ID,
                              relates_to=_MARK_RELATES if with_relates_to else None)
    body = holder.getparent()
    body.remove(holder)
    body.text = _MARK_BODY
    xml = etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")
    before_id, _, rest = xml.partition(_MARK_ID.encode())
    if with_relates_to:
        between, _, rest = rest.partition(_MARK_RELATES.encode())
    else:
        between = b""
    before_body, _, after_body = rest.partition(_MARK_BODY.encode())
    return before_id, between, before_body, after_body


def _text(value: str) -> bytes:
    """Character data as lxml writes it."""
    return (value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("\r", "&#13;").encode("utf-8"))


def reply_envelope(payload: list[bytes], *, action: str, relates_to: str | None) -> bytes:
    """A reply envelope (as build_envelope writes it) around a payload already serialised,
    given in pieces: joined once, never parsed again."""
    before_id, between, before_body, after_body = _reply_template(action, bool(relates_to))
    head = [before_id, _text(new_message_id())]
    if relates_to:
        head += [between, _text(relates_to)]
    return b"".join([*head, before_body, *payload, after_body])
