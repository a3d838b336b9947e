"""What every XDS transaction's operation shares: its row of the endpoint's dispatch table, and
RegistryResponse answers (run an actor call, log a refusal with the request id, label it)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from ..ebxml.actions import Transaction
from ..ebxml.encode import registry_response
from ..ebxml.namespaces import FAILURE, PARTIAL_SUCCESS, SUCCESS
from ..model.errors import RegistryError, RegistryFailure
from ..soap.endpoint import Handler, Operation
from ..soap.message import SoapResponse

log = logging.getLogger("xds_server.transactions")

_LABELS = {SUCCESS: "success", FAILURE: "failure", PARTIAL_SUCCESS: "partial_success"}


def operation(transaction: Transaction, request_element: str, response_element: str,
              handler: Handler, wsdl_name: str) -> Operation:
    """The endpoint's row for `transaction`: its actions, the body elements, the handler."""
    return Operation(transaction.name, transaction.action, transaction.response_action,
                     request_element, response_element, handler, wsdl_name=wsdl_name)


def outcome_label(status: str) -> str:
    return _LABELS.get(status, "unknown")


def registry_answer(transaction: str, request_id: str,
                    call: Callable[[], list[RegistryError]]) -> SoapResponse:
    """rs:RegistryResponse for `call`: its warnings on success, its errors on RegistryFailure."""
    try:
        errors = call()
    except RegistryFailure as failure:
        errors = failure.errors
        log.info("request_id=%s %s rejected: %s", request_id, transaction,
                 "; ".join(f"{e.code}: {e.context}" for e in errors[:5]))
    payload = registry_response(errors)
    return SoapResponse(payload, outcome=outcome_label(payload.get("status")))
