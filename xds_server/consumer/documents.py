"""Source and consumer requests for documents: ITI-41 provide and ITI-43 retrieve."""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from ..ebxml.actions import ITI_41, ITI_43, ITI_86
from ..ebxml.namespaces import LCM, RIM, RS, XDSB
from ..model.content import Attachment
from ..model.metadata import Submission
from .metadata import submit_objects_request
from .transport import SoapReply

PROVIDE, RETRIEVE, REMOVE = ITI_41.action, ITI_43.action, ITI_86.action


def _x(local: str) -> str:
    return f"{{{XDSB}}}{local}"


def provide_request(submission: Submission, documents: dict[str, Attachment]
                    ) -> tuple[etree._Element, list[tuple[etree._Element, Attachment]]]:
    """xdsb:ProvideAndRegisterDocumentSetRequest and the binaries to hang on its Documents."""
    request = etree.Element(_x("ProvideAndRegisterDocumentSetRequest"),
                            nsmap={"xdsb": XDSB, "lcm": LCM, "rim": RIM})
    request.append(submit_objects_request(submission))
    binaries = []
    for doc_id, content in documents.items():
        binaries.append((etree.SubElement(request, _x("Document"), id=doc_id), content))
    return request, binaries


REMOVE_ROOT = "{urn:ihe:iti:rmd:2017}RemoveDocumentsRequest"


def remove_request(items: list[tuple[str, str]]) -> etree._Element:
    """rmd:RemoveDocumentsRequest (ITI-86) for (repositoryUniqueId, documentUniqueId) pairs."""
    return retrieve_request(items, root=REMOVE_ROOT)


def retrieve_request(items: list[tuple[str, str]], home: str | None = None,
                     root: str = "") -> etree._Element:
    """xdsb:RetrieveDocumentSetRequest for (repositoryUniqueId, documentUniqueId) pairs, or
    another root holding the same DocumentRequests (ITI-86's rmd:RemoveDocumentsRequest)."""
    request = etree.Element(root or _x("RetrieveDocumentSetRequest"), nsmap={"xdsb": XDSB})
    for repository_id, document_id in items:
        item = etree.SubElement(request, _x("DocumentRequest"))
        if home:
            etree.SubElement(item, _x("HomeCommunityId")).text = home
        etree.SubElement(item, _x("RepositoryUniqueId")).text = repository_id
        etree.SubElement(item, _x("DocumentUniqueId")).text = document_id
    return request


@dataclass
class RetrievedContent:
    repository_unique_id: str
    document_unique_id: str
    mime_type: str
    data: bytes


@dataclass
class RetrieveResult:
    status: str
    errors: list[tuple[str, str]]
    documents: list[RetrievedContent]


def parse_retrieve(reply: SoapReply) -> RetrieveResult:
    payload = reply.payload
    response = payload.find(f"{{{RS}}}RegistryResponse") if payload is not None else None
    status = (response.get("status") or "") if response is not None else ""
    errors = [(e.get("errorCode") or "", e.get("codeContext") or "")
              for e in (payload.iter(f"{{{RS}}}RegistryError") if payload is not None else [])]
    documents = []
    for item in payload.findall(_x("DocumentResponse")) if payload is not None else []:
        documents.append(RetrievedContent(item.findtext(_x("RepositoryUniqueId")) or "",
                                          item.findtext(_x("DocumentUniqueId")) or "",
                                          item.findtext(_x("mimeType")) or "",
                                          reply.binary(item.find(_x("Document")))))
    return RetrieveResult(status.rsplit(":", 1)[-1], errors, documents)
