"""Which repositories a registry registers DocumentEntries for (outside test 19, F01): the
registry sees metadata only, so what an ITI-42 says of bytes held elsewhere is believed only
from a repository that holds them, and, while signed sets are required, that verified them.

Each rule (when it applies), and the attack it stops:

A. (always) An entry naming this server's own repository names bytes it holds: a committed
   row of that uniqueId, for that patient, with the entry's hash and size. Attack: an ITI-42
   straight to the registry naming our repository for bytes it never stored, a "registered
   document" no retrieval serves, or a fake signature document (hash 000…) registered as if
   our repository had verified it.
B. (XDS_REQUIRE_SUBMISSION_SIGNATURE) Every entry names our repository or one listed in
   XDS_SIGNATURE_VERIFYING_REPOSITORIES. Attack: any VIHF holder sends ITI-42 with a fake
   signature entry naming an unknown repository; registered "signed", verified by nobody.
C. (a listed repository bound to a certificate) The caller presents that TLS client
   certificate (mutual TLS). Attack: the same naming a listed repository's id; a VIHF proves
   a professional, not that the sender is that repository.
D. (required) All entries of a set name one repository. Attack: a set split over
   repositories; none received all the bytes the Manifest signs, so none verified it.
E. (required) A set of our repository's bytes sent by ITI-42 (not by our own ITI-41) is
   verified here, on the bytes held (the wiring's `verify_held`). Attack: held bytes
   re-registered under a new set with a `signs` association: a signature whose Manifest
   names another set, or a CDA re-registered as a "signature document".
F. (required) An ITI-57 carries no `signs` association (a new version's are propagated by the
   registry from its latest). Attack: a document's new version, given a signature's codes,
   made to sign a registered set, or a second signer of it, by metadata alone.

Rule A holds for ITI-57 too: a new DocumentEntry version whose hash, size or repositoryUniqueId
is not its latest's (NIST's 15801 updates a hash: allowed, for bytes of another repository)
names our repository only for bytes it holds (an update making our document name other bytes,
hash 000…, or our repository for another's). Rule A leaves the in-process ITI-41 untouched:
it registers the rows it is writing in the same transaction (`stored`), compared in memory,
without a query.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ..model import vocabulary as v
from ..model.errors import ErrorCode, RegistryError, error
from ..model.held import COMMITTED, HeldDocument
from ..model.hl7 import patient_key
from ..model.metadata import DocumentEntry, Submission
from ..security.principal import Principal
from ..store import repository_store as rows
from ..store.database import Database, UnitOfWork

META = ErrorCode.REGISTRY_METADATA_ERROR
SETTING = "XDS_SIGNATURE_VERIFYING_REPOSITORIES"
VerifyHeld = Callable[[Submission, Principal], list[RegistryError]]


@dataclass
class RepositoryRules:
    """`own`: this server's repositoryUniqueId; `verifying`: the listed repositories, each with
    the client certificate subject bound to it ('' unbound); `verify_held`: the repository's
    signature check on the bytes it holds (rule E), given by the wiring."""

    own: str
    signature_required: bool = False
    verifying: dict[str, str] = field(default_factory=dict)
    verify_held: VerifyHeld | None = None

    def before(self, submission: Submission, principal: Principal) -> list[RegistryError]:
        """Rules B, C and D, before the registration's transaction."""
        if not self.signature_required or not submission.documents:
            return []
        name = submission.source_name
        errors = []
        for entry in submission.documents:
            repository = entry.repository_unique_id or ""
            label = (f"DocumentEntry {name(entry.entry_uuid)} (uniqueId {entry.unique_id}): "
                     f"repositoryUniqueId '{repository}'")
            if repository == self.own:
                continue
            if repository not in self.verifying:
                errors.append(error(META, f"{label} is neither this server's repository "
                                          f"({self.own}) nor one that verifies submission-set "
                                          f"signatures: while XDS_REQUIRE_SUBMISSION_SIGNATURE "
                                          f"is on, the registry takes ITI-42 only from those "
                                          f"listed in {SETTING}", "DocumentEntry."
                                                                  "repositoryUniqueId"))
                continue
            bound = self.verifying[repository]
            if bound and principal.client_subject != bound:
                presented = principal.client_subject or "no verified client certificate"
                errors.append(error(META, f"{label}: that repository is bound to the TLS "
                                          f"client certificate '{bound}' ({SETTING}), the "
                                          f"caller presented {presented}",
                                    "DocumentEntry.repositoryUniqueId"))
        held_by = sorted({e.repository_unique_id or "" for e in submission.documents})
        if len(held_by) > 1:
            errors.append(error(META, f"the set's DocumentEntries name {len(held_by)} "
                                      f"repositories ({', '.join(held_by)}): a signed set is "
                                      "verified by the one repository that received all its "
                                      "documents (XDS_REQUIRE_SUBMISSION_SIGNATURE)",
                                "DocumentEntry.repositoryUniqueId"))
        return errors

    def verified(self, database: Database, submission: Submission, principal: Principal,
                 stored: Sequence[HeldDocument] | None) -> list[RegistryError]:
        """Rule E, once the set passed every other check: a set of our repository's bytes
        that our ITI-41 is not registering now is verified on the bytes held, once rule A
        found them this patient's (no verification reads, nor a refusal tells of, another
        patient's bytes). `stored`: the rows the in-process repository writes with this
        registration (None: an ITI-42 from outside)."""
        if not self.signature_required or stored is not None or self.verify_held is None \
                or not submission.documents or \
                any(e.repository_unique_id != self.own for e in submission.documents):
            return []
        unheld = database.read(lambda uow: self.held(uow, submission, None))
        return unheld or self.verify_held(submission, principal)

    def update_errors(self, submission: Submission) -> list[RegistryError]:
        """Rule F, on an ITI-57 request."""
        if not self.signature_required:
            return []
        name = submission.source_name
        return [error(ErrorCode.METADATA_UPDATE_ERROR,
                      f"Association {name(a.entry_uuid)}: an update may not make "
                      f"{name(a.source)} sign {name(a.target)}: while "
                      "XDS_REQUIRE_SUBMISSION_SIGNATURE is on, a signature signs what it was "
                      "verified with, in its submission set (ITI-41, or ITI-42 from a "
                      "repository that verifies signatures)", "Association.associationType")
                for a in submission.associations if a.type == v.SIGNS]

    def held(self, uow: UnitOfWork, submission: Submission,
             stored: Sequence[HeldDocument] | None = None,
             only: set[str] | None = None) -> list[RegistryError]:
        """Rule A, in the registration's transaction: the rows are locked until it ends, so
        a removal (ITI-86) cannot take the bytes between this check and the commit. `only`:
        the entryUUIDs to check (an ITI-57's new versions naming other bytes than their
        latest: a masking inherits them, and is not looked up)."""
        mine = [e for e in submission.documents if e.repository_unique_id == self.own
                and (only is None or e.entry_uuid in only)]
        writing = {r.unique_id: r for r in stored or ()}
        asked = [e for e in mine if not _same(e, writing.get(e.unique_id))]
        if not asked:
            return []
        found: dict[str, HeldDocument] = {}
        for patient in {patient_key(e.patient_id or "") for e in asked}:
            found |= rows.held_for_patient(
                uow, patient, [e.unique_id for e in asked
                               if patient_key(e.patient_id or "") == patient])
        name = submission.source_name
        return [error(META, f"DocumentEntry {name(e.entry_uuid)} (uniqueId {e.unique_id}) "
                            f"names this server's repository ({self.own}), which holds no "
                            f"document of this patient with that uniqueId, hash "
                            f"{e.hash or '(none)'} and size {e.size or '(none)'}: a registered "
                            "document must be retrievable (provide it with ITI-41)",
                      "DocumentEntry.repositoryUniqueId")
                for e in asked if not _same(e, found.get(e.unique_id))]


def _same(entry: DocumentEntry, row: HeldDocument | None) -> bool:
    """The row is committed bytes, the entry's hash and size (a refusal says the same for a
    row of another patient: it is not looked up)."""
    return row is not None and row.state == COMMITTED and \
        (entry.hash or "").lower() == row.hash.lower() and entry.size == str(row.size)
