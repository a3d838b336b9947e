"""What ITI-86 answers a caller who may not remove a document's bytes (issue 18, outsider M1).

A caller who may see the document (the registry still shows it to them) is told that it is a
matter of permission and who may remove the bytes, so that they can ask the right person: the
answer "not held by this repository" would be false and its advice useless. Any other caller
gets the answer for bytes never held, which says nothing of another patient's or a hidden
document (security/access.py: a refusal discloses nothing)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..model.errors import ErrorCode, RegistryError, error
from ..model.held import HeldDocument
from ..security.access import in_scope
from ..security.principal import Principal

if TYPE_CHECKING:
    from .actor import DocumentRequest, Repository


def refusal(repository: Repository, request: DocumentRequest, row: HeldDocument,
            principal: Principal, not_held: RegistryError) -> RegistryError:
    """The answer to a caller `may_remove_held` refused for bytes this repository holds."""
    unique_id = request.document_unique_id
    policy = repository.policy
    if policy is None or not in_scope(principal, row.patient_id) or \
            unique_id not in policy.readable_documents(principal, [unique_id]):
        return not_held
    return error(ErrorCode.DOCUMENT_UNIQUE_ID_ERROR,
                 f"document '{unique_id}': you may not remove its bytes; "
                 f"{who_may_remove(row)} may", unique_id)


def who_may_remove(row: HeldDocument) -> str:
    """Who `may_remove_held` lets remove these bytes, in words."""
    who = []
    if row.authors:
        who.append("its author" + ("s " if len(row.authors.split()) > 1 else " ")
                   + ", ".join(row.authors.split()))
    if row.submitter:
        who.append(f"its submitter {row.submitter}"
                   + (f" of organisation {row.organisation}" if row.organisation else ""))
    who.append("an administrator of the patient's record")
    return ", ".join(who[:-1]) + " or " + who[-1] if len(who) > 1 else who[0]
