"""ITI-41 Provide and Register Document Set-b on the repository endpoint."""

from __future__ import annotations

import logging

from ..ebxml.actions import ITI_41
from ..ebxml.decode import decode_submission
from ..ebxml.namespaces import LCM, RS, XDSB
from ..model.content import Attachment
from ..model.errors import RegistryError, is_disk_full
from ..repository.actor import Repository
from ..repository.storage_room import full
from ..soap.endpoint import Operation
from ..soap.faults import sender
from ..soap.message import SoapRequest, SoapResponse
from ..soap.namespaces import qn
from .authentication import caller
from .outcome import operation, registry_answer

log = logging.getLogger("xds_server.repository")


def iti41_operation(repository: Repository) -> Operation:
    def handle(request: SoapRequest) -> SoapResponse:
        metadata = request.payload.find(qn(LCM, "SubmitObjectsRequest"))
        if metadata is None:
            raise sender("ProvideAndRegisterDocumentSetRequest has no lcm:SubmitObjectsRequest",
                         "MissingMetadata")
        try:
            documents = _documents(request)
        except OSError as exc:
            if not is_disk_full(exc):
                raise
            # the disk filled while a part was spooled: the repository's storage-full answer
            log.error("request_id=%s repository storage full while a document was spooled: "
                      "%s: submissions are refused until space is freed", request.request_id,
                      exc)
            return registry_answer(ITI_41.name, request.request_id, _refuse_full)
        decoded = decode_submission(metadata)
        return registry_answer(ITI_41.name, request.request_id, lambda: repository.provide(
            decoded.submission, documents, caller(request), decoded.errors))

    return operation(ITI_41,
                     qn(XDSB, "ProvideAndRegisterDocumentSetRequest"), qn(RS, "RegistryResponse"),
                     handle, wsdl_name="DocumentRepository_ProvideAndRegisterDocumentSet-b")


def _refuse_full() -> list[RegistryError]:
    raise full()


def _documents(request: SoapRequest) -> dict[str, Attachment]:
    """The xdsb:Document elements' bytes by their ids."""
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
    return documents
