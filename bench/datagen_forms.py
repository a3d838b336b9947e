"""The stored values of bench/datagen.py's rows, made as the registry makes them at a fraction
of the cost: each object's XML comes from the real encoder once per code combination (a
template), and is filled per row by joining literal pieces with fresh nested ids and the row's
values; a document's second form (its DocumentReference, fhir/stored_forms.py) is rendered
from the template's decoded entry with the row's values, instead of parsing and decoding every
row's XML again. tests/test_datagen.py registers a load again through the product's own path
and finds the same rows, byte for byte.
"""

from __future__ import annotations

import copy
import dataclasses
import os
import re
from xml.sax.saxutils import escape

from lxml import etree

from xds_server.app import stored_form
from xds_server.ebxml.decode import decode_registered
from xds_server.ebxml.encode import (
    encode_association,
    encode_document,
    encode_submission_set,
)
from xds_server.ebxml.packing import pack, pack_pair
from xds_server.model import vocabulary as v
from xds_server.model.metadata import (
    Association,
    Author,
    Code,
    DocumentEntry,
    SubmissionSet,
)


class Template:
    """One object's encoded XML cut at its nested ids and filled per row by joining the cuts
    with fresh ids and replacing the markers (no regular expression a row); for a document,
    also the DocumentEntry its XML decodes to (the product's decoder, once a template)."""

    def __init__(self, xml: str, entry: DocumentEntry | None = None) -> None:
        # the XML as literal pieces with slots: a fresh nested id, or a marker's value
        self.pieces: list[str] = []
        self.id_slots: list[int] = []
        self.marker_slots: list[tuple[int, str]] = []
        for n, cut in enumerate(_NESTED_ID.split(xml)):
            if n:
                self.id_slots.append(len(self.pieces))
                self.pieces.append("")
            for m, piece in enumerate(_PLAIN_MARKER.split(cut)):
                if m % 2:
                    self.marker_slots.append((len(self.pieces), piece))
                self.pieces.append(piece)
        self.entry = entry
        # the entry's fields holding a marker: the only ones a row fills (the rest shared)
        self.marked = [f.name for f in dataclasses.fields(entry)
                       if _has_marker(getattr(entry, f.name))] if entry else []

    def text(self, values: dict[str, str]) -> bytes:
        """The XML of one row: fresh nested Classification/ExternalIdentifier ids, markers
        filled with their XML-escaped values (what replacing them in the XML gives)."""
        out = self.pieces.copy()
        for slot, fresh in zip(self.id_slots, uuids(len(self.id_slots)), strict=True):
            out[slot] = f' id="urn:uuid:{fresh}"'
        escaped = {name: escape(value) for name, value in values.items()}
        for slot, name in self.marker_slots:
            out[slot] = escaped[name]
        return "".join(out).encode()


class Templates:
    """Encoded XML with markers, made once per code combination, filled per row."""

    def __init__(self) -> None:
        self.documents: dict[tuple, Template] = {}
        document_set = SubmissionSet("@UUID@", unique_id="@UID@", patient_id="@PID@",
                                     source_id="1.2.250.1.999.1", submission_time="@TIME@",
                                     content_type_code=Code("26", "1.2.250.1.213.2.2"),
                                     authors=[Author(person="@AUTHOR@")])
        self.set = Template(etree.tostring(encode_submission_set(document_set)).decode())
        self.association = Template(etree.tostring(encode_association(Association(
            "@UUID@", v.HAS_MEMBER, "@SRC@", "@TGT@",
            slots={v.SUBMISSION_SET_STATUS: ["Original"]}))).decode())

    def entry(self, template: Template, values: dict[str, str]) -> DocumentEntry:
        """The template's decoded entry with this row's values (its marked fields only)."""
        entry = copy.copy(template.entry)
        for name in template.marked:
            setattr(entry, name, _filled(getattr(entry, name), values))
        return entry

    def document(self, key: tuple) -> Template:
        if key not in self.documents:
            (class_code, type_code), format_code, practice, facility = key
            entry = DocumentEntry(
                "@UUID@", unique_id="@UID@", patient_id="@PID@", title="Compte rendu",
                mime_type="text/xml", class_code=Code(class_code, "1.2.250.1.213.1.1.4.1"),
                type_code=Code(type_code, "2.16.840.1.113883.6.1"),
                format_code=Code(format_code, "1.3.6.1.4.1.19376.1.2.3"),
                healthcare_facility_type_code=Code(facility, "1.2.250.1.71.4.2.4"),
                practice_setting_code=Code(practice, "1.2.250.1.213.1.1.4.9"),
                confidentiality_codes=[Code("N", "2.16.840.1.113883.5.25")],
                event_codes=[Code("@EVENT@", "1.2.250.1.215.300.1")],
                authors=[Author(person="@AUTHOR@", institutions=[
                    "Hopital^^^^^&1.2.250.1.71.4.2.2&ISO^IDNST^^^1750100125"])],
                creation_time="@TIME@", service_start_time="@TIME@", hash="0" * 40,
                size="51200", language_code="fr-FR", repository_unique_id="1.2.250.1.999.2",
                source_patient_id="@PID@", logical_id="@UUID@", version="1")
            xml = etree.tostring(encode_document(entry))
            # the decoder wants a urn:uuid: id; _MARKER takes the prefix with the marker
            decoded = decode_registered(etree.fromstring(
                xml.replace(b'"@UUID@"', b'"urn:uuid:@UUID@"')))
            self.documents[key] = Template(xml.decode(), decoded)
        return self.documents[key]


_NESTED_ID = re.compile(r' id="urn:uuid:[0-9a-f-]{36}"')
_MARKER = re.compile("(?:urn:uuid:)?@([A-Z]+)@")
_PLAIN_MARKER = re.compile("@([A-Z]+)@")
_STORED_FORM = stored_form()


def uuids(count: int) -> list[str]:
    """`count` random (version 4) UUIDs as text, as str(uuid.uuid4()) writes them, from one
    read of urandom (uuid.UUID's constructor was a third of a row's Python time)."""
    raw = os.urandom(16 * count).hex()
    out = []
    for start in range(0, 32 * count, 32):
        h = raw[start:start + 32]
        out.append(f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}")
    return out


def new_ids() -> tuple[str, str]:
    """An entryUUID and a uniqueId (2.25 + a UUID's number), random."""
    entry, unique = uuids(2)
    return f"urn:uuid:{entry}", f"2.25.{int(unique.replace('-', ''), 16)}"


_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}


def _has_marker(value) -> bool:
    if isinstance(value, str):
        return _MARKER.search(value) is not None
    if isinstance(value, list):
        return any(_has_marker(item) for item in value)
    if isinstance(value, dict):
        return any(_has_marker(item) for item in value.values())
    if dataclasses.is_dataclass(value):
        return any(_has_marker(getattr(value, f.name)) for f in dataclasses.fields(value))
    return False


def _filled(value, values: dict[str, str]):
    """A decoded template object with its markers filled (raw values: the model's, not the
    XML's escaped text); dataclasses, lists and dicts copied, the rest shared."""
    if isinstance(value, str):
        return _MARKER.sub(lambda m: values[m.group(1)], value) if "@" in value else value
    if isinstance(value, list):
        return [_filled(item, values) for item in value]
    if isinstance(value, dict):
        return {name: _filled(item, values) for name, item in value.items()}
    if dataclasses.is_dataclass(value):
        return dataclasses.replace(value, **{f.name: _filled(getattr(value, f.name), values)
                                             for f in dataclasses.fields(value)
                                             if f.init})
    return value


def document_value(templates: Templates, template: Template,
                   values: dict[str, str]) -> tuple[bytes, DocumentEntry]:
    """A document's stored value as `EbrimStoredForm.packed` makes it from the same XML
    (tests/test_datagen.py holds them byte-equal): the second form from the template's
    decoded entry with the row's values, instead of parsing and decoding each row's XML
    again (0.55 ms a row)."""
    xml = template.text(values)
    entry = templates.entry(template, values)
    second = _STORED_FORM.second_form(entry)
    return (pack(xml) if second is None else pack_pair(xml, second)), entry


def fill(template: Template, ids: tuple[str, ...] = (), **values: str) -> bytes:
    """A set's or an association's stored value, packed as the registry stores what it
    registers (`EbrimStoredForm.packed`; an association with its `ids` marked)."""
    return _STORED_FORM.packed(template.text(values), ids)


_MADE: list[Templates] = []


def templates() -> Templates:
    """One set of templates a process (decoding 162 of them took ~0.3 s a chunk)."""
    if not _MADE:
        _MADE.append(Templates())
    return _MADE[0]
