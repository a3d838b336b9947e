"""Rules that look at a whole submission but not at the registry (ITI TF-3 §4.1, §4.2.2).

One submission set, one patient, unique uniqueIds, a HasMember from the set to every new object,
well-formed associations. Rules that need the registry's state live in the registry actor.
"""

from __future__ import annotations

from collections import Counter

from ..model import vocabulary as v
from ..model.errors import ErrorCode, RegistryError, error
from ..model.metadata import Association, Submission

META = ErrorCode.REGISTRY_METADATA_ERROR


def check_structure(submission: Submission, update: bool = False) -> list[RegistryError]:
    errors: list[RegistryError] = []
    name = submission.source_name
    submission_set = submission.submission_set
    if submission_set is None:
        return [error(META, "the submission has no SubmissionSet (a RegistryPackage classified "
                            f"as {v.SUBMISSION_SET_NODE})", "SubmissionSet")]

    patient = submission_set.patient_id
    for obj in (*submission.documents, *submission.folders):
        if obj.patient_id and patient and obj.patient_id != patient:
            errors.append(error(
                ErrorCode.PATIENT_ID_DOES_NOT_MATCH,
                f"{type(obj).__name__} {name(obj.entry_uuid)}: patientId '{obj.patient_id}' "
                f"differs from the SubmissionSet's '{patient}'",
                f"{type(obj).__name__}.patientId"))

    unique_ids = Counter(o.unique_id for o in (submission_set, *submission.documents,
                                                *submission.folders) if o.unique_id)
    for unique_id, count in unique_ids.items():
        if count > 1:
            errors.append(error(ErrorCode.REGISTRY_DUPLICATE_UNIQUE_ID_IN_MESSAGE,
                                f"uniqueId '{unique_id}' is used by {count} objects of the "
                                "submission", "uniqueId"))

    errors += _check_associations(submission, update)
    return errors


def _unknown_type(association: Association, label: str, update: bool) -> RegistryError:
    """An association type outside ITI TF-3 Table 4.2.2-1 ("An Association type shall be
    specified as a URN. [...] The valid Association types are specified in the following
    table.") is not valid metadata: XDSRegistryMetadataError in ITI-41/42. An ITI-57 may also
    carry the Metadata Update supplement's operations (UpdateAvailabilityStatus,
    SubmitAssociation); a type that is neither names an update the registry cannot carry out:
    XDSMetadataUpdateOperationError, "Document Registry cannot decode the requested metadata
    update" (MU supplement Table 4.2.4.1-2)."""
    if not update:
        return error(META, f"{label}: associationType '{association.type}' is not an XDS "
                           "association type (ITI TF-3 Table 4.2.2-1)",
                     "Association.associationType")
    return error(ErrorCode.METADATA_UPDATE_OPERATION_ERROR,
                 f"{label}: associationType '{association.type}': neither an XDS association "
                 "type (ITI TF-3 Table 4.2.2-1) nor a Metadata Update operation",
                 "Association.associationType")


def _check_submitted(association: Association, label: str) -> list[RegistryError]:
    """An association a SubmitAssociation adds (ITI-57) links registered objects, which the
    updater checks; what it is must be metadata: a type of Table 4.2.2-1 (NIST 20001: an
    unknown one is XDSRegistryMetadataError)."""
    if association.type in v.ASSOCIATION_TYPES and \
            association.type != v.UPDATE_AVAILABILITY_STATUS:
        return []
    return [error(META, f"{label}: associationType '{association.type}' is not an XDS "
                        "association type (ITI TF-3 Table 4.2.2-1)",
                  "Association.associationType")]


def _check_associations(submission: Submission, update: bool) -> list[RegistryError]:
    """`update`: an ITI-57, where UpdateAvailabilityStatus, SubmitAssociation and the
    associations a SubmitAssociation adds are checked by the updater (registry/update*.py)."""
    errors: list[RegistryError] = []
    name = submission.source_name
    set_id = submission.submission_set.entry_uuid if submission.submission_set else ""
    documents = {d.entry_uuid for d in submission.documents}
    folders = {f.entry_uuid for f in submission.folders}
    associations = {a.entry_uuid for a in submission.associations}
    members: set[str] = set()
    submitted = {a.target for a in submission.associations
                 if update and a.type == v.SUBMIT_ASSOCIATION}

    for association in submission.associations:
        label = f"Association {name(association.entry_uuid)}"
        if association.entry_uuid in submitted:
            errors += _check_submitted(association, label)
            continue
        if association.type == v.SUBMIT_ASSOCIATION and update:
            continue
        if association.type not in v.ASSOCIATION_TYPES:
            errors.append(_unknown_type(association, label, update))
            continue
        if association.type == v.UPDATE_AVAILABILITY_STATUS and update:
            continue
        if association.type == v.UPDATE_AVAILABILITY_STATUS:
            errors.append(error(META, f"{label}: UpdateAvailabilityStatus belongs to metadata "
                                      "update (ITI-57), not to ITI-42",
                                "Association.associationType"))
            continue
        if association.type == v.HAS_MEMBER:
            errors += _check_has_member(association, label, set_id, documents, folders,
                                        associations, members)
        elif association.type == v.SIGNS and (association.target in folders
                                               or association.target in associations):
            errors.append(_signs_holder(label, association.target, name))
        elif association.source not in documents:
            errors.append(error(META, f"{label}: the source of a {_short(association.type)} "
                                      "association must be a DocumentEntry of this submission "
                                      f"(got {name(association.source)})",
                                "Association.sourceObject"))
        elif association.target in documents and association.type != v.SIGNS:
            # a signature may sign its own submission set or documents; lifecycle changes
            # (RPLC, APND, XFRM, XFRM_RPLC) apply to what is already registered
            errors.append(error(META, f"{label}: a {_short(association.type)} association must "
                                      "target a document already in the registry",
                                "Association.targetObject"))

    for entry_uuid in (documents | folders) - members:
        kind = "DocumentEntry" if entry_uuid in documents else "Folder"
        errors.append(error(META, f"{kind} {name(entry_uuid)} has no HasMember association from "
                                  "the SubmissionSet", "Association"))
    return errors


def _signs_holder(label: str, target: str, name) -> RegistryError:
    """A `signs` targets the SubmissionSet a signature's Manifest names, or a document (IHE
    DSG). Attack stopped (outsider 19f-1): a `signs` into a Folder made it a signed holder
    for rule K, and a Folder takes members after it is signed, so a document filed into it
    later counted as covered and its own signature could then be archived or deleted
    alone."""
    return error(META, f"{label}: a signs association targets a SubmissionSet or a "
                       f"DocumentEntry (IHE DSG); {name(target)} is a Folder or an Association, "
                       "which a signature's Manifest does not cover and which takes members "
                       "after signing", "Association.targetObject")


def _check_has_member(association: Association, label: str, set_id: str, documents: set[str],
                      folders: set[str], associations: set[str],
                      members: set[str]) -> list[RegistryError]:
    errors: list[RegistryError] = []
    status = association.slot(v.SUBMISSION_SET_STATUS)
    if association.source == set_id:
        target = association.target
        if target in documents:
            members.add(target)
            if status != "Original":
                errors.append(error(META, f"{label}: HasMember from the SubmissionSet to a new "
                                          "DocumentEntry needs slot SubmissionSetStatus=Original",
                                    "Association.SubmissionSetStatus"))
        elif target in folders:
            members.add(target)
        elif target in associations:
            pass  # the set holds a folder membership
        elif status != "Reference":
            errors.append(error(META, f"{label}: HasMember from the SubmissionSet to an existing "
                                      "object needs slot SubmissionSetStatus=Reference",
                                "Association.SubmissionSetStatus"))
    elif association.source in folders:
        pass  # folder membership
    elif association.source in documents or association.source in associations:
        # outside round 19e, E1: a HasMember from a DocumentEntry made it a "holder", and a
        # DSG-signed one (its `signs` point at it) passed for a signed set
        errors.append(error(META, f"{label}: HasMember sourceObject {association.source} is "
                                  f"{_kind_of(association.source, documents)}"
                                  ": a HasMember comes from the SubmissionSet or a Folder",
                            "Association.sourceObject"))
    elif association.source.startswith("urn:uuid:"):
        pass  # a registered folder's membership: its kind is checked against the registry
    else:
        errors.append(error(META, f"{label}: HasMember source must be the SubmissionSet or a "
                                  "Folder", "Association.sourceObject"))
    return errors


def _short(association_type: str) -> str:
    return association_type.rsplit(":", 1)[-1]


def _kind_of(ref: str, documents: set[str]) -> str:
    return "a DocumentEntry" if ref in documents else "an Association"
