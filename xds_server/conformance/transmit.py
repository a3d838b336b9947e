"""Sending a prepared step: a Provide and Register gets its documents (the files the testplan
names, byte for byte, whatever the metadata's hash and size say), a Retrieve the bytes its
ReferenceDocuments must come back as; the request as sent is logged as InputMetadata."""

from __future__ import annotations

import time

from lxml import etree

from ..model.content import Attachment
from . import metadata as md
from .exchange import Reply
from .log import StepRecord, add_xml
from .plan import Transaction
from .prepare import Prepared, TemplateError
from .scope import Scope

XDSB = "urn:ihe:iti:xds-b:2007"
RIM = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"
DE_UNIQUE_ID = "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab"
WRITES = frozenset({"ITI-41", "ITI-42", "ITI-57", "ITI-62", "ITI-86"})


def _read(scope: Scope, name: str) -> bytes:
    path = scope.section.directory / name
    try:
        return path.read_bytes()
    except OSError as exc:
        raise TemplateError(f"cannot read document {path}: {exc}") from None


def _provide_request(scope: Scope, t: Transaction, prepared: Prepared
                     ) -> tuple[etree._Element, list[tuple[etree._Element, Attachment]]]:
    request = etree.Element(f"{{{XDSB}}}ProvideAndRegisterDocumentSetRequest",
                            nsmap={"xdsb": XDSB})
    request.append(prepared.message)
    mime_types = md.mime_types(prepared.message)
    binaries = []
    for document_id, name in t.documents:
        element_id = prepared.uuids.get(document_id, document_id)
        element = etree.SubElement(request, f"{{{XDSB}}}Document", id=element_id)
        mime = mime_types.get(element_id, "application/octet-stream")
        binaries.append((element, Attachment.from_bytes(_read(scope, name), mime)))
    return request, binaries


def _reference_files(scope: Scope, t: Transaction) -> tuple[dict[str, bytes], list[str]]:
    """ReferenceDocument uid → bytes (its file, from the section's directory, the toolkit's
    testplanDir), and the references left unbound. A Retrieve has no metadata processing in
    the toolkit (RetrieveTransaction): its ReferenceDocument uids are matched as written, so a
    symbolic one (`$docuid1$`, even when a UseReport fills the same symbol in the request) is
    never compared, and its file never read; the step's detail names it."""
    files, unbound = {}, []
    for uid, name in t.reference_documents:
        if "$" in uid:
            unbound.append(uid)
        else:
            files[uid] = _read(scope, name)
    return files, unbound


def send(scope: Scope, t: Transaction, prepared: Prepared, record: StepRecord
         ) -> tuple[Reply, dict[str, bytes], list[str]]:
    assert t.iti is not None
    binaries: list[tuple[etree._Element, Attachment]] = []
    payload = prepared.message
    files: dict[str, bytes] = {}
    unbound: list[str] = []
    if t.iti == "ITI-41":
        payload, binaries = _provide_request(scope, t, prepared)
        scope.run.provided.update(
            e.get("value") or "" for e in prepared.message.iter(f"{{{RIM}}}ExternalIdentifier")
            if e.get("identificationScheme") == DE_UNIQUE_ID)
    elif t.iti == "ITI-43":
        files, unbound = _reference_files(scope, t)
    reply = scope.run.endpoints.send(t.iti, payload, binaries, t.mtom)
    if t.iti in WRITES:
        scope.run.last_write = time.time()
    add_xml(record, "InputMetadata", payload)
    return reply, files, unbound
