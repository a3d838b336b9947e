"""What a stored query found, before the access policy, and its rendering (LeafClass as
registered, or ObjectRef)."""

from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree
from sqlalchemy.engine import Row

from ..ebxml.encode import object_ref
from ..ebxml.namespaces import rim
from ..model import vocabulary as v
from ..store.xml_packing import PackingError, unpack, unpacked_size
from ..validation.errors import ErrorCode, RegistryFailure, error


@dataclass
class QueryResult:
    documents: list[Row] = field(default_factory=list)
    submission_sets: list[Row] = field(default_factory=list)
    folders: list[Row] = field(default_factory=list)
    associations: list[Row] = field(default_factory=list)

    @property
    def count(self) -> int:
        return (len(self.documents) + len(self.submission_sets) + len(self.folders)
                + len(self.associations))

    def patients(self) -> set[str]:
        return {row.patient_id for rows in (self.documents, self.submission_sets, self.folders,
                                            self.associations) for row in rows}


_APPROVED_ATTRIBUTE = f'status="{v.APPROVED}"'.encode()


def _leaf(row: Row, kind: str) -> bytes:
    """The registered XML with what changes after registration (status, lastUpdateTime).

    Registered XML says Approved; a later status is patched into the root's attribute without
    parsing. A folder whose lastUpdateTime moved is re-serialised (rare)."""
    xml = unpack(row.xml)
    if xml.startswith(b"<?xml"):
        xml = xml[xml.index(b"?>") + 2:].lstrip()
    if row.status != v.APPROVED:
        xml = xml.replace(_APPROVED_ATTRIBUTE, f'status="{row.status}"'.encode(), 1)
    if kind == "folder" and row.last_update_time:
        element = etree.fromstring(xml)
        for slot in element.findall(rim("Slot")):
            if slot.get("name") == "lastUpdateTime":
                slot.find(f"{rim('ValueList')}/{rim('Value')}").text = row.last_update_time
                break
        xml = etree.tostring(element, encoding="UTF-8", xml_declaration=False)
    return xml


def render(result: QueryResult, return_type: str, max_bytes: int = 16 * 2**20) -> list[bytes]:
    """The answer's objects; a LeafClass answer is measured before a byte of it is unpacked
    (the packed rows say their size) and refused over `max_bytes`, so no query builds an answer
    the server would not send (XDS_MAX_ENVELOPE_BYTES)."""
    groups = (("document", result.documents), ("submission_set", result.submission_sets),
              ("folder", result.folders), ("association", result.associations))
    if return_type == "ObjectRef":
        return [etree.tostring(object_ref(row.entry_uuid)) for _, rows in groups
                for row in rows]
    size = sum(unpacked_size(row.xml) for _, rows in groups for row in rows)
    if size > max_bytes:
        raise RegistryFailure([error(
            ErrorCode.TOO_MANY_RESULTS, f"the {result.count} objects that match make a "
            f"LeafClass answer of {size} bytes, over the {max_bytes} this registry sends: ask "
            "for ObjectRef and fetch them in smaller groups", "")])
    try:
        return [_leaf(row, kind) for kind, rows in groups for row in rows]
    except PackingError as exc:
        raise RegistryFailure([error(ErrorCode.REGISTRY_ERROR, f"a stored object cannot be "
                                     f"read back ({exc}); quote this to the operator",
                                     "")]) from None
