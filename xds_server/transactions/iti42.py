"""ITI-42 Register Document Set-b on the registry endpoint."""

from __future__ import annotations

from ..registry.actor import Registry
from ..soap.endpoint import Operation
from .submissions import submission_operation

ACTION = "urn:ihe:iti:2007:RegisterDocumentSet-b"
RESPONSE_ACTION = "urn:ihe:iti:2007:RegisterDocumentSet-bResponse"


def iti42_operation(registry: Registry) -> Operation:
    return submission_operation("ITI-42", ACTION, RESPONSE_ACTION,
                                "DocumentRegistry_RegisterDocumentSet-b", registry.register)
