"""The metadata part of a signed submission set, which ITI-42 can check without the bytes: one
signature DocumentEntry (its codes, mime type and language a signature document's), linked to
the SubmissionSet by a `signs` association (CI-SIS notes §4; DSG §5.5.6).

Each rule, and what it stops:
1. At most one signature DocumentEntry: a second signature, which a reader might believe
   instead of the verified one.
2. Its classCode, typeCode, formatCode, mimeType and language are a signature document's
   (vocabulary.DMP_ENTRY_RULES): a signature the DMP would not recognise as one.
3. A `signs` association from it to the SubmissionSet: a signature document that signs
   nothing the registry can link; other `signs` from it target documents of this set only.
4. No other object of the submission signs the SubmissionSet: a second signer of the set.
5. No other object of the submission is the source of any `signs` (outside test 19b, F5): a
   CDA of a correctly signed set carrying a `signs` to a document registered earlier, or to
   another set's signature, which GetRelatedDocuments(signs) then names its signer; the
   associations are not covered by the Manifest. IHE DSG lets a signature document sign
   individual documents (a `signs` to each, what dsig/produce.py writes): from the signature
   entry only, to this set's documents only (rule 3).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..model import vocabulary as v
from ..model.errors import ErrorCode, RegistryError, error
from ..model.metadata import DocumentEntry, Submission
from .problems import SignatureRefused
from .vocabulary import (
    SIGNATURE_CLASS,
    SIGNATURE_FORMAT,
    SIGNATURE_TYPE,
    claims_to_be_signature,
    entry_problems,
)

UNSIGNED = (f"the submission set is not signed: a signature document is required (IHE DSG "
            f"XAdES, classCode {SIGNATURE_CLASS.code}, typeCode {SIGNATURE_TYPE.code}, "
            f"formatCode {SIGNATURE_FORMAT.code}) with a 'signs' association to the "
            "SubmissionSet (XDS_REQUIRE_SUBMISSION_SIGNATURE)")


@dataclass
class Found:
    """The signature DocumentEntry of a submission (None: unsigned), and what is wrong with
    its metadata."""

    entry: DocumentEntry | None
    problems: list[SignatureRefused]


def find_signature(submission: Submission, dmp: bool = True) -> Found:
    """`dmp`: hold the entry to the DMP's codes (profile cisis), else to IHE DSG's."""
    name = submission.source_name
    signatures = [d for d in submission.documents if claims_to_be_signature(d)]
    if not signatures:
        return Found(None, [])
    if len(signatures) > 1:
        names = ", ".join(name(d.entry_uuid) for d in signatures)
        return Found(signatures[0], [SignatureRefused(
            "DocumentEntry", f"the submission carries {len(signatures)} signature documents "
                             f"({names}): one signature of the submission set is accepted")])
    entry = signatures[0]
    label = f"signature DocumentEntry {name(entry.entry_uuid)}"
    problems = [SignatureRefused(f"DocumentEntry.{field}", f"{label}: {problem}")
                for field, problem in entry_problems(entry, dmp)]
    problems += _associations(submission, entry, label)
    return Found(entry, problems)


def _associations(submission: Submission, entry: DocumentEntry,
                  label: str) -> list[SignatureRefused]:
    name = submission.source_name
    set_id = submission.submission_set.entry_uuid if submission.submission_set else ""
    members = {d.entry_uuid for d in submission.documents if d is not entry}
    problems = []
    signs = [a for a in submission.associations if a.type == v.SIGNS]
    if not any(a.source == entry.entry_uuid and a.target == set_id for a in signs):
        problems.append(SignatureRefused(
            "Association", f"{label}: no 'signs' association from it to the SubmissionSet "
                           f"{name(set_id)} (the DMP links a set to its signature so)"))
    for association in signs:
        if association.source == entry.entry_uuid and association.target not in \
                (set_id, *members):
            problems.append(SignatureRefused(
                "Association.targetObject",
                f"{label}: Association {name(association.entry_uuid)} signs "
                f"{name(association.target)}, which is not in this submission set"))
        elif association.source != entry.entry_uuid and association.target == set_id:
            problems.append(SignatureRefused(
                "Association.sourceObject",
                f"Association {name(association.entry_uuid)}: {name(association.source)} "
                f"signs the SubmissionSet, but {name(entry.entry_uuid)} is its signature"))
        elif association.source != entry.entry_uuid:
            problems.append(SignatureRefused(
                "Association.sourceObject",
                f"Association {name(association.entry_uuid)}: {name(association.source)} "
                f"signs {name(association.target)}, but only the set's signature document "
                f"{name(entry.entry_uuid)} signs, and only this submission set or its "
                "documents (rule 5)"))
    return problems


def metadata_errors(submission: Submission, required: bool, dmp: bool = True,
                    code: ErrorCode = ErrorCode.REGISTRY_METADATA_ERROR) -> list[RegistryError]:
    """ITI-42: the metadata part alone (a registry has no bytes to verify)."""
    found = find_signature(submission, dmp)
    if found.entry is None:
        return [error(code, UNSIGNED, "SubmissionSet")] if required else []
    return [error(code, p.reason, p.where) for p in found.problems]


@dataclass
class SignatureMetadataCheck:
    """What the registry runs on every ITI-42 (and the in-process ITI-41's registration)."""

    required: bool
    dmp: bool = True

    def __call__(self, submission: Submission) -> list[RegistryError]:
        return metadata_errors(submission, self.required, self.dmp)
