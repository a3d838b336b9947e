"""The registered form of an object as the ebXML front keeps it (the registry's `StoredForm`,
registry/stored_form.py): its ebRIM LeafClass XML as the registry encodes it at registration,
packed (packing.py). Queries give the bytes back untouched; this module makes them an answer
(LeafClass as registered, with what changed since: the status, a folder's lastUpdateTime) or
model objects again (for a front that speaks another format).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from lxml import etree

from ..model import vocabulary as v
from ..model.errors import ErrorCode, RegistryFailure, error
from ..model.metadata import Association, DocumentEntry, Folder, SubmissionSet
from ..model.registered import AssociationRecord, FolderRecord, QueryResult, Record
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
from .packing import (
    MARKED,
    PAIR,
    PackingError,
    pack,
    pack_marked,
    pack_pair,
    second_form,
    unpack,
    unpacked_size,
)
from .stored_text import TAGS, TEXT_WRITERS, NotPlain

_ENCODERS: dict[type, Any] = {DocumentEntry: encode_document, SubmissionSet: encode_submission_set,
                              Folder: encode_folder, Association: encode_association}
_APPROVED_ATTRIBUTE = f'status="{v.APPROVED}"'.encode()
# The largest object the registry keeps, as its LeafClass XML. A DocumentEntry is a few KB;
# the cap stops an object that grows when stored (a Description of 2.5 MB of '"' is 15 MB of
# '&quot;') from making every later answer about its record huge, or unreadable.
MAX_STORED_OBJECT_BYTES = 512 * 1024


# A DocumentEntry's second stored form (the FHIR front's DocumentReference text), or None
SecondForm = Callable[[DocumentEntry], "bytes | None"]
# Whether an entry keeps it (else its readers render it on demand, from the LeafClass)
Keeps = Callable[[DocumentEntry], bool]
_DOCUMENT_ROOT = b"ExtrinsicObject"


def _always(_entry: DocumentEntry) -> bool:
    return True


class EbrimStoredForm:
    """Registered objects as packed ebRIM LeafClass XML; with `second_form`, a DocumentEntry's
    value also keeps that form, rendered from the LeafClass itself (packing.py, format 0x02),
    when `keeps` says so (an entry it refuses is registered without decoding its LeafClass)."""

    def __init__(self, second_form: SecondForm | None = None, keeps: Keeps = _always) -> None:
        self.second_form = second_form
        self.keeps = keeps

    def packed(self, xml: bytes, ids: tuple[str, ...] = ()) -> bytes:
        """The stored value of a registered object's LeafClass XML. Every write of one goes
        through here (registration, a merge's new patient), and the second form is decoded
        from this very XML, as the FHIR front decoded it before (model_object): the two forms
        cannot disagree. An association's `ids` (its id, source and target, which its row
        keeps) are marked in it (packing.py, 0x03): leaf_class gives them back."""
        if ids:
            return pack_marked(xml, ids)
        if self.second_form is None or _DOCUMENT_ROOT not in xml[:64]:
            return pack(xml)
        try:
            entry = decode_registered(etree.fromstring(xml, _parser()))
        except ValueError:      # not a registered object (never from the registry's writes)
            return pack(xml)
        second = self.second_form(entry) \
            if isinstance(entry, DocumentEntry) and self.keeps(entry) else None
        return pack(xml) if second is None else pack_pair(xml, second)

    def refilled(self, stored: bytes) -> bytes | None:
        """A value kept before its second form existed, with it (`packed` of its LeafClass);
        None when there is nothing to add (it has one, or it is no document entry)."""
        if self.second_form is None or stored[:1] in (PAIR, MARKED):
            return None
        new = self.packed(unpack(stored))
        return new if second_form(new) is not None else None

    def registered(self, obj: DocumentEntry | SubmissionSet | Folder | Association) -> bytes:
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
        if isinstance(obj, Association):
            return self.packed(xml, (obj.entry_uuid, obj.source, obj.target))
        if isinstance(obj, DocumentEntry) and not self.keeps(obj):
            return pack(xml)        # what `packed` would decide, without decoding the XML
        return self.packed(xml)

    @staticmethod
    def model_object(record: Record) -> DocumentEntry | SubmissionSet | Folder | Association:
        """The registry's StoredForm.model_object: `model_object` below."""
        return model_object(record)

    def with_patient(self, stored: bytes, patient_id: str) -> bytes:
        """The registered form with its patientId replaced (a patient merge, ITI-8 A40 / A47:
        the object now belongs to the surviving patient). sourcePatientId is the source's and
        stays."""
        element = etree.fromstring(unpack(stored))
        for identifier in element.iter(f"{{{RIM}}}ExternalIdentifier"):
            if identifier.get("identificationScheme") in _PATIENT_SCHEMES:
                identifier.set("value", patient_id)
        return self.packed(etree.tostring(element, encoding="UTF-8", xml_declaration=False))


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


def _ids(record: Record) -> tuple[str, ...]:
    """The ids a MARKED value of this record needs back (packing.py 0x03): an association's."""
    if isinstance(record, AssociationRecord):
        return (record.entry_uuid, record.source, record.target)
    return ()


def leaf_class(record: Record) -> bytes:
    """The registered XML with what changes after registration (status, lastUpdateTime).

    Registered XML says Approved; a later status is patched into the root's attribute without
    parsing. A folder whose lastUpdateTime moved is re-serialised (rare)."""
    xml = unpack(record.stored, _ids(record))
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


def stored_second_form(record: Record) -> bytes | None:
    """A record's second stored form (format 0x02), None for a value without one; a value
    that cannot be read back is the same REGISTRY_ERROR as for a LeafClass answer."""
    try:
        return second_form(record.stored)
    except PackingError as exc:
        raise RegistryFailure([error(ErrorCode.REGISTRY_ERROR, f"a stored object cannot be "
                                     f"read back ({exc}); quote this to the operator",
                                     "")]) from None
