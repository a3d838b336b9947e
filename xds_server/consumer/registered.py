"""What a consumer reads back from a registry: the DocumentEntries of a LeafClass answer as model
objects (decoded by the same ebRIM codec the server uses), and the row a listing shows of each."""

from __future__ import annotations

import copy

from lxml import etree

from ..ebxml.decode import decode_submission
from ..ebxml.namespaces import LCM, RIM, lcm, rim
from ..model import vocabulary as v
from ..model.metadata import DocumentEntry

# what `xds-server query` shows, in order: (column, how it is read from an entry)
COLUMNS: tuple[tuple[str, object], ...] = (
    ("title", lambda d: d.title or ""),
    ("type", lambda d: (d.type_code.display or d.type_code.code) if d.type_code else ""),
    ("date", lambda d: d.creation_time or ""),
    ("status", lambda d: short_status(d.status)),
    ("confidentiality", lambda d: ",".join(c.code for c in d.confidentiality_codes
                                           if c.code not in v.VISIBILITY_CODES) or "-"),
    ("visibility", lambda d: ",".join(c.code for c in d.confidentiality_codes
                                      if c.code in v.VISIBILITY_CODES) or "-"),
    ("version", lambda d: d.version or ""),
    ("uniqueId", lambda d: d.unique_id),
)

STATUS_NAMES = {s.rsplit(":", 1)[-1]: s for s in v.STATUSES}


def short_status(status: str) -> str:
    return status.rsplit(":", 1)[-1]


def document_entries(payload: etree._Element | None) -> list[DocumentEntry]:
    """Every ExtrinsicObject of an answer as a DocumentEntry, with its registered status."""
    if payload is None:
        return []
    entries = []
    for element in payload.iter(rim("ExtrinsicObject")):
        request = etree.Element(lcm("SubmitObjectsRequest"), nsmap={"lcm": LCM, "rim": RIM})
        etree.SubElement(request, rim("RegistryObjectList")).append(copy.deepcopy(element))
        decoded = decode_submission(request).submission.documents
        if decoded:
            decoded[0].status = element.get("status") or decoded[0].status
            entries.append(decoded[0])
    return entries


def listing_row(entry: DocumentEntry) -> dict[str, str]:
    """The columns of COLUMNS, and what a script wants beside them (--json)."""
    row = {name: read(entry) for name, read in COLUMNS}   # type: ignore[operator]
    row.update(author=next((a.person for a in entry.authors if a.person), "") or "",
               entryUUID=entry.entry_uuid, logicalId=entry.logical_id or entry.entry_uuid,
               mimeType=entry.mime_type, repositoryUniqueId=entry.repository_unique_id or "",
               patientId=entry.patient_id,
               classCode=entry.class_code.query_form if entry.class_code else "")
    return row
