"""Rule N: a document of a signed submission set, or a signature document, is not moved to
another patient's record (ITI-57 patient change, 3.57.4.1.3.3.1.7) while
XDS_REQUIRE_SUBMISSION_SIGNATURE is on.

A signature was verified over a set filed for one patient; the registry has no signature over
the same bytes filed for another. Attacks stopped (outside round 19d, D3): the signature moved
alone left its former record's CDA Approved and signed by nothing, and placed a signature
verified for one patient's set, Approved, in another's record; the whole set moved (CDA and
signature) left its `signs` and HasMember in the former record, so in the new one nothing was
signed any more and the signature could be deleted alone. Moving the set's links with it
would still move a signature made over the set's uniqueId for another patient.

The way out for a signed document filed under the wrong patient (round 19d F-R1: DSG's
`signs` to each document made every such move a dead end, its `signs` kept by rule I) is
the one the DMP gives: submit the document again, signed, for the right patient (ITI-41),
then delete the misfiled set here (one ITI-57 setting its documents and its signature
Deleted, which rules I and K allow together). The refusal says so.
"""

from __future__ import annotations

from ..model import vocabulary as v
from ..model.errors import RegistryError, error
from ..model.signature_entry import SIGNATURE_CLASS
from ..store import registry_store as store
from ..store.database import UnitOfWork
from .query_versions import versions_of
from .update_plan import RECONCILIATION, UpdatePlan

REQUIRED = "while XDS_REQUIRE_SUBMISSION_SIGNATURE is on"
WAY_OUT = ("submit it again, signed, for the right patient (ITI-41) as a new document (a new "
           "uniqueId: this one stays registered here), then delete the set here (one ITI-57 "
           "setting its documents and its signature Deleted) (rule N)")


def move_errors(uow: UnitOfWork, plan: UpdatePlan) -> list[RegistryError]:
    """Rule N on an ITI-57's patient changes (`plan.moved`, filled while its versions are
    checked): one error for each signed or signature document it moves."""
    errors = []
    for entry_uuid, (kind, former) in sorted(plan.moved.items()):
        if kind != "document":
            continue
        what = _signed_as(uow, former, entry_uuid)
        if what:
            errors.append(error(
                RECONCILIATION,
                f"DocumentEntry {entry_uuid}: its patient changes, but it is {what} {REQUIRED}: "
                f"a signature is verified for one patient's set and is not moved; {WAY_OUT}",
                "DocumentEntry.patientId"))
    return errors


def _signed_as(uow: UnitOfWork, patient: str, entry_uuid: str) -> str:
    """'a signature document', 'a document of a signed submission set', or '' for neither:
    read over every version of the document in the record it leaves."""
    latest = store.objects(uow, "document", patient, [entry_uuid])
    if not latest:
        return ""
    versions = [d.entry_uuid for d in versions_of(uow, "document", latest)
                if d.patient_id == patient]
    links = store.associations_touching(uow, patient, versions)
    if latest[0].class_code == SIGNATURE_CLASS.code or \
            any(a.type == v.SIGNS and a.source in versions for a in links):
        return "a signature document"
    if any(a.type == v.SIGNS and a.target in versions for a in links):
        return "a document of a signed submission set"      # IHE DSG: `signs` to it
    holders = sorted({a.source for a in links
                      if a.type == v.HAS_MEMBER and a.target in versions})
    if holders and any(a.type == v.SIGNS for a in store.associations_touching(
            uow, patient, holders, "target")):
        return "a document of a signed submission set"
    return ""
