"""ITI-57 Restricted Update Document Set (metadata update) on the registry endpoint."""

from __future__ import annotations

from ..registry.actor import Registry
from ..soap.endpoint import Operation
from .submissions import submission_operation

ACTION = "urn:ihe:iti:2010:UpdateDocumentSet"
RESPONSE_ACTION = "urn:ihe:iti:2010:UpdateDocumentSetResponse"


def iti57_operation(registry: Registry) -> Operation:
    return submission_operation("ITI-57", ACTION, RESPONSE_ACTION,
                                "DocumentRegistry_UpdateDocumentSet", registry.update)
