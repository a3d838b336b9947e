"""What a document source sends: metadata for a file, from its CDA header when it is a CDA,
from the caller's options otherwise (what a consumer reads back: registered.py).

The CDA mapping here reads the header fields every CDA has (id, code, title, effectiveTime,
confidentialityCode, languageCode, author, documentationOf/serviceEvent); the CI-SIS profile's
full CDA ⇄ metadata rules live in cda/.
"""

from __future__ import annotations

import datetime as dt
import mimetypes
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

from ..cda.header import read_header
from ..cda.mapping import entry_values
from ..model import vocabulary as v
from ..model.metadata import Author, Code, DocumentEntry, Submission, SubmissionSet
from ..valuesets import load_value_sets
from ..xmlsafe import MalformedXmlError, UnsafeXmlError, parse_xml
from .metadata import has_member, new_oid, relationship

HL7 = "urn:hl7-org:v3"


@dataclass
class SourceOptions:
    """Coded values a source gives for what the file itself does not say."""

    class_code: Code = field(default_factory=lambda: Code("10", "1.2.250.1.213.1.1.4.1",
                                                         "Compte rendu"))
    type_code: Code | None = None
    format_code: Code | None = None
    facility: Code = field(default_factory=lambda: Code("SA01", "1.2.250.1.71.4.2.4"))
    practice: Code = field(default_factory=lambda: Code("ETABLISSEMENT",
                                                        "1.2.250.1.213.1.1.4.9"))
    confidentiality: Code | None = None     # None: the CDA's, else N
    content_type: Code = field(default_factory=lambda: Code("04", "1.2.250.1.213.2.2"))
    source_id: str = "1.2.250.1.999.1.1"
    author: str | None = None
    title: str | None = None
    language: str = "fr-FR"
    mime_type: str | None = None
    # what a CDA header gives, for a file that is not one (given for a CDA: they win)
    legal_authenticator: str | None = None
    service_start: str | None = None
    service_stop: str | None = None


NORMAL = Code("N", "2.16.840.1.113883.5.25")


def parse_code(text: str) -> Code:
    """`code^^scheme[^^display]` as given on a command line."""
    parts = text.split("^^")
    if len(parts) < 2 or not parts[0] or not parts[1]:
        raise ValueError(f"'{text}' is not code^^codingScheme")
    return Code(parts[0], parts[1], parts[2] if len(parts) > 2 else "")


def _cda_header(data: bytes) -> etree._Element | None:
    try:
        root = parse_xml(data)
    except (MalformedXmlError, UnsafeXmlError):
        return None
    return root if root.tag == f"{{{HL7}}}ClinicalDocument" else None


def is_cda(path: Path) -> bool:
    """Whether the file is a CDA (its root is hl7:ClinicalDocument)."""
    return _cda_header(path.read_bytes()) is not None


def unsendable(path: Path, options: SourceOptions) -> str | None:
    """Why a file cannot be sent with the metadata this command can give it, or None: a CDA
    (its header gives them), a PDF (by its first bytes) or UTF-8 text named .txt (the XDS-SD
    formats), or any file given --mime-type. Anything else (a password file, a script, XML
    that is no CDA) went to the server under guessed metadata: a source's slip, sent."""
    if options.mime_type:
        return None
    data = path.read_bytes()
    if _cda_header(data) is not None or data.startswith(b"%PDF-"):
        return None
    if path.suffix.lower() == ".txt":
        try:
            data.decode("utf-8")
            return None
        except UnicodeDecodeError:
            return "named .txt but not UTF-8 text"
    if data.lstrip().startswith(b"<"):
        return "XML that is not a CDA (no hl7:ClinicalDocument root)"
    if path.suffix.lower() == ".xml":   # a password file named .xml was called XML
        return "named .xml but not XML: neither a CDA, a PDF nor .txt text"
    return "neither a CDA, a PDF nor .txt text"


def mime_type_of(path: Path, data: bytes, cda: bool, options: SourceOptions) -> str:
    """The mime type a file is sent under: --mime-type, else what its bytes are (a CDA is
    text/xml, a PDF application/pdf: a PDF named .xml was sent as text/xml and refused), else
    its name's."""
    if options.mime_type:
        return options.mime_type
    if cda:
        return "text/xml"
    if data.startswith(b"%PDF-"):
        return "application/pdf"
    return mimetypes.guess_type(path.name)[0] or "application/octet-stream"


def document_for_file(path: Path, patient: str, options: SourceOptions,
                      symbol: str = "Document01") -> DocumentEntry:
    data = path.read_bytes()
    cda = _cda_header(data)
    entry = DocumentEntry(
        entry_uuid=symbol, unique_id=new_oid(), patient_id=patient, source_patient_id=patient,
        mime_type=mime_type_of(path, data, cda is not None, options),
        class_code=options.class_code, type_code=options.type_code,
        format_code=options.format_code, healthcare_facility_type_code=options.facility,
        practice_setting_code=options.practice,
        confidentiality_codes=[options.confidentiality or NORMAL],
        creation_time=dt.datetime.now(dt.UTC).strftime("%Y%m%d%H%M%S"),
        language_code=options.language, title=options.title or path.stem,
        authors=[Author(person=options.author)] if options.author else [],
        legal_authenticator=options.legal_authenticator,
        service_start_time=options.service_start, service_stop_time=options.service_stop)
    if cda is not None:
        explicit = {"type_code": options.type_code, "format_code": options.format_code,
                    "title": options.title, "authors": options.author,
                    "confidentiality_codes": options.confidentiality,
                    "legal_authenticator": options.legal_authenticator,
                    "service_start_time": options.service_start,
                    "service_stop_time": options.service_stop}
        _from_cda(entry, cda, {name for name, given in explicit.items() if given})
    if entry.type_code is None:
        entry.type_code = Code("55107-7", "2.16.840.1.113883.6.1", "Document")
    if entry.format_code is None:
        entry.format_code = Code("urn:ihe:iti:xds-sd:pdf:2008" if entry.mime_type ==
                                 "application/pdf" else "urn:ihe:iti:xds-sd:text:2008",
                                 "1.3.6.1.4.1.19376.1.2.3")
    return entry


def _from_cda(entry: DocumentEntry, cda: etree._Element, explicit: set[str]) -> None:
    """Every DocumentEntry value the CI-SIS maps from the header (cda/mapping.py), except the
    attributes the caller gave explicitly."""
    values = entry_values(read_header(cda), load_value_sets())
    for attribute, value in values.items():
        if value is not None and attribute not in explicit:
            setattr(entry, attribute, value)


def replaced_unique_ids(path: Path) -> list[str]:
    """The documents a CDA says it replaces (relatedDocument typeCode RPLC), as uniqueIds."""
    cda = _cda_header(path.read_bytes())
    return [str(i) for i in read_header(cda).replaces] if cda is not None else []


def submission_for_files(paths: list[Path], patient: str, options: SourceOptions,
                         replaced: dict[str, str] | None = None,
                         ) -> tuple[Submission, dict[str, Path]]:
    """One submission set holding one DocumentEntry per file; returns Document ids → files.
    `replaced` maps the uniqueIds of registered documents to their entryUUIDs: a CDA that
    replaces one of them gets the RPLC association the registry needs."""
    documents = [document_for_file(path, patient, options, f"Document{i + 1:02d}")
                 for i, path in enumerate(paths)]
    replacements = [relationship(v.RPLC, document.entry_uuid, (replaced or {})[unique_id])
                    for document, path in zip(documents, paths, strict=True)
                    for unique_id in replaced_unique_ids(path) if unique_id in (replaced or {})]
    package = SubmissionSet("SubmissionSet01", unique_id=new_oid(), patient_id=patient,
                            source_id=options.source_id,
                            submission_time=dt.datetime.now(dt.UTC).strftime("%Y%m%d%H%M%S"),
                            content_type_code=options.content_type,
                            authors=[a for d in documents for a in d.authors][:1])
    submission = Submission(package, documents, associations=[
        *(has_member(package.entry_uuid, d.entry_uuid) for d in documents), *replacements])
    return submission, {d.entry_uuid: path for d, path in zip(documents, paths, strict=True)}

