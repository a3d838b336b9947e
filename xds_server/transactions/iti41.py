"""ITI-41 Provide and Register Document Set-b on the repository endpoint."""

from __future__ import annotations

from ..ebxml.actions import ITI_41
from ..ebxml.decode import decode_submission
from ..ebxml.namespaces import LCM, RS, XDSB
from ..model.content import Attachment
from ..repository.actor import Repository
from ..soap.endpoint import Operation
from ..soap.faults import sender
from ..soap.message import SoapRequest, SoapResponse
from ..soap.namespaces import qn
from .authentication import caller
from .outcome import operation, registry_answer


def iti41_operation(repository: Repository) -> Operation:
    def handle(request: SoapRequest) -> SoapResponse:
        metadata = request.payload.find(qn(LCM, "SubmitObjectsRequest"))
        if metadata is None:
            raise sender("ProvideAndRegisterDocumentSetRequest has no lcm:SubmitObjectsRequest",
                         "MissingMetadata")
        documents: dict[str, Attachment] = {}
        for element in request.payload.findall(qn(XDSB, "Document")):
            doc_id = element.get("id")
            if not doc_id:
                raise sender("an xdsb:Document has no id attribute (it must name its "
                             "ExtrinsicObject)", "MissingDocumentId")
            attachment = request.binary(element)
            if doc_id in documents:
                raise sender(f"two xdsb:Document elements have id '{doc_id}'",
                             "DuplicateDocumentId")
            documents[doc_id] = attachment
        decoded = decode_submission(metadata)
        return registry_answer(ITI_41.name, request.request_id, lambda: repository.provide(
            decoded.submission, documents, caller(request), decoded.errors))

    return operation(ITI_41,
                     qn(XDSB, "ProvideAndRegisterDocumentSetRequest"), qn(RS, "RegistryResponse"),
                     handle, wsdl_name="DocumentRepository_ProvideAndRegisterDocumentSet-b")
