"""What an ITI-57 of the patient or a legal representative may change in a document they did
not write (security/access.py `MASKERS`): its visibility codes (`VISIBILITY_CHANGERS`,
checked by update_versions.py) and its status (`STATUS_SETTERS`, update.py); nothing else.

Attack stopped (outside round 19e, E9): with the patient's VIHF, a new version of a
professional's document changed its title, comments, typeCode (Success), and the same ITI-57
carried a SubmitAssociation (an APND between two registered CDAs) or a HasMember riding beside
the new version. `_check_rights` held only the visibility codes; a signed lab report's
metadata (what queries by class and type find, its title in every list) was the patient's
to rewrite.

So such a version equals its latest, as the registry rebuilds it from what it stored
(`StoredForm.model_object`), in every DocumentEntry field but the few below; a field the
model gains later is compared too (the table lists what may differ, not what may not).

The same ITI-57 changes no link either (`link_errors`): each new version comes with one
HasMember, which propagates (outside round 19f, 19f-4: the patient's MASQUE_PS version whose
HasMember said `AssociationPropagation=no` was accepted, and the current version lost its
folder memberships, the APND to it and its signature's `signs`); and a replaced (Deprecated)
document is not made current again by their new version (`version_errors`) nor by a status
change (security/access.py `STATUS_SETTERS` names the moves).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from ..model import vocabulary as v
from ..model.errors import RegistryError, error
from ..model.metadata import Association, DocumentEntry, Folder, Submission
from ..model.registered import Record
from ..security.access import masks_only, may_link
from .update_plan import ASSOCIATION_PROPAGATION, UPDATE, UpdatePlan, short

ModelObject = Callable[[Record], Any]

# DocumentEntry field → why a masker's new version may differ from its latest there
MAY_DIFFER: dict[str, str] = {
    "entry_uuid": "the new version's own id",
    "logical_id": "set from the version it follows (update_versions.py)",
    "version": "numbered by the registry",
    "status": "set by the registry (Approved, or the status the latest had)",
    "unique_id": "checked for every caller (update_versions.py UNCHANGEABLE)",
    "object_type": "checked for every caller (update_versions.py UNCHANGEABLE)",
    "patient_id": "a VIHF caller acts on its one record; only the system moves a version",
    "home": "the community that answered, not the document's",
    "extra_slots": "not stored (XDSExtraMetadataNotSaved): the registry drops them",
}
# (confidentiality_codes are compared without the visibility codes: update_versions.py
# `_check_rights` holds those to VISIBILITY_CHANGERS)
# model field → its name in the metadata (the name a refusal gives)
FIELD_NAMES: dict[str, str] = {
    "mime_type": "mimeType", "class_code": "classCode", "type_code": "typeCode",
    "format_code": "formatCode", "healthcare_facility_type_code": "healthcareFacilityTypeCode",
    "practice_setting_code": "practiceSettingCode", "confidentiality_codes":
    "confidentialityCode", "event_codes": "eventCodeList", "authors": "author",
    "creation_time": "creationTime", "service_start_time": "serviceStartTime",
    "service_stop_time": "serviceStopTime", "language_code": "languageCode",
    "legal_authenticator": "legalAuthenticator", "repository_unique_id": "repositoryUniqueId",
    "source_patient_id": "sourcePatientId", "source_patient_info": "sourcePatientInfo",
    "uri": "URI", "reference_ids": "referenceIdList",
    "document_availability": "documentAvailability",
}


def _comparable(name: str, value: Any) -> Any:
    """A field's value as compared: empty is empty whatever its form, a hash in any case, a
    list in any order (a repeated code is refused elsewhere)."""
    if value is None or value == "" or value == []:
        return None
    if name == "confidentiality_codes":
        value = [c for c in value if c.code not in v.VISIBILITY_CODES]
        return sorted(repr(c) for c in value) or None
    if name == "hash":
        return str(value).lower()
    if name == "size":
        return str(value)
    if isinstance(value, list):
        return sorted(repr(item) for item in value)
    return value


def _author_ids(document: DocumentEntry) -> frozenset[str]:
    return frozenset(a.person.split("^", 1)[0] for a in document.authors if a.person) - {""}


def version_errors(submission: Submission, document: DocumentEntry, plan: UpdatePlan,
                   model_object: ModelObject) -> list[RegistryError]:
    """A masker's new version of a document they did not write: every field but MAY_DIFFER
    as its latest version has it."""
    latest = plan.latest.get(document.entry_uuid)
    if latest is None or not masks_only(plan.principal, latest):
        return []
    label = f"DocumentEntry {submission.source_name(document.entry_uuid)}"
    if latest.status == v.DEPRECATED:
        # the new version would be Approved (update_versions.py): a replaced report current
        # again beside its replacement, by the patient's word
        return [error(UPDATE, f"{label}: version {latest.version or '1'} of logicalId "
                              f"{latest.logical_id or latest.entry_uuid} is Deprecated (replaced "
                              f"or deprecated by a professional): a caller with the role "
                              f"{plan.principal.role} may not make a new version of it (it "
                              "would be current again); they mask or archive the current "
                              "document", "DocumentEntry.availabilityStatus")]
    if latest.stored is None:
        return []
    registered = model_object(latest)
    errors = []
    for entry_field in dataclasses.fields(DocumentEntry):
        name = entry_field.name
        if name in MAY_DIFFER:
            continue
        given, current = getattr(document, name), getattr(registered, name)
        if _comparable(name, given) == _comparable(name, current):
            continue
        if name == "authors" and _author_ids(document) != (latest.author_ids or frozenset()):
            continue        # said by update_versions.py _check_authors
        metadata_name = FIELD_NAMES.get(name, name)
        errors.append(error(UPDATE, f"{label}: a caller with the role {plan.principal.role} "
                                    f"may not change its {metadata_name}: only the author or "
                                    "an administrator may change a document's metadata (the "
                                    "patient and a legal representative change its visibility "
                                    "codes, and archive or unarchive it)",
                            f"DocumentEntry.{metadata_name}"))
    return errors


def folder_errors(submission: Submission, folder: Folder,
                  plan: UpdatePlan) -> list[RegistryError]:
    """A Folder has no author: its new versions are its professionals' and administrators'."""
    if may_link(plan.principal):
        return []
    return [error(UPDATE, f"Folder {submission.source_name(folder.entry_uuid)}: a caller with "
                          f"the role {plan.principal.role} may not update a folder's "
                          "metadata (only a professional or an administrator may)", "Folder")]


def link_errors(submission: Submission, plan: UpdatePlan) -> list[RegistryError]:
    """A masker's ITI-57 carries one HasMember for each new version (a Folder version is
    refused once, by `folder_errors`), which propagates the version's links, and status changes
    of documents; any other association (a SubmitAssociation, one riding beside a new version,
    a second HasMember, a status change of a folder or an association) is refused, by its
    type. Links between documents are changed by the health professionals with access to the
    record, or an administrator (docs/security.md)."""
    if may_link(plan.principal):
        return []
    package = submission.submission_set.entry_uuid if submission.submission_set else None
    versions = {o.entry_uuid for o in (*submission.documents, *submission.folders)}
    name = submission.source_name
    role = plan.principal.role
    submitted = {a.target for a in submission.associations if a.type == v.SUBMIT_ASSOCIATION}
    announced: set[str] = set()
    errors = []
    for association in submission.associations:
        if association.entry_uuid in submitted:
            continue        # the association a SubmitAssociation adds: refused by it
        if association.source == package and association.type == v.UPDATE_AVAILABILITY_STATUS:
            continue
        if association.source == package and association.type == v.HAS_MEMBER and \
                association.target in versions and association.target not in announced:
            announced.add(association.target)
            errors += _propagation_errors(submission, association, role)
            continue
        what = f"a second HasMember of the new version {name(association.target)}" \
            if association.source == package and association.type == v.HAS_MEMBER and \
            association.target in announced else "an association"
        errors.append(error(UPDATE, f"Association {name(association.entry_uuid)} "
                                    f"({short(association.type)}): a caller with the role "
                                    f"{role} may not add {what} by ITI-57 (only the one "
                                    "HasMember of each new version, and status changes of "
                                    f"documents); {WHO_LINKS}", "Association.associationType"))
    errors += [error(UPDATE, f"Association {name(change.association.entry_uuid)} "
                             f"(UpdateAvailabilityStatus): a caller with the role {role} may "
                             f"not change the status of the {change.kind} "
                             f"{name(change.association.target)} (only of a document)",
                     "Association.NewStatus")
               for change in plan.status_changes if change.kind != "document"]
    return errors


WHO_LINKS = ("links between documents are changed by the health professionals with access to "
             "the record, or an administrator")


def _propagation_errors(submission: Submission, membership: Association,
                        role: str) -> list[RegistryError]:
    """Without propagation (any value but yes: "no"; what is neither is refused for every
    caller, update_versions.py) the new version leaves its latest's folder memberships and
    relationships, a DSG signature's `signs` included, behind: links a masker may not
    deprecate one by one (`link_errors`) are not dropped all at once either."""
    values = membership.slots.get(ASSOCIATION_PROPAGATION) or []
    dropped = [value for value in values if value.lower() == "no"]
    if not dropped:
        return []
    version = submission.source_name(membership.target)
    return [error(UPDATE, f"Association {submission.source_name(membership.entry_uuid)} "
                          f"(HasMember of the new version {version}): a caller with the role "
                          f"{role} may not send AssociationPropagation '{dropped[0]}': their "
                          "new version keeps the folder memberships and relationships of the "
                          f"version it follows ({WHO_LINKS}); omit the slot or set it to "
                          "'yes'", "Association.AssociationPropagation")]
