"""SOAP 1.2 faults as exceptions, so any layer can stop a request with a precise answer.

HTTP status follows the SOAP 1.2 HTTP binding (W3C SOAP 1.2 part 2, table 23): Sender → 400,
everything else → 500; media-type and method errors keep their own HTTP codes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree

from .namespaces import SOAP12, WSA, XDSSRV, qn

SENDER = "Sender"
RECEIVER = "Receiver"
MUST_UNDERSTAND = "MustUnderstand"
VERSION_MISMATCH = "VersionMismatch"

_HTTP_STATUS = {SENDER: 400, RECEIVER: 500, MUST_UNDERSTAND: 500, VERSION_MISMATCH: 500}


@dataclass
class SoapFault(Exception):
    """A fault to send back. `subcodes` are QNames (namespace, local), outermost first.

    `detail` holds extra elements for env:Detail; `not_understood` lists header QNames for the
    env:NotUnderstood header blocks of a MustUnderstand fault.
    """

    code: str
    reason: str
    subcodes: tuple[tuple[str, str], ...] = ()
    detail: list[etree._Element] = field(default_factory=list)
    not_understood: tuple[tuple[str, str], ...] = ()
    http_status: int | None = None
    addressing_fault: bool = False

    def __post_init__(self) -> None:
        super().__init__(self.reason)

    @property
    def status(self) -> int:
        return self.http_status or _HTTP_STATUS[self.code]

    @property
    def subcode_text(self) -> str:
        """The innermost subcode as `prefix:local`, for logs and metrics."""
        if not self.subcodes:
            return self.code
        namespace, local = self.subcodes[-1]
        prefix = {WSA: "wsa", XDSSRV: "xds"}.get(namespace, "ns")
        return f"{prefix}:{local}"


def sender(reason: str, local: str, namespace: str = XDSSRV, **kwargs) -> SoapFault:
    """A Sender fault with one subcode in our namespace (or another)."""
    return SoapFault(SENDER, reason, subcodes=((namespace, local),), **kwargs)


def addressing_fault(reason: str, *subcodes: str, detail=None) -> SoapFault:
    """A WS-Addressing 1.0 SOAP binding fault (Sender, wsa: subcodes, wsa fault action)."""
    return SoapFault(SENDER, reason, subcodes=tuple((WSA, s) for s in subcodes),
                     detail=detail or [], addressing_fault=True)


def problem_header_detail(local: str) -> etree._Element:
    """<wsa:ProblemHeaderQName>wsa:Action</wsa:ProblemHeaderQName>, as the binding specifies."""
    element = etree.Element(qn(WSA, "ProblemHeaderQName"), nsmap={"wsa": WSA})
    element.text = f"wsa:{local}"
    return element


def problem_action_detail(action: str) -> etree._Element:
    element = etree.Element(qn(WSA, "ProblemAction"), nsmap={"wsa": WSA})
    etree.SubElement(element, qn(WSA, "Action")).text = action
    return element


def fault_envelope(fault: SoapFault, request_id: str, relates_to: str | None,
                   message_id: str) -> bytes:
    """Serialise a fault envelope; the request id goes in env:Detail so the caller can quote it."""
    env = etree.Element(qn(SOAP12, "Envelope"),
                        nsmap={"env": SOAP12, "wsa": WSA, "xds": XDSSRV})
    header = etree.SubElement(env, qn(SOAP12, "Header"))
    action = etree.SubElement(header, qn(WSA, "Action"))
    # WS-Addressing 1.0 SOAP binding: addressing faults and other SOAP faults have distinct actions.
    action.text = WSA + ("/fault" if fault.addressing_fault else "/soap/fault")
    etree.SubElement(header, qn(WSA, "MessageID")).text = message_id
    if relates_to:
        etree.SubElement(header, qn(WSA, "RelatesTo")).text = relates_to
    for namespace, local in fault.not_understood:
        block = etree.SubElement(header, qn(SOAP12, "NotUnderstood"), nsmap={"p": namespace})
        block.set("qname", f"p:{local}")

    body = etree.SubElement(env, qn(SOAP12, "Body"))
    element = etree.SubElement(body, qn(SOAP12, "Fault"))
    code = etree.SubElement(element, qn(SOAP12, "Code"))
    etree.SubElement(code, qn(SOAP12, "Value")).text = f"env:{fault.code}"
    parent = code
    for namespace, local in fault.subcodes:
        sub = etree.SubElement(parent, qn(SOAP12, "Subcode"))
        value = etree.SubElement(sub, qn(SOAP12, "Value"), nsmap=_prefix_for(namespace))
        value.text = f"{_prefix(namespace)}:{local}"
        parent = sub
    reason = etree.SubElement(element, qn(SOAP12, "Reason"))
    text = etree.SubElement(reason, qn(SOAP12, "Text"))
    text.set("{http://www.w3.org/XML/1998/namespace}lang", "en")
    text.text = fault.reason
    detail = etree.SubElement(element, qn(SOAP12, "Detail"))
    etree.SubElement(detail, qn(XDSSRV, "RequestId")).text = request_id
    for extra in fault.detail:
        detail.append(extra)
    return etree.tostring(env, xml_declaration=True, encoding="UTF-8")


_PREFIXES = {WSA: "wsa", XDSSRV: "xds", SOAP12: "env"}


def _prefix(namespace: str) -> str:
    return _PREFIXES.get(namespace, "sub")


def _prefix_for(namespace: str) -> dict[str, str] | None:
    return None if namespace in _PREFIXES else {"sub": namespace}
