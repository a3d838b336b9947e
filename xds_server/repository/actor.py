"""The document repository actor: Provide and Register (ITI-41) and Retrieve (ITI-43).

Order of a provide, so that a registered document is always retrievable and no bytes are
visible without registration, whatever moment the process dies at:

1. each document is staged (written, fsynced) under the repository's staging directory;
2. the registry registers the metadata; in-process, the repository's rows commit in the same
   database transaction; with a remote registry the rows are written 'pending' first and marked
   committed after the registry's Success;
3. only then are staged files renamed into place.

A document the store can open is therefore a committed document, and a retrieval serves it from
the document store alone (the mime type is kept with the bytes); the database is asked only for
a document the store cannot open. A removal (ITI-86) withdraws the document from the store
before its rows' deletion commits, and has the store forget it after.

The bytes live behind the `DocumentStore` protocol (document_store.py): the filesystem store
(store/documents.py) is one implementation; this module knows no path.

`recover()` (run before the server takes requests) finishes what a crash interrupted: staged
documents whose rows committed are made visible, the others are dropped, and pending rows are
settled by asking the remote registry.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Protocol

from ..model import vocabulary as v
from ..model.content import Attachment
from ..model.errors import ErrorCode, RegistryError, RegistryFailure, error
from ..model.held import COMMITTED, HeldDocument
from ..model.hl7 import patient_key
from ..model.metadata import DocumentEntry, Submission
from ..security.principal import Principal
from ..store import audit_store
from ..store import repository_store as rows
from ..store.audit_writer import ReadAuditWriter
from ..store.database import Database, StoreUnavailable
from . import read_audit
from .document_store import DocumentStore, StagedDocument
from .read_audit import REFUSED_BY_POLICY, UNKNOWN_DOCUMENT, UNKNOWN_REPOSITORY, Unserved
from .registry_link import RegistryLink, Within
from .storage_room import StorageRoom, full, is_full

log = logging.getLogger("xds_server.repository")
REPO_META = ErrorCode.REPOSITORY_METADATA_ERROR


class DocumentPolicy(Protocol):
    """The registry's access decision on documents, by uniqueId (security/access.py rules,
    applied to the registry's facts): the in-process registry is one."""

    def readable_documents(self, principal: Principal, unique_ids: list[str]) -> set[str]: ...


class ContentCheck(Protocol):
    """Checks a document's bytes against its DocumentEntry (the CI-SIS CDA checks)."""

    def __call__(self, entry: DocumentEntry, name: str,
                 attachment: Attachment) -> list[RegistryError]: ...


class SubmissionCheck(Protocol):
    """Checks a whole submission and its documents' bytes (by entryUUID): the signed
    submission set (dsig/check.py)."""

    def __call__(self, submission: Submission, documents: dict[str, Attachment],
                 principal: Principal) -> list[RegistryError]: ...


class SourceSigner(Protocol):
    """Signs a submission set on behalf of its source (dsig/produce.py with the fronts' seal):
    adds the signature document to `submission` and `documents` (by entryUUID) and returns
    its uniqueId and who signed, for the audit."""

    def __call__(self, submission: Submission, documents: dict[str, Attachment]
                 ) -> tuple[str, str]: ...


@dataclass(frozen=True)
class DocumentRequest:
    repository_unique_id: str
    document_unique_id: str
    home_community_id: str | None = None


@dataclass
class RetrievedDocument:
    request: DocumentRequest
    mime_type: str
    content: Attachment


class Repository:
    def __init__(self, database: Database, documents: DocumentStore, repository_unique_id: str,
                 registry: RegistryLink, max_document_bytes: int,
                 content_check: ContentCheck | None = None,
                 policy: DocumentPolicy | None = None,
                 submission_check: SubmissionCheck | None = None,
                 source_signer: SourceSigner | None = None,
                 room: StorageRoom | None = None) -> None:
        """`policy` says which documents a caller may read or remove (the in-process
        registry's access decision). Without it (a remote registry holds the facts) only the
        system principal (XDS_SECURITY=none) retrieves or removes: an authenticated caller
        cannot be decided for, so is refused."""
        self.database = database
        self.documents = documents
        self.repository_unique_id = repository_unique_id
        self.registry = registry
        self.max_document_bytes = max_document_bytes
        self.content_check = content_check
        self.policy = policy
        self.audit_writer = ReadAuditWriter(database)
        self.submission_check = submission_check
        self.source_signer = source_signer
        self.room = room

    # --- ITI-41 -------------------------------------------------------------------------------

    def _sign(self, submission: Submission, documents: dict[str, Attachment],
              principal: Principal, within: Within | None) -> Within:
        """Sign the set; the registration's transaction records who signed it."""
        assert self.source_signer is not None and submission.submission_set is not None
        unique_id, signer = self.source_signer(submission, documents)
        detail = (f"submission_set={submission.submission_set.unique_id}\n"
                  f"signed_on_behalf_by={signer}")
        patient = patient_key(submission.submission_set.patient_id)

        def recorded(uow) -> None:
            audit_store.record(uow, principal, "C", "success", patient, [unique_id], "", detail)
            if within is not None:
                within(uow)
        return recorded

    def provide(self, submission: Submission, documents: dict[str, Attachment],
                principal: Principal,
                decode_errors: list[RegistryError],
                within: Within | None = None,
                on_behalf_of_source: bool = False) -> list[RegistryError]:
        """Store and register; warnings on success, RegistryFailure otherwise (nothing kept).

        `documents` maps each Document/@id to its bytes; ids are resolved through the
        submission's symbolic ids. `within` runs in the registration's transaction when the
        registry is in-process (the HL7 v2 front logs its message there), after it otherwise.
        `on_behalf_of_source`: a front that made the submission set itself (HL7 v2, FHIR) asks
        for it to be signed with the fronts' seal, when one is configured and the set is not
        signed already; the audit says so. A SOAP source signs its own sets."""
        staged: list[tuple[DocumentEntry, StagedDocument]] = []
        try:
            if on_behalf_of_source and self.source_signer is not None \
                    and not _signed(submission):
                within = self._sign(submission, documents, principal, within)
            entries = self._match(submission, documents, principal)
            existing = set() if self.registry.checks_resubmissions \
                else self._check_existing(entries)
            new = [(entry, attachment) for entry, attachment in entries
                   if entry.unique_id not in existing]   # the others: a resubmission, held
            if new:
                if self.room is not None:
                    self.room.check(sum(attachment.size for _, attachment in new))
                try:
                    written = self.documents.stage_all(
                        [(e.unique_id, a, e.mime_type) for e, a in new])
                except OSError as exc:
                    if not is_full(exc):
                        raise
                    log.error("repository storage full: %s: submissions are refused until "
                              "space is freed", exc)
                    raise full() from None
                staged = list(zip([entry for entry, _ in new], written, strict=True))
        except RegistryFailure:
            for _, document in staged:
                self.documents.discard(document)
            package = submission.submission_set
            self.audit_refusal(principal, package.patient_id if package is not None else None)
            raise
        try:
            warnings = self.registry.register(
                submission, principal, decode_errors,
                records=[_record(entry, document, principal, submission)
                         for entry, document in staged],
                within=within)
        except BaseException:
            for _, document in staged:
                self.documents.discard(document)
            raise
        for _, document in staged:
            self.documents.commit(document)
        return warnings

    def audit_refusal(self, principal: Principal, patient: str | None) -> None:
        """The record of a provide refused before the registry was asked: by the repository's
        own checks (the documents' content, their patient, the storage room) or by a front
        before it could make a submission (a FHIR Bundle that is not one). The registry
        records the refusals it makes itself; with these, every refused provide of every
        front leaves one record (issue 18 R8). It names the patient the submission named, as
        the registry's refusal does (None when there was no submission to name one)."""
        try:
            with self.database.transaction() as uow:
                audit_store.record(uow, principal, "C", "failure",
                                   patient_key(patient) if patient else None,
                                   transaction="ITI-41")   # the front's name comes first
        except StoreUnavailable:
            pass  # the database is down: the refusal itself is still answered and logged

    def _match(self, submission: Submission, documents: dict[str, Attachment],
               principal: Principal) -> list[tuple[DocumentEntry, Attachment]]:
        """Pair entries with documents; compute size and hash; refuse what does not fit
        (the submission check, the signed set's, sees every pair and reports beside the
        content checks)."""
        errors: list[RegistryError] = []
        by_uuid = {submission.symbolic_ids.get(doc_id, doc_id): (doc_id, attachment)
                   for doc_id, attachment in documents.items()}
        entries = {entry.entry_uuid: entry for entry in submission.documents}
        pairs = []
        for entry_uuid, entry in entries.items():
            name = submission.source_name(entry_uuid)
            if entry_uuid not in by_uuid:
                errors.append(error(ErrorCode.MISSING_DOCUMENT,
                                    f"DocumentEntry {name} has no Document element with "
                                    f"id='{name}' in the request", "Document"))
                continue
            attachment = by_uuid[entry_uuid][1]
            errors += self._complete(entry, name, attachment)
            if self.content_check is not None and attachment.size <= self.max_document_bytes:
                errors += self.content_check(entry, name, attachment)
            pairs.append((entry, attachment))
        for entry_uuid, (doc_id, _) in by_uuid.items():
            if entry_uuid not in entries:
                errors.append(error(ErrorCode.MISSING_DOCUMENT_METADATA,
                                    f"Document id='{doc_id}' has no DocumentEntry "
                                    "(ExtrinsicObject) with that id", "Document/@id"))
        if not submission.documents and not documents and submission.submission_set is None:
            errors.append(error(REPO_META, "the request holds no metadata", ""))
        if self.submission_check is not None and len(pairs) == len(entries) == len(by_uuid):
            errors += self.submission_check(submission, {e.entry_uuid: a for e, a in pairs},
                                            principal)
        if errors:
            raise RegistryFailure(errors)
        return pairs

    def _complete(self, entry: DocumentEntry, name: str,
                  attachment: Attachment) -> list[RegistryError]:
        """The repository's own values: size and hash checked against the source's (ITI TF-2b
        3.41.4.1.3), repositoryUniqueId added or replaced: a source may fill it in (the NIST
        toolkit's 12344 does), and the repository that stores the bytes is the one named."""
        errors = []
        if attachment.size > self.max_document_bytes:
            errors.append(error(ErrorCode.REPOSITORY_ERROR,
                                f"DocumentEntry {name}: the document is {attachment.size} bytes, "
                                f"over the limit of {self.max_document_bytes} "
                                "(XDS_MAX_DOCUMENT_BYTES)", "Document"))
        checks = (("size", entry.size, str(attachment.size)),
                  ("hash", (entry.hash or "").lower() or None, attachment.sha1))
        for field, given, actual in checks:
            if given is not None and given != actual:
                errors.append(error(REPO_META, f"DocumentEntry {name}: {field} '{given}' given "
                                               f"by the source, but this repository has "
                                               f"'{actual}'", f"DocumentEntry.{field}"))
        entry.size = str(attachment.size)
        entry.hash = attachment.sha1
        entry.repository_unique_id = self.repository_unique_id
        if not entry.mime_type:
            entry.mime_type = attachment.content_type.split(";")[0].strip()
        return errors

    def _check_existing(self, entries: list[tuple[DocumentEntry, Attachment]]) -> set[str]:
        """uniqueIds already held with the same bytes; different bytes are refused."""
        if not entries:
            return set()
        unique_ids = [e.unique_id for e, _ in entries]
        held = self.database.read(lambda uow: rows.documents(uow, unique_ids))
        errors = []
        for entry, attachment in entries:
            row = held.get(entry.unique_id)
            if row is not None and row.hash != attachment.sha1:
                errors.append(error(ErrorCode.NON_IDENTICAL_HASH,
                                    f"document uniqueId '{entry.unique_id}' is already held with "
                                    f"hash {row.hash}; this one has {attachment.sha1}",
                                    "DocumentEntry.uniqueId"))
        if errors:
            raise RegistryFailure(errors)
        return {e.unique_id for e, _ in entries if e.unique_id in held}

    # --- ITI-43 -------------------------------------------------------------------------------

    def retrieve(self, requests: list[DocumentRequest], principal: Principal,
                 transaction: str = "ITI-43"
                 ) -> tuple[list[RetrievedDocument], list[RegistryError]]:
        found: list[RetrievedDocument] = []
        errors: list[RegistryError] = []
        wanted = [r.document_unique_id for r in requests
                  if r.repository_unique_id == self.repository_unique_id]
        refused: set[str] = set()
        if not principal.is_system:          # hidden = not held, to this caller
            allowed = self.policy.readable_documents(principal, wanted) \
                if self.policy is not None else set()
            refused = {unique_id for unique_id in wanted if unique_id not in allowed}
            wanted = [unique_id for unique_id in wanted if unique_id in allowed]
        in_place = {unique_id: content for unique_id in wanted
                    if (content := self.documents.open(unique_id)) is not None}
        asked = [unique_id for unique_id in wanted if unique_id not in in_place]
        held = self.database.read(lambda uow: rows.documents(uow, asked)) \
            if asked else {}
        unserved: list[Unserved] = []
        for request in requests:
            if request.repository_unique_id != self.repository_unique_id:
                errors.append(self.foreign(request))
                unserved.append(Unserved(request.document_unique_id,
                                         request.repository_unique_id, UNKNOWN_REPOSITORY))
                continue
            document = self._held(request, in_place, held)
            if document is None:
                errors.append(_not_held(request))
                unserved.append(Unserved(request.document_unique_id,
                                         request.repository_unique_id, UNKNOWN_DOCUMENT))
            else:
                found.append(document)
        self._audit_read(principal, transaction, found, unserved, refused)
        return found, errors

    def _audit_read(self, principal: Principal, transaction: str,
                    found: list[RetrievedDocument], unserved: list[Unserved],
                    refused: set[str]) -> None:
        """The records of a retrieval (read_audit.py): a refused or failed read names what
        was asked, whose it is and why it was not served, as the caller was told nothing."""
        served = [d.request.document_unique_id for d in found]

        def made(uow) -> list[read_audit.Record]:
            owners = rows.documents(uow, [u.document_unique_id for u in unserved]) \
                if unserved else {}
            reasons = [Unserved(u.document_unique_id, u.repository_unique_id,
                                REFUSED_BY_POLICY)
                       if u.reason == UNKNOWN_DOCUMENT and u.document_unique_id in refused
                       and u.document_unique_id in owners else u for u in unserved]
            return read_audit.records(principal, transaction, self.repository_unique_id,
                                      served, reasons, owners)
        if principal.is_system:     # no VIHF: the network caller, off the request path
            made_records = self.database.read(made) if unserved else made(None)
            for record in made_records:
                self.audit_writer.record(*record)
        else:   # an authenticated caller's reads and refusals are recorded before answering
            with self.database.transaction() as uow:
                made_records = made(uow)
                for record in made_records:
                    audit_store.record(uow, *record)
        read_audit.log_unserved(principal, transaction,
                                [r for r in made_records if "\noutcome=" in r[6]])

    def _held(self, request: DocumentRequest, in_place: dict[str, Attachment],
              held: dict[str, HeldDocument]) -> RetrievedDocument | None:
        content = in_place.get(request.document_unique_id)
        if content is None:
            row = held.get(request.document_unique_id)
            if row is None or row.state != COMMITTED:
                return None
            content = self._committed(row)
        return RetrievedDocument(request, content.content_type, content) \
            if content is not None else None

    def remove(self, requests: list[DocumentRequest], principal: Principal
               ) -> tuple[list[DocumentRequest], list[RegistryError]]:
        """ITI-86: delete documents this repository holds, once no registry entry names them
        (removal.py)."""
        from .removal import remove

        return remove(self, requests, principal)

    def foreign(self, request: DocumentRequest) -> RegistryError:
        return error(ErrorCode.UNKNOWN_REPOSITORY_ID,
                     f"repositoryUniqueId '{request.repository_unique_id}' is not this "
                     f"repository ({self.repository_unique_id})", request.document_unique_id)

    def _committed(self, held: HeldDocument) -> Attachment | None:
        """A document the database says is committed but the store did not open on its own
        (its mime type is the database's): committed but not yet made visible (a crash between
        commit and rename) is finished here."""
        content = self.documents.open(held.unique_id, held.mime_type)
        if content is None:
            self.documents.sweep(lambda key: key == held.key)
            content = self.documents.open(held.unique_id, held.mime_type)
        return content

    # --- recovery -----------------------------------------------------------------------------

    def recover(self, older_than: float = 0.0) -> dict[str, int]:
        """Settle what a crash left half done. Run before serving (or periodically)."""
        settled = {"registered": 0, "abandoned": 0}
        cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=older_than)
        # the registry (a network call) is asked outside any transaction; each answer is
        # applied to the rows still pending then
        pending = self.database.read(lambda uow: rows.pending(uow, cutoff))
        answers = {held.unique_id: self.registry.is_registered(held.unique_id)
                   for held in pending}
        with self.database.transaction() as uow:
            still = rows.documents(uow, list(answers), lock=True)
            for unique_id, registered in answers.items():
                row = still.get(unique_id)
                if row is None or row.state == COMMITTED:
                    continue
                if registered:
                    rows.mark_committed(uow, [unique_id])
                    settled["registered"] += 1
                else:
                    rows.remove(uow, [unique_id])
                    settled["abandoned"] += 1
        with self.database.reading() as uow:
            finished, dropped = self.documents.sweep(
                lambda key: rows.committed_key(uow, key), older_than,
                include_withdrawn=True)
        settled.update(finished=finished, dropped=dropped)
        if any(settled.values()):
            log.warning("repository recovery: %s", settled)
        return settled


def _not_held(request: DocumentRequest) -> RegistryError:
    return error(ErrorCode.DOCUMENT_UNIQUE_ID_ERROR, f"document '{request.document_unique_id}' "
                 "is not held by this repository", request.document_unique_id)


def _patient(principal: Principal) -> str | None:
    return patient_key(principal.patient_id) if principal.patient_id else None


def _record(entry: DocumentEntry, document: StagedDocument, principal: Principal,
            submission: Submission) -> HeldDocument:
    """The repository's row of a stored document, with who stored it (ITI-86 decides on it)."""
    package = submission.submission_set
    return HeldDocument(entry.unique_id, document.key, document.size, document.sha1,
                        entry.mime_type, patient_id=patient_key(entry.patient_id),
                        submitter=principal.subject_id, organisation=principal.structure_id,
                        source_id=package.source_id if package is not None else "",
                        authors=" ".join(a.person.split("^", 1)[0] for a in entry.authors
                                         if a.person))


def _signed(submission: Submission) -> bool:
    """Whether a signature document of the submission signs its set already."""
    package = submission.submission_set
    return package is not None and any(
        a.type == v.SIGNS and a.target == package.entry_uuid for a in submission.associations)
