"""Building submissions on the source side: model objects in, lcm:SubmitObjectsRequest out.

Objects keep symbolic ids (`Document01`, `SubmissionSet01`) until the registry assigns UUIDs,
as most sources do.
"""

from __future__ import annotations

import datetime as dt
import uuid

from lxml import etree

from ..ebxml.encode import (
    encode_association,
    encode_document,
    encode_folder,
    encode_submission_set,
)
from ..ebxml.namespaces import LCM, RIM, lcm, rim
from ..model import vocabulary as v
from ..model.metadata import Association, DocumentEntry, Folder, Submission, SubmissionSet

_ENCODERS = {"documents": encode_document, "folders": encode_folder,
             "associations": encode_association}


def new_oid(root: str = "2.25") -> str:
    """A fresh, globally unique OID (2.25 UUID arc)."""
    return f"{root}.{uuid.uuid4().int}" if root == "2.25" else f"{root}.{uuid.uuid4().int % 10**12}"


def utc_now_dtm() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y%m%d%H%M%S")


def has_member(source: str, target: str, status: str | None = "Original",
               entry_uuid: str | None = None) -> Association:
    slots = {v.SUBMISSION_SET_STATUS: [status]} if status else {}
    return Association(entry_uuid or f"as-{uuid.uuid4().hex[:12]}", v.HAS_MEMBER, source, target,
                       slots=slots)


def relationship(kind: str, source: str, target: str) -> Association:
    return Association(f"as-{uuid.uuid4().hex[:12]}", kind, source, target)


def submit_objects_request(submission: Submission) -> etree._Element:
    """lcm:SubmitObjectsRequest for `submission` (statuses are the registry's, so not sent)."""
    request = etree.Element(lcm("SubmitObjectsRequest"), nsmap={"lcm": LCM, "rim": RIM})
    object_list = etree.SubElement(request, rim("RegistryObjectList"))
    elements = []
    if submission.submission_set is not None:
        elements.append(encode_submission_set(submission.submission_set))
    for attribute, encoder in _ENCODERS.items():
        elements += [encoder(obj) for obj in getattr(submission, attribute)]
    for element in elements:
        element.attrib.pop("status", None)
        object_list.append(element)
    for ref in submission.object_refs:
        etree.SubElement(object_list, rim("ObjectRef"), id=ref)
    return request


def folder_and_document_links(folder: Folder, documents: list[DocumentEntry],
                              set_id: str) -> list[Association]:
    """HasMember folder→document, each recorded by a HasMember set→association."""
    links = []
    for document in documents:
        membership = has_member(folder.entry_uuid, document.entry_uuid, status=None)
        links += [membership, has_member(set_id, membership.entry_uuid, status=None)]
    return links


def new_version(submission_set: SubmissionSet, document: DocumentEntry, logical_id: str,
                previous_version: str) -> Submission:
    """ITI-57: `document` as the next version of the registered entry `logical_id` (a fresh
    symbolic entryUUID, the same uniqueId), announced with PreviousVersion."""
    document.logical_id = logical_id
    document.version = None                  # the registry numbers versions
    membership = has_member(submission_set.entry_uuid, document.entry_uuid)
    membership.slots[v.PREVIOUS_VERSION] = [previous_version]
    return Submission(submission_set, [document], associations=[membership])


def status_update(submission_set: SubmissionSet, target: str, original: str,
                  new: str) -> Submission:
    """ITI-57: move a registered object from availability status `original` to `new`."""
    change = Association(f"as-{uuid.uuid4().hex[:12]}", v.UPDATE_AVAILABILITY_STATUS,
                         submission_set.entry_uuid, target,
                         slots={v.ORIGINAL_STATUS: [original], v.NEW_STATUS: [new]})
    return Submission(submission_set, [], associations=[change])


def submit_association(submission_set: SubmissionSet, association: Association) -> Submission:
    """ITI-57: add `association` between registered objects (a relationship, or a document
    filed in a folder), carried by a SubmitAssociation from the submission set."""
    operation = Association(f"as-{uuid.uuid4().hex[:12]}", v.SUBMIT_ASSOCIATION,
                            submission_set.entry_uuid, association.entry_uuid)
    return Submission(submission_set, [], associations=[operation, association])
