"""ITI-18 Registry Stored Query on the registry endpoint."""

from __future__ import annotations

import logging

from ..ebxml.actions import ITI_18
from ..ebxml.encode import adhoc_query_response, adhoc_query_response_pieces
from ..ebxml.namespaces import QUERY
from ..ebxml.query import QuerySyntaxError, decode_stored_query
from ..ebxml.stored import registry_objects
from ..model.errors import ErrorCode, RegistryFailure, error
from ..registry.actor import Registry
from ..soap.endpoint import Operation
from ..soap.message import SoapRequest, SoapResponse
from ..soap.namespaces import qn
from .authentication import caller
from .outcome import operation, outcome_label

log = logging.getLogger("xds_server.registry")



def iti18_operation(registry: Registry, max_answer_bytes: int = 16 * 2**20) -> Operation:
    """`max_answer_bytes`: the largest LeafClass answer built (the envelope limit)."""
    def handle(request: SoapRequest) -> SoapResponse:
        try:
            query = decode_stored_query(request.payload)
            answer = registry.query(query, caller(request))
            payload = adhoc_query_response_pieces(
                registry_objects(answer.result, query.return_type, max_answer_bytes),
                answer.notices)
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
