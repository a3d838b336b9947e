"""ITI-62 Delete Document Set (Remove Metadata) on the registry endpoint."""

from __future__ import annotations

from ..ebxml.actions import ITI_62
from ..ebxml.namespaces import LCM, RIM, RS
from ..model.hl7 import canonical_uuid
from ..registry.actor import Registry
from ..soap.endpoint import Operation
from ..soap.message import SoapRequest, SoapResponse
from ..soap.namespaces import qn
from .authentication import caller
from .outcome import operation, registry_answer


def iti62_operation(registry: Registry) -> Operation:
    def handle(request: SoapRequest) -> SoapResponse:
        # an id in either case (RFC 4122, 8141) names the object (issue 16 re-test c, 5)
        ids = [canonical_uuid(ref.get("id", ""))
               for ref in request.payload.iter(qn(RIM, "ObjectRef"))]
        return registry_answer(ITI_62.name, request.request_id,
                               lambda: registry.remove(ids, caller(request)))

    return operation(ITI_62, qn(LCM, "RemoveObjectsRequest"),
                     qn(RS, "RegistryResponse"), handle,
                     "DocumentRegistry_DeleteDocumentSet")
