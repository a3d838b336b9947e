"""ITI-43 Retrieve Document Set on the repository endpoint."""

from __future__ import annotations

from lxml import etree

from ..ebxml.encode import response_status
from ..ebxml.namespaces import PARTIAL_SUCCESS, XDSB
from ..repository.actor import DocumentRequest, Repository
from ..security.authentication import caller
from ..soap.endpoint import Operation
from ..soap.faults import sender
from ..soap.message import SoapRequest, SoapResponse
from ..soap.namespaces import qn
from .outcome import outcome_label
from .retrieve_response import retrieve_response_pieces

ACTION = "urn:ihe:iti:2007:RetrieveDocumentSet"
RESPONSE_ACTION = "urn:ihe:iti:2007:RetrieveDocumentSetResponse"


_DOCUMENT_REQUEST = qn(XDSB, "DocumentRequest")
_FIELDS = {qn(XDSB, name): name for name in
           ("RepositoryUniqueId", "DocumentUniqueId", "HomeCommunityId")}


def _fields(element: etree._Element) -> dict[str, str]:
    """The first text of each DocumentRequest child this transaction reads, stripped."""
    values: dict[str, str] = {}
    for child in element:
        name = _FIELDS.get(child.tag)
        if name is not None and name not in values:
            values[name] = (child.text or "").strip()
    return values


def document_requests(payload: etree._Element, limit: int) -> list[DocumentRequest]:
    """The xdsb:DocumentRequest children of a retrieve (ITI-43) or remove (ITI-86) request, at
    most `limit` (XDS_MAX_DOCUMENTS_PER_REQUEST: each is a MIME part of the answer and an entry
    of the audit; one document named 40,000 times must not make an answer of 40,000 parts)."""
    requests = []
    for element in payload.iterchildren(_DOCUMENT_REQUEST):
        if len(requests) == limit:
            raise sender(f"{etree.QName(payload).localname} names more than {limit} "
                         "documents (XDS_MAX_DOCUMENTS_PER_REQUEST): send them in several "
                         "requests", "TooManyDocumentRequests")
        values = _fields(element)
        repository_id = values.get("RepositoryUniqueId")
        document_id = values.get("DocumentUniqueId")
        if not repository_id or not document_id:
            raise sender("each xdsb:DocumentRequest needs RepositoryUniqueId and "
                         "DocumentUniqueId", "InvalidDocumentRequest")
        requests.append(DocumentRequest(repository_id, document_id,
                                        values.get("HomeCommunityId")))
    if not requests:
        raise sender(f"{etree.QName(payload).localname} holds no DocumentRequest",
                     "InvalidDocumentRequest")
    return requests


def iti43_operation(repository: Repository, max_requests: int = 1000) -> Operation:
    def handle(request: SoapRequest) -> SoapResponse:
        found, errors = repository.retrieve(document_requests(request.payload, max_requests),
                                            caller(request))
        status = response_status(errors, partial=bool(found))
        if errors and found:
            status = PARTIAL_SUCCESS
        return SoapResponse(retrieve_response_pieces(found, errors, status),
                            outcome=outcome_label(status))

    return Operation("ITI-43", ACTION, RESPONSE_ACTION, qn(XDSB, "RetrieveDocumentSetRequest"),
                     qn(XDSB, "RetrieveDocumentSetResponse"), handle,
                     wsdl_name="DocumentRepository_RetrieveDocumentSet")
