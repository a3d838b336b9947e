"""The document registry actor: what ITI-42 and ITI-18 (and the CLI) call."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import IntegrityError, OperationalError

from ..ebxml.query import AdhocQuery
from ..model.metadata import Submission
from ..security.principal import Principal
from ..store import access_store
from ..store import registry_store as store
from ..store.database import ReadConnection
from ..validation.errors import ErrorCode, RegistryError, RegistryFailure, error
from ..validation.profiles import IHE, MetadataProfile
from .query_policy import readable, removable
from .register import RegistryWriter
from .remove import RegistryRemover
from .stored_queries import StoredQueries
from .update import MetadataUpdater


class Registry:
    def __init__(self, engine: Engine, max_leaf_class_results: int = 1000,
                 profile: MetadataProfile = IHE, disclose_masked_count: bool = False,
                 reads: ReadConnection | None = None,
                 max_answer_bytes: int = 16 * 2**20,
                 submission_check: Callable[[Submission], list[RegistryError]] | None = None
                 ) -> None:
        """`reads`: the kept read connection, shared with the repository in one process;
        `max_answer_bytes`: the largest LeafClass answer built (the envelope limit);
        `submission_check`: run on every registration (the signed set's metadata part)."""
        self.engine = engine
        self.profile = profile
        self.submission_check = submission_check
        self.writer = RegistryWriter(engine, profile)
        self.updater = MetadataUpdater(self.writer)
        self.remover = RegistryRemover(engine)
        self.queries = StoredQueries(engine, max_leaf_class_results, disclose_masked_count,
                                     reads or ReadConnection(engine), max_answer_bytes)

    def register(self, submission: Submission, principal: Principal,
                 decode_errors: list[RegistryError] | None = None,
                 within: Callable[[Connection], None] | None = None) -> list[RegistryError]:
        """Warnings on success; RegistryFailure otherwise (nothing stored)."""
        if self.submission_check is not None:
            decode_errors = [*(decode_errors or []), *self.submission_check(submission)]
        return self._writing(lambda: self.writer.register(submission, principal, decode_errors,
                                                          within),
                             principal, "C", _patient_of(submission))

    def update(self, submission: Submission, principal: Principal,
               decode_errors: list[RegistryError] | None = None) -> list[RegistryError]:
        """ITI-57: new versions and status changes; RegistryFailure otherwise."""
        return self._writing(lambda: self.updater.update(submission, principal, decode_errors),
                             principal, "U", _patient_of(submission))

    def remove(self, object_ids: list[str], principal: Principal) -> list[RegistryError]:
        """ITI-62: remove the objects for good; RegistryFailure otherwise (nothing removed)."""
        def write() -> list[RegistryError]:
            self.remover.remove(object_ids, principal)
            return []

        return self._writing(write, principal, "D", None)

    def _audit_refusal(self, principal: Principal, action: str, patient: str | None) -> None:
        try:
            with self.engine.begin() as connection:
                access_store.audit(connection, principal, action, "failure",
                                   store.patient_key(patient) if patient else None)
        except OperationalError:
            pass  # the database is down: the refusal itself is still answered and logged

    def readable_documents(self, principal: Principal, unique_ids: list[str]) -> set[str]:
        """The uniqueIds among these that this caller may read (ITI-43 asks before serving)."""
        if principal.is_system:
            return set(unique_ids)
        with self.engine.connect() as connection:
            return readable(connection, principal, unique_ids)

    def removable_documents(self, principal: Principal, unique_ids: list[str]
                            ) -> tuple[set[str], set[str]]:
        """(the uniqueIds among these this caller sees, those of them they may remove): ITI-86
        asks before removing bytes, by the registry's rule (ITI-62's)."""
        if principal.is_system:
            return set(unique_ids), set(unique_ids)
        with self.engine.connect() as connection:
            return removable(connection, principal, unique_ids)

    def _writing(self, write: Callable[[], list[RegistryError]], principal: Principal,
                 action: str, patient: str | None) -> list[RegistryError]:
        """Run a write; a refused one is audited too, in its own transaction."""
        try:
            return write()
        except RegistryFailure:
            self._audit_refusal(principal, action, patient)
            raise
        except IntegrityError:
            # Two sources raced with the same entryUUID: the loser learns it precisely.
            raise RegistryFailure([error(ErrorCode.REGISTRY_METADATA_ERROR,
                                         "an entryUUID of this submission was registered by a "
                                         "concurrent submission", "entryUUID")]) from None
        except OperationalError:
            raise RegistryFailure([error(ErrorCode.REGISTRY_BUSY,
                                         "the registry database is unavailable; retry later",
                                         "")]) from None

    def query(self, adhoc: AdhocQuery, principal: Principal) -> list[bytes]:
        """The matching objects, serialised (LeafClass or ObjectRef)."""
        return self.query_with_notices(adhoc, principal)[0]

    def query_with_notices(self, adhoc: AdhocQuery, principal: Principal
                           ) -> tuple[list[bytes], list[RegistryError]]:
        """The matching objects and the warnings that go with them."""
        try:
            return self.queries.run_with_notices(adhoc, principal)
        except OperationalError:
            raise RegistryFailure([error(ErrorCode.REGISTRY_BUSY,
                                         "the registry database is unavailable; retry later",
                                         "")]) from None


def _patient_of(submission: Submission) -> str | None:
    return submission.submission_set.patient_id if submission.submission_set else None
