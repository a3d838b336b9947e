"""ITI-42 Register Document Set-b on the registry endpoint."""

from __future__ import annotations

import logging

from ..ebxml.decode import decode_submission
from ..ebxml.encode import registry_response
from ..ebxml.namespaces import LCM, RS
from ..registry.actor import Registry
from ..security.principal import SYSTEM
from ..soap.endpoint import Operation
from ..soap.message import SoapRequest, SoapResponse
from ..soap.namespaces import qn
from ..validation.errors import RegistryFailure
from .outcome import outcome_label

log = logging.getLogger("xds_server.registry")

ACTION = "urn:ihe:iti:2007:RegisterDocumentSet-b"
RESPONSE_ACTION = "urn:ihe:iti:2007:RegisterDocumentSet-bResponse"


def iti42_operation(registry: Registry) -> Operation:
    def handle(request: SoapRequest) -> SoapResponse:
        decoded = decode_submission(request.payload)
        try:
            errors = registry.register(decoded.submission, SYSTEM, decoded.errors)
        except RegistryFailure as failure:
            errors = failure.errors
            log.info("request_id=%s ITI-42 rejected: %s", request.request_id,
                     "; ".join(f"{e.code}: {e.context}" for e in errors[:5]))
        payload = registry_response(errors)
        return SoapResponse(payload, outcome=outcome_label(payload.get("status")))

    return Operation("ITI-42", ACTION, RESPONSE_ACTION, qn(LCM, "SubmitObjectsRequest"),
                     qn(RS, "RegistryResponse"), handle,
                     wsdl_name="DocumentRegistry_RegisterDocumentSet-b")
