"""A consumer's changes to registered documents: ITI-57 (a new metadata version, an availability
status change), ITI-62 (remove metadata) and ITI-86 (remove documents), built from what the
registry answers for a uniqueId."""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable

from lxml import etree

from ..ebxml.actions import ITI_57, ITI_62
from ..ebxml.namespaces import LCM, RIM, lcm, rim
from ..model import vocabulary as v
from ..model.metadata import Author, Code, DocumentEntry, Submission, SubmissionSet
from ..model.registered import version_number
from ..model.stored_queries import GetSubmissionSets
from .metadata import new_oid, new_version, status_update, submit_objects_request
from .queries import GET_DOCUMENTS, STORED_QUERY, adhoc_query
from .registered import document_entries
from .sources import SourceOptions
from .transport import SoapClient

UPDATE, REMOVE_METADATA = ITI_57.action, ITI_62.action
GET_ASSOCIATIONS = "urn:uuid:a7ae438b-4bc2-4642-93e9-be891f7bb155"

# name → (the statuses it starts from, the status it sets): the CI-SIS lifecycle the DMP uses
STATUS_CHANGES: dict[str, tuple[tuple[str, ...], str]] = {
    "archive": ((v.APPROVED,), v.CISIS_ARCHIVED),
    "unarchive": ((v.CISIS_ARCHIVED,), v.APPROVED),
    "delete": ((v.APPROVED, v.CISIS_ARCHIVED, v.DEPRECATED), v.CISIS_DELETED),
}


# what a new metadata version starts from: the registry keeps the status (an Archived
# document masked stays Archived), as over FHIR; Deprecated and Deleted ones are history
VERSIONED = (v.APPROVED, v.CISIS_ARCHIVED)


class NotRegistered(LookupError):
    pass


def registered_entries(registry: SoapClient, unique_id: str) -> list[DocumentEntry]:
    """The latest version of each document registered under `unique_id`, whatever its status:
    one, or several when a source submitted the same document again (IHE accepts a copy with
    the same uniqueId and hash as a new entry)."""
    reply = registry.call(STORED_QUERY, adhoc_query(
        GET_DOCUMENTS, {"$XDSDocumentEntryUniqueId": [unique_id]}))
    latest: dict[str, DocumentEntry] = {}
    for entry in document_entries(reply.payload):
        logical = entry.logical_id or entry.entry_uuid
        if logical not in latest or version_number(entry.version) > \
                version_number(latest[logical].version):
            latest[logical] = entry
    if not latest:
        raise NotRegistered(f"the registry knows no document with uniqueId {unique_id} (or "
                            "not one you may see)")
    return sorted(latest.values(), key=lambda e: e.entry_uuid)


def may_be_versioned(entry: DocumentEntry) -> bool:
    """A status a new metadata version starts from (VERSIONED)."""
    return entry.status in VERSIONED


class Ambiguous(LookupError):
    """Several registered entries of one uniqueId fit a change: the caller must name one."""


def entry_for(entries: list[DocumentEntry], fits: Callable[[DocumentEntry], bool],
              entry_uuid: str | None = None) -> DocumentEntry:
    """The entry a change applies to: the one named by `entry_uuid`, else the only one that
    `fits` (the status the change starts from), else the only one. Several that fit →
    Ambiguous naming them (acting on a copy picked at random changed the wrong one)."""
    if entry_uuid is not None:
        named = [e for e in entries if entry_uuid in (e.entry_uuid, e.logical_id)]
        if not named:
            raise NotRegistered(f"no entry {entry_uuid} under uniqueId "
                                f"{entries[0].unique_id}; its entries: "
                                f"{_listed(entries)}")
        return named[0]
    fitting = [e for e in entries if fits(e)]
    if len(fitting) > 1:
        raise Ambiguous(f"uniqueId {entries[0].unique_id} names {len(fitting)} registered "
                        f"entries this applies to (the document was submitted more than "
                        f"once): {_listed(fitting)}; name one with --entry (`xds-server query "
                        "--patient ID --json` lists them all)")
    return fitting[0] if fitting else entries[0]


LISTED = 5      # entries named in a message: a document submitted 355 times made a 20 KB line


def _listed(entries: list[DocumentEntry]) -> str:
    """A few entries by name, and how many more."""
    named = ", ".join(_described(e) for e in entries[:LISTED])
    more = len(entries) - LISTED
    return f"{named} and {more} more" if more > 0 else named


def _described(entry: DocumentEntry) -> str:
    return f"{entry.entry_uuid} ({entry.status.rsplit(':', 1)[-1]})"


def _submission_set(entry: DocumentEntry, author: Author | None) -> SubmissionSet:
    """The update's set: authored by the caller when the command knows who signs (its own
    VIHF), else by the document's first author (a VIHF file is not read here)."""
    return SubmissionSet("SubmissionSet01", unique_id=new_oid(), patient_id=entry.patient_id,
                         source_id=SourceOptions().source_id,
                         submission_time=dt.datetime.now(dt.UTC).strftime("%Y%m%d%H%M%S"),
                         content_type_code=SourceOptions().content_type,
                         authors=[author] if author is not None else
                         copy.deepcopy(entry.authors[:1]))


def status_change(entry: DocumentEntry, change: str, author: Author | None = None
                  ) -> Submission:
    """UpdateAvailabilityStatus for `change` (a key of STATUS_CHANGES); ValueError when the
    document's status is not one it starts from."""
    starts, target = STATUS_CHANGES[change]
    if entry.status not in starts:
        raise ValueError(f"document {entry.unique_id} is "
                         f"{entry.status.rsplit(':', 1)[-1]}; {change} applies to "
                         f"{' or '.join(s.rsplit(':', 1)[-1] for s in starts)} documents")
    return status_update(_submission_set(entry, author), entry.entry_uuid, entry.status,
                         target)


def next_version(entry: DocumentEntry, *, title: str | None = None,
                 comments: str | None = None, confidentiality: Code | None = None,
                 add_visibility: str | None = None,
                 remove_visibility: str | None = None, author: Author | None = None
                 ) -> Submission:
    """A new metadata version of `entry` (ITI-57) with the given changes; ValueError when it
    would change nothing."""
    if entry.status not in VERSIONED:
        raise ValueError(f"document {entry.unique_id} is {entry.status.rsplit(':', 1)[-1]}: "
                         "only an Approved or Archived document gets a new metadata version")
    document = copy.deepcopy(entry)
    codes = document.confidentiality_codes
    if confidentiality is not None:
        codes = [c for c in codes if c.code in v.VISIBILITY_CODES] + [confidentiality]
    if add_visibility is not None:
        if any(c.code == add_visibility for c in codes):
            raise ValueError(f"document {entry.unique_id} already has {add_visibility}")
        codes = [*codes, Code(add_visibility, v.VISIBILITY_SYSTEM)]
    if remove_visibility is not None:
        if not any(c.code == remove_visibility for c in codes):
            raise ValueError(f"document {entry.unique_id} does not have {remove_visibility}")
        codes = [c for c in codes if c.code != remove_visibility]
    document.confidentiality_codes = codes
    if title is not None:
        document.title = title
    if comments is not None:
        document.comments = comments
    if document == entry:
        raise ValueError("nothing to change: give --title, --comments or --confidentiality")
    previous = entry.version or "1"
    document.entry_uuid = "Document01"
    document.status = v.APPROVED
    return new_version(_submission_set(entry, author), document,
                       entry.logical_id or entry.entry_uuid, previous)


def update_request(submission: Submission) -> etree._Element:
    return submit_objects_request(submission)


def _associations(registry: SoapClient, ids: set[str]) -> list[etree._Element]:
    reply = registry.call(STORED_QUERY, adhoc_query(
        GET_ASSOCIATIONS, {"$uuid": sorted(ids), "$MetadataLevel": 2}))
    return [] if reply.payload is None else list(reply.payload.iter(rim("Association")))


def _versions(registry: SoapClient, entry: DocumentEntry) -> set[str]:
    """The entryUUIDs of every version of the entry's document."""
    reply = registry.call(STORED_QUERY, adhoc_query(GET_DOCUMENTS, {
        "$XDSDocumentEntryLogicalID": [entry.logical_id or entry.entry_uuid],
        "$MetadataLevel": 2}, "ObjectRef"))
    found = set() if reply.payload is None else \
        {e.get("id") or "" for e in reply.payload.iter(rim("ObjectRef"))}
    return found | {entry.entry_uuid}


def _submission_sets(registry: SoapClient, ids: set[str]) -> set[str]:
    """The submission sets holding any of `ids` (GetSubmissionSets: folders are not sets)."""
    reply = registry.call(STORED_QUERY, adhoc_query(
        GetSubmissionSets.ID, {"$uuid": sorted(ids), "$MetadataLevel": 2}))
    return set() if reply.payload is None else \
        {e.get("id") or "" for e in reply.payload.iter(rim("RegistryPackage"))}


def removal_closure(registry: SoapClient, entries: list[DocumentEntry]) -> set[str]:
    """What one ITI-62 must name to remove `entries` whole: every version, every association
    to or from them (and those associations' own), and each submission set all of whose
    members go (a registry refuses to leave one holding nothing:
    XDSUnreferencedObjectException). A folder stays, empty if need be."""
    ids: set[str] = set().union(*(_versions(registry, entry) for entry in entries))
    documents = set(ids)
    pending = set(ids)
    while pending:                       # associations, and associations of associations
        found = {a.get("id") or "" for a in _associations(registry, pending)}
        pending = found - ids
        ids |= found
    for package in _submission_sets(registry, documents):
        members = [a for a in _associations(registry, {package})
                   if a.get("sourceObject") == package
                   and a.get("associationType") == v.HAS_MEMBER]
        if all(a.get("targetObject") in ids for a in members):
            ids |= {package, *(a.get("id") or "" for a in members)}
    return ids


def remove_objects_request(ids: set[str]) -> etree._Element:
    request = etree.Element(lcm("RemoveObjectsRequest"), nsmap={"lcm": LCM, "rim": RIM})
    listed = etree.SubElement(request, rim("ObjectRefList"))
    for ident in sorted(ids):
        etree.SubElement(listed, rim("ObjectRef"), id=ident)
    return request
