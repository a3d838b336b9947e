"""ITI-62 Delete Document Set (Remove Metadata) on the registry endpoint."""

from __future__ import annotations

from ..ebxml.namespaces import LCM, RIM, RS
from ..registry.actor import Registry
from ..soap.endpoint import Operation
from ..soap.message import SoapRequest, SoapResponse
from ..soap.namespaces import qn
from .authentication import caller
from .outcome import registry_answer

ACTION = "urn:ihe:iti:2010:DeleteDocumentSet"
RESPONSE_ACTION = "urn:ihe:iti:2010:DeleteDocumentSetResponse"


def iti62_operation(registry: Registry) -> Operation:
    def handle(request: SoapRequest) -> SoapResponse:
        ids = [ref.get("id", "") for ref in request.payload.iter(qn(RIM, "ObjectRef"))]
        return registry_answer("ITI-62", request.request_id,
                               lambda: registry.remove(ids, caller(request)))

    return Operation("ITI-62", ACTION, RESPONSE_ACTION, qn(LCM, "RemoveObjectsRequest"),
                     qn(RS, "RegistryResponse"), handle,
                     wsdl_name="DocumentRegistry_DeleteDocumentSet")
