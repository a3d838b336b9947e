"""ITI-86 Remove Documents (IHE RMD) on the repository endpoint: the repository deletes the
documents it holds; unknown ones give XDSDocumentUniqueIdError, a PartialSuccess when others
were removed."""

from __future__ import annotations

from lxml import etree

from ..ebxml.encode import error_list, response_status
from ..ebxml.namespaces import RS
from ..repository.actor import Repository
from ..security.authentication import caller
from ..soap.endpoint import Operation
from ..soap.message import SoapRequest, SoapResponse
from ..soap.namespaces import qn
from .iti43 import document_requests
from .outcome import outcome_label

RMD = "urn:ihe:iti:rmd:2017"
ACTION = "urn:ihe:iti:2017:RemoveDocuments"
RESPONSE_ACTION = "urn:ihe:iti:2017:RemoveDocumentsResponse"


def iti86_operation(repository: Repository, max_requests: int = 1000) -> Operation:
    def handle(request: SoapRequest) -> SoapResponse:
        removed, errors = repository.remove(document_requests(request.payload, max_requests),
                                            caller(request))
        status = response_status(errors, partial=bool(removed))
        answer = etree.Element(qn(RS, "RegistryResponse"), nsmap={"rs": RS}, status=status)
        errors_element = error_list(errors)
        if errors_element is not None:
            answer.append(errors_element)
        return SoapResponse(answer, outcome=outcome_label(status))

    return Operation("ITI-86", ACTION, RESPONSE_ACTION, qn(RMD, "RemoveDocumentsRequest"),
                     qn(RS, "RegistryResponse"), handle,
                     wsdl_name="DocumentRepository_RemoveDocuments")
