"""Registry transactions whose request is an lcm:SubmitObjectsRequest and whose answer is an
rs:RegistryResponse (ITI-42, ITI-57): decoded once, handed to the registry with the caller."""

from __future__ import annotations

from collections.abc import Callable

from ..ebxml.actions import Transaction
from ..ebxml.decode import decode_submission
from ..ebxml.namespaces import LCM, RS
from ..model.errors import RegistryError
from ..model.metadata import Submission
from ..security.principal import Principal
from ..soap.endpoint import Operation
from ..soap.message import SoapRequest, SoapResponse
from ..soap.namespaces import qn
from .authentication import caller
from .outcome import operation, registry_answer

Write = Callable[[Submission, Principal, list[RegistryError]], list[RegistryError]]


def submission_operation(transaction: Transaction, wsdl_name: str, write: Write) -> Operation:
    def handle(request: SoapRequest) -> SoapResponse:
        decoded = decode_submission(request.payload)
        return registry_answer(transaction.name, request.request_id, lambda: write(
            decoded.submission, caller(request), decoded.errors))

    return operation(transaction, qn(LCM, "SubmitObjectsRequest"), qn(RS, "RegistryResponse"),
                     handle, wsdl_name)
