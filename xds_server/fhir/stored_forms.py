"""A DocumentEntry's DocumentReference kept at registration beside its LeafClass (the registry's
stored value, ebxml/packing.py format 0x02), so ITI-67 answers as ITI-18 does: unpack and
splice, no parsing nor decoding per document.

The kept text is `to_fhir` of the entry as registered, with what changes after registration
or depends on the request left as marks, filled at answer time:

| mark | what | why not kept |
|---|---|---|
| 0x01 | the isArchived extension, or nothing | the status changes after registration |
| 0x02 | status (current, superseded, entered-in-error) | idem |
| 0x03 | the entryUUID's UUID (id, identifier) | the record has it: 36 bytes LZ4 cannot shrink |
| JSON `\\u0000` | the base URL of attachment.url | the request's (its Host) |

Control characters never appear raw in JSON text (the encoder escapes them), so a mark cannot
be confused with data, and a substitution of every occurrence (the UUID) is undone exactly;
`tests/test_fhir_stored_forms.py` holds the answer to the text `to_fhir` writes for every
status. The metadata version, the patient and everything else are fixed per entryUUID (a merge
rewrites the whole stored value: ebxml/stored.py `EbrimStoredForm.packed`).

A signature document's entry (IHE DSG; one in every DMP submission) keeps none (`kept`): a FHIR
consumer rarely reads it, and keeping it cost 40 % of that entry's stored value (decoding its
LeafClass, rendering, packing a second block: 0.11 of 0.28 ms CPU; issue 19's signed sets).
ITI-67 renders it on demand from the LeafClass, the same text (fhir/forms.py, kept per worker).
"""

from __future__ import annotations

import copy
import json

from ..model import vocabulary as v
from ..model.metadata import DocumentEntry
from ..model.registered import Record
from ..model.signature_entry import claims_to_be_signature
from .document_reference import to_fhir
from .http import binary_url
from .vocabulary import IS_ARCHIVED, STATUS_TO_FHIR

_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
EXTENSION = _JSON({"extension": [{"url": IS_ARCHIVED, "valueBoolean": True}]})[1:-1] + ","
_STATUS = '"status":"current"'
ARCHIVED_MARK, STATUS_MARK, UUID_MARK = "\x01", "\x02", "\x03"
BASE_MARK = "\\u0000"      # U+0000 as JSON writes it: no XML text can hold U+0000
_BASE = "\x00"


def kept(entry: DocumentEntry) -> bool:
    """Whether a registered entry keeps its DocumentReference text: not a signature
    document's (rendered on demand when asked; see above)."""
    return not claims_to_be_signature(entry)


def document_form(entry: DocumentEntry) -> bytes | None:
    """The kept text of a registered DocumentEntry (decoded from its LeafClass), UTF-8; None
    when its text cannot be marked unambiguously (then ITI-67 decodes it as before)."""
    archived = copy.copy(entry)
    archived.status = v.CISIS_ARCHIVED      # "current" with the extension, both then marked
    try:
        text = _JSON(to_fhir(archived, binary_url(_BASE, entry.unique_id or "")))
    except ValueError:      # a value the mapping cannot write (a size that is no number):
        return None         # ITI-67 meets it when it decodes the entry, as before
    if (text.count(EXTENSION) != 1 or text.count(_STATUS) != 1
            or text.count(BASE_MARK) != 1 or not entry.entry_uuid):
        return None
    text = text.replace(EXTENSION, ARCHIVED_MARK).replace(_STATUS, f'"status":"{STATUS_MARK}"')
    return text.replace(entry.entry_uuid.removeprefix("urn:uuid:"), UUID_MARK).encode()


def base_text(base: str) -> str:
    """The request's base URL as JSON string content (once per request)."""
    return _JSON(base)[1:-1]


def document_text(form: bytes, record: Record, base: str) -> str:
    """The DocumentReference JSON of a record from its kept form; `base` from `base_text`."""
    status, archived = STATUS_TO_FHIR.get(record.status, ("current", False))
    return (form.decode().replace(UUID_MARK, record.entry_uuid.removeprefix("urn:uuid:"))
            .replace(STATUS_MARK, status, 1)
            .replace(ARCHIVED_MARK, EXTENSION if archived else "", 1)
            .replace(BASE_MARK, base, 1))
