"""ITI-41 Provide and Register Document Set-b on the repository endpoint."""

from __future__ import annotations

import logging

from ..ebxml.decode import decode_submission
from ..ebxml.encode import registry_response
from ..ebxml.namespaces import LCM, RS, XDSB
from ..model.content import Attachment
from ..repository.actor import Repository
from ..security.principal import SYSTEM
from ..soap.endpoint import Operation
from ..soap.faults import sender
from ..soap.message import SoapRequest, SoapResponse
from ..soap.namespaces import qn
from ..validation.errors import RegistryFailure
from .outcome import outcome_label

log = logging.getLogger("xds_server.repository")

ACTION = "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b"
RESPONSE_ACTION = "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-bResponse"


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
        try:
            errors = repository.provide(decoded.submission, documents, SYSTEM, decoded.errors)
        except RegistryFailure as failure:
            errors = failure.errors
            log.info("request_id=%s ITI-41 rejected: %s", request.request_id,
                     "; ".join(f"{e.code}: {e.context}" for e in errors[:5]))
        payload = registry_response(errors)
        return SoapResponse(payload, outcome=outcome_label(payload.get("status")))

    return Operation("ITI-41", ACTION, RESPONSE_ACTION,
                     qn(XDSB, "ProvideAndRegisterDocumentSetRequest"), qn(RS, "RegistryResponse"),
                     handle, wsdl_name="DocumentRepository_ProvideAndRegisterDocumentSet-b")
