"""Diagnostic Echo: a connectivity check for integrators and the SOAP core's benchmark action.

It answers with a copy of what it received. `xds:Binary` elements carry binary content (MTOM
`xop:Include` or inline base64) and come back the same way the request came (MTOM for MTOM), with
the size and SHA-1 the server computed, so a source can check its MTOM stack before sending real
documents. Disabled with XDS_DIAGNOSTICS=false.
"""

from __future__ import annotations

import copy

from lxml import etree

from ..soap.endpoint import Operation
from ..soap.message import SoapRequest, SoapResponse
from ..soap.namespaces import XDSSRV, XOP, qn

ECHO_ACTION = "urn:xds-server:2026:Echo"
ECHO_RESPONSE_ACTION = "urn:xds-server:2026:EchoResponse"
ECHO = qn(XDSSRV, "Echo")
ECHO_RESPONSE = qn(XDSSRV, "EchoResponse")
BINARY = qn(XDSSRV, "Binary")


def handle_echo(request: SoapRequest) -> SoapResponse:
    answer = etree.Element(ECHO_RESPONSE, nsmap={"xds": XDSSRV})
    answer.text = request.payload.text
    for child in request.payload:
        answer.append(copy.deepcopy(child))
    response = SoapResponse(answer)
    originals = list(request.payload.iter(BINARY))
    for original, echoed in zip(originals, answer.iter(BINARY), strict=True):
        attachment = request.binary(original)
        attachment.content_type = original.get("contentType") or attachment.content_type
        echoed.set("size", str(attachment.size))
        echoed.set("sha1", attachment.sha1)
        for include in echoed.findall(qn(XOP, "Include")):
            echoed.remove(include)
        response.set_binary(echoed, attachment)
    return response


ECHO_OPERATION = Operation(
    name="Echo",
    action=ECHO_ACTION,
    response_action=ECHO_RESPONSE_ACTION,
    request_element=ECHO,
    response_element=ECHO_RESPONSE,
    handler=handle_echo,
    wsdl_name="Diagnostic_Echo",
)
