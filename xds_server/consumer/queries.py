"""Stored-query requests a consumer sends (ITI-18), built from plain values."""

from __future__ import annotations

from lxml import etree

from ..ebxml.actions import ITI_18
from ..ebxml.namespaces import QUERY, RIM
from ..model import vocabulary as v
from ..model.stored_queries import FindDocuments, GetDocuments
from .transport import SoapClient

FIND_DOCUMENTS, GET_DOCUMENTS = FindDocuments.ID, GetDocuments.ID
STORED_QUERY = ITI_18.action
_STATUSES = {s.rsplit(":", 1)[-1]: s for s in v.STATUSES}


def _quote(value: str | int) -> str:
    """A slot value: a string quoted, a number as is ($MetadataLevel)."""
    if isinstance(value, int):
        return str(value)
    return "'" + value.replace("'", "''") + "'"


def adhoc_query(query_id: str, params: dict[str, str | int | list[str]],
                return_type: str = "LeafClass") -> etree._Element:
    request = etree.Element(f"{{{QUERY}}}AdhocQueryRequest", nsmap={"query": QUERY, "rim": RIM})
    etree.SubElement(request, f"{{{QUERY}}}ResponseOption", returnType=return_type,
                     returnComposedObjects="true")
    adhoc = etree.SubElement(request, f"{{{RIM}}}AdhocQuery", id=query_id)
    for name, value in params.items():
        slot = etree.SubElement(adhoc, f"{{{RIM}}}Slot", name=name)
        text = "(" + ",".join(_quote(x) for x in value) + ")" if isinstance(value, list) \
            else _quote(value)
        etree.SubElement(etree.SubElement(slot, f"{{{RIM}}}ValueList"),
                         f"{{{RIM}}}Value").text = text
    return request


def find_documents_request(patient: str, statuses: list[str],
                           class_codes: list[str] | None = None) -> etree._Element:
    params: dict[str, str | list[str]] = {
        "$XDSDocumentEntryPatientId": patient,
        "$XDSDocumentEntryStatus": [_STATUSES.get(s, s) for s in statuses]}
    if class_codes:
        params["$XDSDocumentEntryClassCode"] = class_codes
    return adhoc_query(FIND_DOCUMENTS, params)


def registered_entry(registry: SoapClient, document_unique_id: str) -> etree._Element:
    """The registry's ExtrinsicObject for a document uniqueId (GetDocuments)."""
    reply = registry.call(STORED_QUERY, adhoc_query(
        GET_DOCUMENTS, {"$XDSDocumentEntryUniqueId": [document_unique_id]}))
    entry = (next(reply.payload.iter(f"{{{RIM}}}ExtrinsicObject"), None)
             if reply.payload is not None else None)
    if entry is None:
        # the words of every command (and README's): a hidden document is not told apart (m16)
        raise LookupError(f"the registry knows no document with uniqueId {document_unique_id} "
                          "(or not one you may see)")
    return entry


def repository_of(registry: SoapClient, document_unique_id: str) -> str:
    """The repositoryUniqueId the registry holds for a document."""
    for slot in registered_entry(registry, document_unique_id).iter(f"{{{RIM}}}Slot"):
        if slot.get("name") == "repositoryUniqueId":
            return slot.findtext(f"{{{RIM}}}ValueList/{{{RIM}}}Value") or ""
    raise LookupError(f"the registry gives no repositoryUniqueId for {document_unique_id}")
