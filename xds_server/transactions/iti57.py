"""ITI-57 Restricted Update Document Set (metadata update) on the registry endpoint."""

from __future__ import annotations

from ..ebxml.actions import ITI_57
from ..registry.actor import Registry
from ..soap.endpoint import Operation
from .submissions import submission_operation


def iti57_operation(registry: Registry) -> Operation:
    return submission_operation(ITI_57,
                                "DocumentRegistry_UpdateDocumentSet", registry.update)
