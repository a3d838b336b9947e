"""ITI-86 Remove Documents on the repository (IHE RMD): the bytes go once no registry entry
names them, removed by whom the repository's rows say may (actor.py keeps the rest of the
repository's transactions)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..model.errors import ErrorCode, RegistryError, error
from ..model.held import HeldDocument
from ..security.access import may_remove_held
from ..security.principal import Principal
from ..store import audit_store
from ..store import repository_store as rows
from .removal_refusal import refusal

if TYPE_CHECKING:
    from .actor import DocumentRequest, Repository


def remove(repository: Repository, requests: list[DocumentRequest],
           principal: Principal) -> tuple[list[DocumentRequest], list[RegistryError]]:
    """ITI-86: delete documents this repository holds, once no registry entry names them.

    IHE RMD removes the metadata first (ITI-62), then the bytes: bytes that a registry entry
    of any status still names are refused (a registered document is always retrievable, and
    a backup never carries an entry without its bytes). Who may remove them is decided on
    what the repository kept at ITI-41 time (`_removal_refusal`), not on the registry's
    metadata, which is gone by then.

    The registry is asked before any transaction opens (a remote registry is a network
    call: a transaction held across it would hold its locks and a pooled connection for as
    long as the registry takes); the transaction then locks the rows and checks again what
    is local (the rows, another removal may have taken them; an in-process registry's
    entries). The files leave their final names first (no retrieval serves them from then
    on), the rows go in that transaction, and the files are deleted once it committed; if
    it does not, they go back. A crash in between is settled by `recover`: a withdrawn file
    whose row is still there goes back, any other is deleted."""
    errors: list[RegistryError] = []
    asked = [r.document_unique_id for r in requests]
    held = repository.database.read(lambda uow: rows.documents(uow, asked))
    candidates = []
    for request in requests:
        refusal = _removal_refusal(repository, request,
                                   held.get(request.document_unique_id), principal)
        if refusal is None:
            candidates.append(request)
        else:
            errors.append(refusal)
    registered = {r.document_unique_id for r in candidates
                  if repository.registry.is_registered(r.document_unique_id)}
    removed: list[DocumentRequest] = []
    withdrawn: list[object] = []
    try:
        with repository.database.transaction() as uow:
            ids = [r.document_unique_id for r in candidates]
            now = rows.documents(uow, ids, lock=True)
            registered |= repository.registry.registered_within(uow, ids)
            for request in candidates:
                unique_id = request.document_unique_id
                row = now.get(unique_id)
                if row is None or not may_remove_held(principal, row):
                    errors.append(_not_held(request))   # removed meanwhile
                elif unique_id in registered:
                    errors.append(_still_registered(unique_id))
                else:
                    removed.append(request)
            for request in removed:
                if (held_file := repository.documents.withdraw(request.document_unique_id)) \
                        is not None:
                    withdrawn.append(held_file)
            rows.remove(uow, [r.document_unique_id for r in removed])
            audit_store.record(uow, principal, "D",
                               "success" if removed else "failure", _patient(principal),
                               [r.document_unique_id for r in removed], "ITI-86",
                               f"repository={repository.repository_unique_id}")
    except BaseException:
        for held_file in withdrawn:
            repository.documents.restore(held_file)
        raise
    for held_file in withdrawn:
        repository.documents.forget(held_file)
    return removed, errors

def _removal_refusal(repository: Repository, request: DocumentRequest,
                     row: HeldDocument | None, principal: Principal) -> RegistryError | None:
    """Why these bytes may not be removed, on what the repository holds, or None. In this
    order, so that a caller who may not remove them learns nothing (the same answer as for
    bytes never held: another patient's or another organisation's documents are not probed
    by ITI-86); whether a registry entry still names them is asked after."""
    if request.repository_unique_id != repository.repository_unique_id:
        return repository.foreign(request)
    if row is None:
        return _not_held(request)
    if not may_remove_held(principal, row):
        return refusal(repository, request, row, principal, _not_held(request))
    return None


def _still_registered(unique_id: str) -> RegistryError:
    """Bytes a registry entry still names. XDSDocumentUniqueIdError, not XDSRepositoryError:
    ITI TF-3 Table 4.2.4.1-2 has XDSRepositoryError "returned if and only if a more detailed
    code is not available", and RMD's ITI-86 (3.86.4.1.3) answers a document the repository
    does not make available for removal with XDSDocumentUniqueIdError, located on its
    uniqueId. The codeContext says what to do."""
    return error(ErrorCode.DOCUMENT_UNIQUE_ID_ERROR, f"document '{unique_id}' is still "
                 "registered: its registry entries (any status) must be removed first "
                 "(ITI-62 Remove Metadata), then its bytes", unique_id)


def _not_held(request: DocumentRequest) -> RegistryError:
    from .actor import _not_held as not_held

    return not_held(request)


def _patient(principal: Principal) -> str | None:
    from .actor import _patient as patient

    return patient(principal)
