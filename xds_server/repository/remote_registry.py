"""The repository's link to a registry on another host (XDS_REGISTRY_URL).

The repository's records are written 'pending' before the registry is asked and marked
committed after its Success, so a crash in between is settled later by asking the registry
(`is_registered`). Registry errors come back to the source unchanged.

An authenticated caller acts through the repository with their own credential: what proved
them (the principal's `credential`) goes with the registration, and with the question the
repository asks before serving (ITI-43) bytes. So the access decision is the registry's, on its
facts: what the registry does not show this caller, the repository does not serve. Removal
(ITI-86) comes after the registry's metadata is gone (ITI-62): the repository decides on who
stored the bytes (its own rows) and asks the registry only whether an entry still names them.

How the registry is spoken to is a `RegistryClient`'s business (consumer/registry_client.py:
ITI-42 and ITI-18 over SOAP); this module knows no wire format.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from ..model.errors import RegistryError, RegistryFailure
from ..model.held import PENDING, HeldDocument
from ..model.metadata import Submission
from ..security.principal import Principal
from ..store import repository_store as rows
from ..store.database import Database, UnitOfWork


class RegistryClient(Protocol):
    def register(self, submission: Submission, credential: Any) -> list[RegistryError]:
        """Register on the caller's behalf: the registry's warnings, or RegistryFailure with
        its errors (or with why it could not be asked)."""
        ...

    def shown_documents(self, unique_ids: Sequence[str],
                        credential: Any) -> dict[str, frozenset[str]]:
        """The documents among these the registry shows this caller, with their authors'
        national ids; nothing when it cannot be asked or refuses."""
        ...

    def is_registered(self, document_unique_id: str) -> bool: ...


class RemoteRegistryLink:
    checks_resubmissions = False  # its records are written before the registry is asked

    def __init__(self, client: RegistryClient, database: Database) -> None:
        self.client = client
        self.database = database

    def register(self, submission: Submission, principal: Principal,
                 decode_errors: list[RegistryError], records: list[HeldDocument],
                 within: Callable[[UnitOfWork], None] | None = None) -> list[RegistryError]:
        if any(e.is_error for e in decode_errors):
            raise RegistryFailure(decode_errors)
        with self.database.transaction() as uow:
            rows.add_documents(uow, [dataclasses.replace(record, state=PENDING)
                                     for record in records])
        unique_ids = [record.unique_id for record in records]
        try:
            warnings = self.client.register(submission, principal.credential)
        except BaseException:
            with self.database.transaction() as uow:
                rows.remove(uow, unique_ids)
            raise
        with self.database.transaction() as uow:
            rows.mark_committed(uow, unique_ids)
            if within is not None:      # after the remote registry's Success: its own step
                within(uow)
        return [*decode_errors, *warnings]

    def readable_documents(self, principal: Principal, unique_ids: list[str]) -> set[str]:
        return set(self.client.shown_documents(unique_ids, principal.credential))

    def is_registered(self, document_unique_id: str) -> bool:
        return self.client.is_registered(document_unique_id)

    def registered_within(self, uow: UnitOfWork, unique_ids: list[str]) -> set[str]:
        return set()    # nothing of the registry is local: asked before the transaction

