"""ITI-42 Register Document Set-b on the registry endpoint."""

from __future__ import annotations

from ..ebxml.decode import decode_submission
from ..ebxml.namespaces import LCM, RS
from ..registry.actor import Registry
from ..security.authentication import caller
from ..soap.endpoint import Operation
from ..soap.message import SoapRequest, SoapResponse
from ..soap.namespaces import qn
from .outcome import registry_answer

ACTION = "urn:ihe:iti:2007:RegisterDocumentSet-b"
RESPONSE_ACTION = "urn:ihe:iti:2007:RegisterDocumentSet-bResponse"


def iti42_operation(registry: Registry) -> Operation:
    def handle(request: SoapRequest) -> SoapResponse:
        decoded = decode_submission(request.payload)
        return registry_answer("ITI-42", request.request_id, lambda: registry.register(
            decoded.submission, caller(request), decoded.errors))

    return Operation("ITI-42", ACTION, RESPONSE_ACTION, qn(LCM, "SubmitObjectsRequest"),
                     qn(RS, "RegistryResponse"), handle,
                     wsdl_name="DocumentRegistry_RegisterDocumentSet-b")
