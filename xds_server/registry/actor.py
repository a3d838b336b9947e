"""The document registry actor: register (ITI-42), query (ITI-18), update (ITI-57), remove
(ITI-62), and the access decision on documents the repository asks. Typed requests in (model
objects, model/stored_queries.py), model records out (model/registered.py); every front
(transactions/ for SOAP, the coming FHIR and HL7 v2 ones, the CLI) is an adapter over it.

It knows no wire format: the registered form of each object is the `StoredForm` a front gives
it (ebxml/stored.py), kept opaque; and no database: the store's functions, on units of work.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial

from ..model import vocabulary as v
from ..model.errors import ErrorCode, RegistryError, RegistryFailure, StorageFull, error
from ..model.held import HeldDocument
from ..model.hl7 import patient_key
from ..model.metadata import Submission
from ..model.query_check import check as check_query
from ..model.registered import DocumentRecord
from ..model.stored_queries import StoredQuery
from ..security.principal import Principal
from ..store import audit_store
from ..store import registry_store as store
from ..store.database import (
    Database,
    StoreConflict,
    StoreFull,
    StoreUnavailable,
    UnitOfWork,
)
from ..validation.profiles import IHE, MetadataProfile
from . import signed_sets
from .query_policy import readable
from .register import RegistryWriter
from .remove import RegistryRemover
from .repositories import RepositoryRules
from .stored_form import StoredForm
from .stored_queries import QueryAnswer, StoredQueries
from .update import MetadataUpdater

BUSY = "the registry database is unavailable; retry later"
STORAGE_FULL = "the registry's storage is full: nothing was registered; retry once the " \
    "operator has freed space"
log = logging.getLogger("xds_server.registry")


class Registry:
    def __init__(self, database: Database, stored_form: StoredForm,
                 max_leaf_class_results: int = 1000, profile: MetadataProfile = IHE,
                 disclose_masked_count: bool = False,
                 submission_check: Callable[[Submission], list[RegistryError]] | None = None,
                 repositories: RepositoryRules | None = None) -> None:
        """`submission_check`: run on every registration (the signed set's metadata part,
        dsig/metadata.py, given by the wiring); `repositories`: which repositories' entries
        it registers (repositories.py; None: any, as a bare registry in tests)."""
        self.database = database
        self.repositories = repositories
        self.profile = profile
        self.submission_check = submission_check
        self.writer = RegistryWriter(database, stored_form, profile)
        signed = repositories is not None and repositories.signature_required
        self.updater = MetadataUpdater(self.writer, signed)
        self.remover = RegistryRemover(database, signed)
        self.queries = StoredQueries(database, max_leaf_class_results, disclose_masked_count)

    def register(self, submission: Submission, principal: Principal,
                 decode_errors: list[RegistryError] | None = None,
                 within: Callable[[UnitOfWork], None] | None = None,
                 stored: list[HeldDocument] | None = None) -> list[RegistryError]:
        """Warnings on success; RegistryFailure otherwise (nothing stored). `within` runs in
        the registration's transaction (the repository records its documents there);
        `stored`: the rows this process's repository writes there (its ITI-41), None for an
        ITI-42 from outside, whose entries are held to what repositories.py says."""
        if self.submission_check is not None:
            decode_errors = [*(decode_errors or []), *self.submission_check(submission)]
        rules = self.repositories
        held: Callable[[UnitOfWork], list[RegistryError]] | None = None
        if rules is not None:
            decode_errors = [*(decode_errors or []), *rules.before(submission, principal)]
            if not any(e.is_error for e in decode_errors):
                decode_errors += rules.verified(self.database, submission, principal, stored)
            if rules.signature_required and signed_sets.unsigned_replacement(submission) and \
                    not any(e.is_error for e in decode_errors):
                decode_errors += self.database.read(
                    lambda uow: signed_sets.replacement_errors(uow, submission))
            held = partial(rules.held, submission=submission, stored=stored)
        # rule K (signed_state.py): a replacement changes an existing document's status
        watched = rules is not None and rules.signature_required and \
            any(a.type in v.REPLACING for a in submission.associations)
        signed = rules is not None and rules.signature_required
        return self._writing(lambda: self.writer.register(submission, principal, decode_errors,
                                                          within, held, watched, signed),
                             principal, "C", _patient_of(submission))

    def update(self, submission: Submission, principal: Principal,
               decode_errors: list[RegistryError] | None = None,
               within: Callable[[UnitOfWork], None] | None = None) -> list[RegistryError]:
        """ITI-57: new versions and status changes; RegistryFailure otherwise. `within` runs
        in the update's transaction."""
        rules = self.repositories
        held = None if rules is None else partial(rules.held, submission=submission)
        if rules is not None:
            decode_errors = [*(decode_errors or []), *rules.update_errors(submission)]
        return self._writing(lambda: self.updater.update(submission, principal, decode_errors,
                                                         within, held),
                             principal, "U", _patient_of(submission))

    def remove(self, object_ids: list[str], principal: Principal) -> list[RegistryError]:
        """ITI-62: remove the objects for good; RegistryFailure otherwise (nothing removed)."""
        def write() -> list[RegistryError]:
            self.remover.remove(object_ids, principal)
            return []

        return self._writing(write, principal, "D", None)

    def query(self, query: StoredQuery, principal: Principal,
              audit_empty: bool = True) -> QueryAnswer:
        """What the query finds that this caller may see, with the warnings that go with it;
        RegistryFailure otherwise (a query built by a front is held to the IHE parameter
        rules as a parsed one is: model/query_check.py). `audit_empty` False: an answer with
        nothing in it is not audited (a front's lookup that audits its own outcome)."""
        check_query(query)
        try:
            return self.queries.run(query, principal, audit_empty)
        except StoreUnavailable:
            raise RegistryFailure([error(ErrorCode.REGISTRY_BUSY, BUSY, "")]) from None

    def registered_documents(self, unique_ids: list[str]) -> dict[str, DocumentRecord]:
        """The registered documents with these uniqueIds, whoever's, by uniqueId: a front's own
        lookup before it acts (which document a replacement or deletion names, whether a
        message sent again was done already), not a consumer's query, so not audited."""
        with self.database.reading() as uow:
            by_patient: dict[str, list[str]] = {}
            for entry in store.find_by_unique_ids(uow, unique_ids, "document"):
                by_patient.setdefault(entry.patient_id, []).append(entry.entry_uuid)
            return {record.unique_id: record for patient, uuids in by_patient.items()
                    for record in store.objects(uow, "document", patient, uuids)}

    def holds_document(self, document_unique_id: str) -> bool:
        """Whether a document with this uniqueId is registered (a repository's recovery asks)."""
        with self.database.reading() as uow:
            return bool(store.find_by_unique_ids(uow, [document_unique_id], "document"))

    def readable_documents(self, principal: Principal, unique_ids: list[str]) -> set[str]:
        """The uniqueIds among these that this caller may read (ITI-43 asks before serving)."""
        if principal.is_system:
            return set(unique_ids)
        with self.database.reading() as uow:
            return readable(uow, principal, unique_ids)

    def _writing(self, write: Callable[[], list[RegistryError]], principal: Principal,
                 action: str, patient: str | None) -> list[RegistryError]:
        """Run a write; a refused one is audited too, in its own transaction."""
        try:
            return write()
        except RegistryFailure:
            self._audit_refusal(principal, action, patient)
            raise
        except StoreConflict:
            # Two sources raced with the same entryUUID: the loser learns it precisely.
            raise RegistryFailure([error(ErrorCode.REGISTRY_METADATA_ERROR,
                                         "an entryUUID of this submission was registered by a "
                                         "concurrent submission", "entryUUID")]) from None
        except StoreFull as exc:
            # not a moment's unavailability: the operator must free space (monitoring.md)
            log.error("registry storage full: %s: writes are refused until space is freed",
                      exc)
            raise StorageFull([error(ErrorCode.REGISTRY_ERROR, STORAGE_FULL, "")]) from None
        except StoreUnavailable:
            raise RegistryFailure([error(ErrorCode.REGISTRY_BUSY, BUSY, "")]) from None

    def _audit_refusal(self, principal: Principal, action: str, patient: str | None) -> None:
        try:
            with self.database.transaction() as uow:
                # labelled as a success would be (ITI-42, ITI-57, ITI-62) when the front did
                # not name the transaction (the HL7 v2 front): not '-'
                audit_store.record(uow, principal, action, "failure",
                                   patient_key(patient) if patient else None,
                                   transaction=WRITES_AUDITED_AS.get(action, ""))
        except StoreUnavailable:
            pass  # the database is down: the refusal itself is still answered and logged


WRITES_AUDITED_AS = {"C": "ITI-42", "U": "ITI-57", "D": "ITI-62"}


def _patient_of(submission: Submission) -> str | None:
    return submission.submission_set.patient_id if submission.submission_set else None
