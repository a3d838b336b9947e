"""How the repository registers what it stores: the in-process registry, or a remote one.

`records` are the repository's own rows for the documents being stored; a link commits them
exactly when the registry accepts the submission (see repository/actor.py).
"""

from __future__ import annotations

from typing import Protocol

from sqlalchemy import Connection

from ..model.metadata import Submission
from ..registry.actor import Registry
from ..security.principal import Principal
from ..store import registry_store
from ..store import repository_store as rows
from ..validation.errors import RegistryError


class RegistryLink(Protocol):
    # True when the link itself refuses a uniqueId resubmitted with other bytes, so the
    # repository need not look first (the in-process registry does, in the same transaction).
    checks_resubmissions: bool

    def register(self, submission: Submission, principal: Principal,
                 decode_errors: list[RegistryError], records: list[dict]
                 ) -> list[RegistryError]: ...

    def is_registered(self, document_unique_id: str) -> bool: ...


class InProcessRegistryLink:
    """Registry and repository in one database: one transaction holds both."""

    checks_resubmissions = True

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def register(self, submission: Submission, principal: Principal,
                 decode_errors: list[RegistryError], records: list[dict]
                 ) -> list[RegistryError]:
        def store_records(connection: Connection) -> None:
            for record in records:
                rows.add_document(connection, if_absent=True, **record)

        return self.registry.register(submission, principal, decode_errors, within=store_records)

    def is_registered(self, document_unique_id: str) -> bool:
        with self.registry.engine.connect() as connection:
            return bool(registry_store.find_by_unique_ids(connection, [document_unique_id],
                                                          "document"))
