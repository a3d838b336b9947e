"""The repository's link to a registry on another host, over ITI-42 (XDS_REGISTRY_URL).

The repository's rows are written 'pending' before the registry is asked and marked committed
after its Success, so a crash in between is settled later by asking the registry
(`is_registered`). Registry errors come back to the source unchanged.
"""

from __future__ import annotations

from lxml import etree
from sqlalchemy import Engine

from ..ebxml.namespaces import RIM, RS
from ..model.metadata import Submission
from ..security.principal import Principal
from ..store import repository_store as rows
from ..validation.errors import ErrorCode, RegistryError, RegistryFailure, Severity, error
from .metadata import submit_objects_request
from .transport import SoapClient, TransportError

REGISTER = "urn:ihe:iti:2007:RegisterDocumentSet-b"
STORED_QUERY = "urn:ihe:iti:2007:RegistryStoredQuery"
GET_DOCUMENTS = "urn:uuid:5c4f972b-d56b-40ac-a5fc-c8ca9b40b9d4"
QUERY_NS = "urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0"


class RemoteRegistryLink:
    checks_resubmissions = False  # its rows are written before the registry is asked

    def __init__(self, registry_url: str, engine: Engine, timeout: float = 60.0) -> None:
        self.client = SoapClient(registry_url, timeout=timeout)
        self.engine = engine

    def register(self, submission: Submission, principal: Principal,
                 decode_errors: list[RegistryError], records: list[dict]
                 ) -> list[RegistryError]:
        if any(e.is_error for e in decode_errors):
            raise RegistryFailure(decode_errors)
        with self.engine.begin() as connection:
            for record in records:
                rows.add_document(connection, state=rows.PENDING, **record)
        unique_ids = [record["unique_id"] for record in records]
        try:
            reply = self.client.call(REGISTER, submit_objects_request(submission))
        except TransportError as exc:
            self._forget(unique_ids)
            raise RegistryFailure([error(ErrorCode.REPOSITORY_ERROR,
                                         f"the registry could not be reached: {exc}", "")]) \
                from None
        payload = reply.payload
        if reply.fault is not None or payload is None:
            self._forget(unique_ids)
            reason = reply.fault.reason if reply.fault else "empty answer"
            raise RegistryFailure([error(ErrorCode.REPOSITORY_ERROR,
                                         f"the registry answered with a SOAP fault: {reason}",
                                         "")])
        errors = [RegistryError(e.get("errorCode") or "XDSRegistryError",
                                e.get("codeContext") or "", e.get("location") or "",
                                Severity.WARNING if (e.get("severity") or "").endswith("Warning")
                                else Severity.ERROR)
                  for e in payload.iter(f"{{{RS}}}RegistryError")]
        if not (payload.get("status") or "").endswith(":Success"):
            self._forget(unique_ids)
            raise RegistryFailure(errors or [error(ErrorCode.REGISTRY_ERROR,
                                                   "the registry refused the submission", "")])
        with self.engine.begin() as connection:
            rows.mark_committed(connection, unique_ids)
        return [*decode_errors, *errors]

    def _forget(self, unique_ids: list[str]) -> None:
        with self.engine.begin() as connection:
            rows.remove(connection, unique_ids)

    def is_registered(self, document_unique_id: str) -> bool:
        request = etree.Element(f"{{{QUERY_NS}}}AdhocQueryRequest",
                                nsmap={"query": QUERY_NS, "rim": RIM})
        etree.SubElement(request, f"{{{QUERY_NS}}}ResponseOption", returnType="ObjectRef",
                         returnComposedObjects="true")
        adhoc = etree.SubElement(request, f"{{{RIM}}}AdhocQuery", id=GET_DOCUMENTS)
        slot = etree.SubElement(adhoc, f"{{{RIM}}}Slot", name="$XDSDocumentEntryUniqueId")
        value = etree.SubElement(etree.SubElement(slot, f"{{{RIM}}}ValueList"), f"{{{RIM}}}Value")
        value.text = f"('{document_unique_id}')"
        reply = self.client.call(STORED_QUERY, request)
        return reply.payload is not None and any(
            True for _ in reply.payload.iter(f"{{{RIM}}}ObjectRef"))
