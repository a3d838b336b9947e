"""How the repository registers what it stores: the in-process registry, or a registry on
another host (remote_registry.py).

`records` are the repository's own records of the documents being stored; a link commits them
exactly when the registry accepts the submission (see actor.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from ..model.errors import RegistryError
from ..model.held import HeldDocument
from ..model.metadata import Submission
from ..registry.actor import Registry
from ..security.principal import Principal
from ..store import registry_store
from ..store import repository_store as rows
from ..store.database import UnitOfWork

# what a front writes in the registration's transaction (the HL7 v2 message log)
Within = Callable[[UnitOfWork], None]


class RegistryLink(Protocol):
    # True when the link itself refuses a uniqueId resubmitted with other bytes, so the
    # repository need not look first (the in-process registry does, in the same transaction).
    checks_resubmissions: bool

    def register(self, submission: Submission, principal: Principal,
                 decode_errors: list[RegistryError], records: list[HeldDocument],
                 within: Within | None = None) -> list[RegistryError]: ...

    def is_registered(self, document_unique_id: str) -> bool: ...

    def registered_within(self, uow: UnitOfWork, unique_ids: list[str]) -> set[str]:
        """Those of these uniqueIds the registry registers, as seen in the repository's own
        transaction: what an in-process registry holds (a remote one is asked before the
        transaction, with `is_registered`, and has nothing local to tell: empty)."""
        ...


class InProcessRegistryLink:
    """Registry and repository in one database: one transaction holds both."""

    checks_resubmissions = True

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def register(self, submission: Submission, principal: Principal,
                 decode_errors: list[RegistryError], records: list[HeldDocument],
                 within: Within | None = None) -> list[RegistryError]:
        def in_transaction(uow: UnitOfWork) -> None:
            rows.add_documents(uow, records, if_absent=True)
            if within is not None:
                within(uow)

        return self.registry.register(submission, principal, decode_errors,
                                      within=in_transaction, stored=records)

    def is_registered(self, document_unique_id: str) -> bool:
        return self.registry.holds_document(document_unique_id)

    def registered_within(self, uow: UnitOfWork, unique_ids: list[str]) -> set[str]:
        return {entry.unique_id for entry in
                registry_store.find_by_unique_ids(uow, unique_ids, "document")}
