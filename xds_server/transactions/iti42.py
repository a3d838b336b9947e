"""ITI-42 Register Document Set-b on the registry endpoint."""

from __future__ import annotations

from ..ebxml.actions import ITI_42
from ..registry.actor import Registry
from ..soap.endpoint import Operation
from .submissions import submission_operation


def iti42_operation(registry: Registry) -> Operation:
    return submission_operation(ITI_42,
                                "DocumentRegistry_RegisterDocumentSet-b", registry.register)
