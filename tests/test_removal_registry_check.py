"""ITI-86 with the registry on another host: "is it still registered" is a network call, made
before any database transaction opens (none is held across the registry's answer), then the
transaction checks again what is local; the recovery of pending rows likewise. Bytes a
registry entry still names are refused with XDSDocumentUniqueIdError (RMD), not the generic
XDSRepositoryError."""

from __future__ import annotations

import contextlib
import dataclasses
import uuid

import pytest

from xds_server.consumer.metadata import has_member
from xds_server.model.content import Attachment
from xds_server.model.held import PENDING
from xds_server.model.metadata import Submission
from xds_server.repository.actor import DocumentRequest, Repository
from xds_server.repository.remote_registry import RemoteRegistryLink
from xds_server.security.principal import SYSTEM
from xds_server.store import repository_store as rows

from .registry_data import document, new_patient, submission_set


class Registry:
    """A registry on another host, as the repository's client sees it: each question noted
    with whether a database transaction was open when it was asked."""

    def __init__(self, transactions: list) -> None:
        self.transactions = transactions
        self.registered: set[str] = set()
        self.asked: list[tuple[str, bool]] = []

    def register(self, submission, credential) -> list:
        self.registered |= {entry.unique_id for entry in submission.documents}
        return []

    def shown_documents(self, unique_ids, credential) -> dict:
        return {}

    def is_registered(self, document_unique_id: str) -> bool:
        self.asked.append((document_unique_id, bool(self.transactions)))
        return document_unique_id in self.registered


@pytest.fixture
def split(app, monkeypatch):
    """A repository with a remote registry, on the test app's database and store."""
    open_transactions: list = []
    real = app.database.transaction

    @contextlib.contextmanager
    def tracked():
        open_transactions.append(True)
        try:
            with real() as uow:
                yield uow
        finally:
            open_transactions.pop()
    monkeypatch.setattr(app.database, "transaction", tracked)
    registry = Registry(open_transactions)
    repository = Repository(app.database, app.repository.documents,
                            app.repository.repository_unique_id,
                            RemoteRegistryLink(registry, app.database), 1 << 20)
    return repository, registry


def _provide(repository: Repository) -> str:
    patient = new_patient()
    content = f"doc {uuid.uuid4()}".encode()
    entry = document(patient, f"urn:uuid:{uuid.uuid4()}", content=content, hash=None,
                     size=None, mime_type="text/plain", repository_unique_id=None)
    package = submission_set(patient, f"urn:uuid:{uuid.uuid4()}")
    repository.provide(Submission(package, [entry], associations=[has_member(
        package.entry_uuid, entry.entry_uuid, entry_uuid=f"urn:uuid:{uuid.uuid4()}")]),
        {entry.entry_uuid: Attachment.from_bytes(content)}, SYSTEM, [])
    return entry.unique_id


def test_the_registry_is_asked_outside_any_transaction(split):
    repository, registry = split
    unique_id = _provide(repository)
    request = DocumentRequest(repository.repository_unique_id, unique_id)
    removed, errors = repository.remove([request], SYSTEM)
    assert removed == []
    assert [(e.code, e.location) for e in errors] == [("XDSDocumentUniqueIdError", unique_id)]
    assert "ITI-62" in errors[0].context     # what to do first
    registry.registered.clear()             # ITI-62 removed the metadata
    removed, errors = repository.remove([request], SYSTEM)
    assert (removed, errors) == ([request], [])
    assert registry.asked == [(unique_id, False), (unique_id, False)]


def test_a_row_removed_between_the_check_and_the_transaction_is_not_held(split, monkeypatch):
    """The transaction checks again what is local: a concurrent removal took the row while
    the registry was asked; this one says the document is not held, deletes nothing."""
    repository, registry = split
    unique_id = _provide(repository)
    registry.registered.clear()
    asked = registry.is_registered

    def meanwhile(document_unique_id: str) -> bool:
        with repository.database.transaction() as uow:
            rows.remove(uow, [document_unique_id])
        return asked(document_unique_id)
    monkeypatch.setattr(registry, "is_registered", meanwhile)
    removed, errors = repository.remove(
        [DocumentRequest(repository.repository_unique_id, unique_id)], SYSTEM)
    assert removed == [] and [e.code for e in errors] == ["XDSDocumentUniqueIdError"]


def test_recovery_asks_the_registry_outside_any_transaction(split):
    repository, registry = split
    kept, dropped = _provide(repository), _provide(repository)
    registry.registered.discard(dropped)
    with repository.database.transaction() as uow:   # both left pending by a crash
        held = rows.documents(uow, [kept, dropped])
        rows.remove(uow, [kept, dropped])
        rows.add_documents(uow, [dataclasses.replace(row, state=PENDING)
                                 for row in held.values()])
    registry.asked.clear()
    settled = repository.recover()
    assert (settled["registered"], settled["abandoned"]) == (1, 1)
    assert sorted(registry.asked) == sorted([(kept, False), (dropped, False)])
    assert set(repository.database.read(lambda uow: rows.documents(uow, [kept, dropped]))) \
        == {kept}
