"""The registered form of an object as the ebXML front keeps it (the registry's `StoredForm`,
registry/stored_form.py): its ebRIM LeafClass XML as the registry encodes it at registration,
packed (packing.py). Queries give the bytes back untouched; this module makes them an answer
(LeafClass as registered, with what changed since: the status, a folder's lastUpdateTime) or
model objects again (for a front that speaks another format).
"""

from __future__ import annotations

import threading
from typing import Any

from lxml import etree

from ..model import vocabulary as v
from ..model.errors import ErrorCode, RegistryFailure, error
from ..model.metadata import Association, DocumentEntry, Folder, SubmissionSet
from ..model.registered import FolderRecord, QueryResult, Record
from ..model.stored_queries import ReturnType
from .decode import decode_registered
from .encode import (
    encode_association,
    encode_document,
    encode_folder,
    encode_submission_set,
    object_ref,
)
from .namespaces import RIM, rim
from .packing import PackingError, pack, unpack, unpacked_size
from .stored_text import TAGS, TEXT_WRITERS, NotPlain

_ENCODERS: dict[type, Any] = {DocumentEntry: encode_document, SubmissionSet: encode_submission_set,
                              Folder: encode_folder, Association: encode_association}
_APPROVED_ATTRIBUTE = f'status="{v.APPROVED}"'.encode()
# The largest object the registry keeps, as its LeafClass XML. A DocumentEntry is a few KB;
# the cap stops an object that grows when stored (a Description of 2.5 MB of '"' is 15 MB of
# '&quot;') from making every later answer about its record huge, or unreadable.
MAX_STORED_OBJECT_BYTES = 512 * 1024


class EbrimStoredForm:
    """Registered objects as packed ebRIM LeafClass XML."""

    @staticmethod
    def registered(obj: DocumentEntry | SubmissionSet | Folder | Association) -> bytes:
        """The form kept with a newly registered object (it says Approved); RegistryFailure
        for an object too large to keep. Written as text (stored_text.py); a value lxml
        would refuse goes through encode.py's elements, which refuse it."""
        try:
            xml = TEXT_WRITERS[type(obj)](obj).encode()
        except NotPlain:
            xml = etree.tostring(_ENCODERS[type(obj)](obj), encoding="UTF-8",
                                 xml_declaration=False)
        if len(xml) > MAX_STORED_OBJECT_BYTES:
            kind = TAGS[type(obj)]
            raise RegistryFailure([error(ErrorCode.REGISTRY_METADATA_ERROR,
                                         f"{kind} {obj.entry_uuid}: its metadata is "
                                         f"{len(xml)} bytes as stored, over the "
                                         f"{MAX_STORED_OBJECT_BYTES} an object may have",
                                         kind)])
        return pack(xml)

    @staticmethod
    def with_patient(stored: bytes, patient_id: str) -> bytes:
        """The registered form with its patientId replaced (a patient merge, ITI-8 A40 / A47:
        the object now belongs to the surviving patient). sourcePatientId is the source's and
        stays."""
        element = etree.fromstring(unpack(stored))
        for identifier in element.iter(f"{{{RIM}}}ExternalIdentifier"):
            if identifier.get("identificationScheme") in _PATIENT_SCHEMES:
                identifier.set("value", patient_id)
        return pack(etree.tostring(element, encoding="UTF-8", xml_declaration=False))


_local = threading.local()


def _parser() -> etree.XMLParser:
    """For what the registry wrote (no DTD, no entities); ids are not collected (nothing
    looks them up: a third of the parse). One per thread: lxml parsers are not thread-safe."""
    parser = getattr(_local, "parser", None)
    if parser is None:
        parser = _local.parser = etree.XMLParser(resolve_entities=False, load_dtd=False,
                                                 no_network=True, collect_ids=False)
    return parser


_PATIENT_SCHEMES = frozenset({v.DE_PATIENT_ID, v.SS_PATIENT_ID, v.FOL_PATIENT_ID})


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


def registry_objects(result: QueryResult, return_type: ReturnType,
                     max_bytes: int = 16 * 2**20) -> list[bytes]:
    """A query's objects in an AdhocQueryResponse's RegistryObjectList: LeafClass as
    registered, or ObjectRefs. A LeafClass answer is measured before a byte of it is unpacked
    (the packed forms say their size) and refused over `max_bytes`, so no query builds an
    answer the server would not send (XDS_MAX_ENVELOPE_BYTES)."""
    if return_type is ReturnType.OBJECT_REF:
        return [etree.tostring(object_ref(record.entry_uuid))
                for _, records in result.by_kind() for record in records]
    size = sum(unpacked_size(record.stored) for _, records in result.by_kind()
               for record in records)
    if size > max_bytes:
        raise RegistryFailure([error(
            ErrorCode.TOO_MANY_RESULTS, f"the {result.count} objects that match make a "
            f"LeafClass answer of {size} bytes, over the {max_bytes} this registry sends: ask "
            "for ObjectRef and fetch them in smaller groups", "")])
    try:
        return [leaf_class(record) for _, records in result.by_kind() for record in records]
    except PackingError as exc:
        raise RegistryFailure([error(ErrorCode.REGISTRY_ERROR, f"a stored object cannot be "
                                     f"read back ({exc}); quote this to the operator",
                                     "")]) from None


def model_object(record: Record) -> DocumentEntry | SubmissionSet | Folder | Association:
    """A registered object as a model object again, with its current status (the FHIR front
    decodes each object it answers with: tests/test_stored_decode.py holds this to what
    decode_submission makes of the same XML)."""
    obj = decode_registered(etree.fromstring(leaf_class(record), _parser()))
    obj.status = record.status
    return obj
