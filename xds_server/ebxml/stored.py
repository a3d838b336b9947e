"""The registered form of an object as the ebXML front keeps it (the registry's `StoredForm`,
registry/stored_form.py): its ebRIM LeafClass XML as the registry encodes it at registration,
packed (packing.py). Queries give the bytes back untouched; this module makes them an answer
(LeafClass as registered, with what changed since: the status, a folder's lastUpdateTime) or
model objects again (for a front that speaks another format).
"""

from __future__ import annotations

from typing import Any

from lxml import etree

from ..model import vocabulary as v
from ..model.metadata import Association, DocumentEntry, Folder, SubmissionSet
from ..model.registered import FolderRecord, QueryResult, Record
from ..model.stored_queries import ReturnType
from .decode import decode_submission
from .encode import (
    encode_association,
    encode_document,
    encode_folder,
    encode_submission_set,
    object_ref,
)
from .namespaces import LCM, RIM, lcm, rim
from .packing import pack, unpack

_ENCODERS: dict[type, Any] = {DocumentEntry: encode_document, SubmissionSet: encode_submission_set,
                              Folder: encode_folder, Association: encode_association}
_APPROVED_ATTRIBUTE = f'status="{v.APPROVED}"'.encode()


class EbrimStoredForm:
    """Registered objects as packed ebRIM LeafClass XML."""

    @staticmethod
    def registered(obj: DocumentEntry | SubmissionSet | Folder | Association) -> bytes:
        """The form kept with a newly registered object (it says Approved)."""
        element = _ENCODERS[type(obj)](obj)
        return pack(etree.tostring(element, encoding="UTF-8", xml_declaration=False))


def leaf_class(record: Record) -> bytes:
    """The registered XML with what changes after registration (status, lastUpdateTime).

    Registered XML says Approved; a later status is patched into the root's attribute without
    parsing. A folder whose lastUpdateTime moved is re-serialised (rare)."""
    xml = unpack(record.stored)
    if xml.startswith(b"<?xml"):
        xml = xml[xml.index(b"?>") + 2:].lstrip()
    if record.status != v.APPROVED:
        xml = xml.replace(_APPROVED_ATTRIBUTE, f'status="{record.status}"'.encode(), 1)
    if isinstance(record, FolderRecord) and record.last_update_time:
        element = etree.fromstring(xml)
        for slot in element.findall(rim("Slot")):
            if slot.get("name") == "lastUpdateTime":
                slot.find(f"{rim('ValueList')}/{rim('Value')}").text = record.last_update_time
                break
        xml = etree.tostring(element, encoding="UTF-8", xml_declaration=False)
    return xml


def registry_objects(result: QueryResult, return_type: ReturnType) -> list[bytes]:
    """A query's objects in an AdhocQueryResponse's RegistryObjectList: LeafClass as
    registered, or ObjectRefs."""
    if return_type is ReturnType.OBJECT_REF:
        return [etree.tostring(object_ref(record.entry_uuid))
                for _, records in result.by_kind() for record in records]
    return [leaf_class(record) for _, records in result.by_kind() for record in records]


def model_object(record: Record) -> DocumentEntry | SubmissionSet | Folder | Association:
    """A registered object as a model object again, with its current status."""
    request = etree.Element(lcm("SubmitObjectsRequest"), nsmap={"lcm": LCM, "rim": RIM})
    etree.SubElement(request, rim("RegistryObjectList")).append(
        etree.fromstring(leaf_class(record)))
    submission = decode_submission(request).submission
    obj = next(iter([*([submission.submission_set] if submission.submission_set else []),
                     *submission.documents, *submission.folders, *submission.associations]))
    obj.status = record.status
    return obj
