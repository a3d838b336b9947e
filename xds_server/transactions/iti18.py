"""ITI-18 Registry Stored Query on the registry endpoint."""

from __future__ import annotations

import logging

from ..ebxml.actions import ITI_18
from ..ebxml.encode import adhoc_query_response, adhoc_query_response_pieces
from ..ebxml.namespaces import QUERY
from ..ebxml.query import QuerySyntaxError, decode_adhoc_query
from ..model.errors import ErrorCode, RegistryFailure, error
from ..registry.actor import Registry
from ..soap.endpoint import Operation
from ..soap.message import SoapRequest, SoapResponse
from ..soap.namespaces import qn
from .authentication import caller
from .outcome import operation, outcome_label

log = logging.getLogger("xds_server.registry")



def iti18_operation(registry: Registry) -> Operation:
    def handle(request: SoapRequest) -> SoapResponse:
        try:
            adhoc = decode_adhoc_query(request.payload)
            objects, notices = registry.query_with_notices(adhoc, caller(request))
            payload = adhoc_query_response_pieces(objects, notices)
            return SoapResponse(payload, outcome="success")
        except QuerySyntaxError as exc:
            payload = adhoc_query_response([], [error(ErrorCode.REGISTRY_ERROR, str(exc),
                                                      "AdhocQueryRequest")])
        except RegistryFailure as failure:
            log.info("request_id=%s ITI-18 failed: %s", request.request_id,
                     "; ".join(f"{e.code}: {e.context}" for e in failure.errors[:5]))
            payload = adhoc_query_response([], failure.errors)
        return SoapResponse(payload, outcome=outcome_label(payload.get("status")))

    return operation(ITI_18, qn(QUERY, "AdhocQueryRequest"),
                     qn(QUERY, "AdhocQueryResponse"), handle,
                     "DocumentRegistry_RegistryStoredQuery")
