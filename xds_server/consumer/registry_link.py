"""The repository's link to a registry on another host, over ITI-42 (XDS_REGISTRY_URL).

The repository's rows are written 'pending' before the registry is asked and marked committed
after its Success, so a crash in between is settled later by asking the registry
(`is_registered`). Registry errors come back to the source unchanged.

An authenticated caller acts through the repository with their own credential: the verified
wsse:Security header is forwarded on ITI-42, and on the ITI-18 GetDocuments the repository
asks before serving (ITI-43) or removing (ITI-86) bytes. So the access decision is the
registry's, on its facts: what the registry does not show this caller, the repository does
not serve (and removal applies the registry's rule, security/access.py, to what it shows).
"""

from __future__ import annotations

import copy
import logging

from lxml import etree
from sqlalchemy import Engine

from ..ebxml.namespaces import RIM, RS
from ..model import vocabulary as v
from ..model.metadata import Submission
from ..security.access import may_remove
from ..security.principal import Principal
from ..store import repository_store as rows
from ..validation.errors import ErrorCode, RegistryError, RegistryFailure, Severity, error
from .metadata import submit_objects_request
from .queries import adhoc_query
from .transport import SoapClient, TransportError

log = logging.getLogger("xds_server.repository")

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
            reply = self.client.call(REGISTER, submit_objects_request(submission),
                                     extra_headers=self._on_behalf(principal))
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

    def _on_behalf(self, principal: Principal) -> list[etree._Element]:
        return [] if principal.credential is None else [copy.deepcopy(principal.credential)]

    def _documents_shown(self, principal: Principal,
                         unique_ids: list[str]) -> dict[str, frozenset[str]]:
        """The documents among these the registry shows this caller, with their author ids
        (an unreachable registry, or one refusing, shows nothing)."""
        if not unique_ids:
            return {}
        try:
            reply = self.client.call(STORED_QUERY, adhoc_query(
                GET_DOCUMENTS, {"$XDSDocumentEntryUniqueId": unique_ids}),
                extra_headers=self._on_behalf(principal))
        except TransportError as exc:
            log.warning("remote registry unreachable for an access decision: %s", exc)
            return {}
        if reply.fault is not None or reply.payload is None:
            return {}
        shown: dict[str, frozenset[str]] = {}
        for entry in reply.payload.iter(f"{{{RIM}}}ExtrinsicObject"):
            unique_id = next((e.get("value") for e in entry.iter(f"{{{RIM}}}ExternalIdentifier")
                              if e.get("identificationScheme") == v.DE_UNIQUE_ID), None)
            if unique_id is not None:
                shown[unique_id] = shown.get(unique_id, frozenset()) | _author_ids(entry)
        return shown

    def readable_documents(self, principal: Principal, unique_ids: list[str]) -> set[str]:
        return set(self._documents_shown(principal, unique_ids))

    def removable_documents(self, principal: Principal, unique_ids: list[str]
                            ) -> tuple[set[str], set[str]]:
        shown = self._documents_shown(principal, unique_ids)
        return set(shown), {unique_id for unique_id, authors in shown.items()
                            if may_remove(principal, authors)}

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


def _author_ids(entry: etree._Element) -> frozenset[str]:
    """The national ids (XCN.1) of a DocumentEntry's authorPerson values."""
    ids = set()
    for classification in entry.iter(f"{{{RIM}}}Classification"):
        if classification.get("classificationScheme") != v.DE_AUTHOR:
            continue
        for slot in classification.iter(f"{{{RIM}}}Slot"):
            if slot.get("name") == "authorPerson":
                ids.update((value.text or "").split("^", 1)[0]
                           for value in slot.iter(f"{{{RIM}}}Value"))
    return frozenset(ids - {""})
