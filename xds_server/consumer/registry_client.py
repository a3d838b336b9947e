"""A registry on another host, as the repository's remote link asks it
(repository/remote_registry.py's RegistryClient): ITI-42 to register, ITI-18 GetDocuments to
learn what a caller may see, each carrying the caller's credential (the verified wsse:Security
header) so the registry decides as for the caller."""

from __future__ import annotations

import copy
import logging
import ssl
from collections.abc import Sequence
from typing import Any

from lxml import etree

from ..ebxml.actions import ITI_18, ITI_42
from ..ebxml.namespaces import RIM, RS
from ..model import vocabulary as v
from ..model.errors import ErrorCode, RegistryError, RegistryFailure, Severity, error
from ..model.metadata import Submission
from .metadata import submit_objects_request
from .queries import GET_DOCUMENTS, adhoc_query
from .transport import SoapClient, TransportError

log = logging.getLogger("xds_server.repository")


class SoapRegistryClient:
    def __init__(self, registry_url: str, timeout: float = 60.0,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self.client = SoapClient(registry_url, timeout=timeout, ssl_context=ssl_context)

    def register(self, submission: Submission, credential: Any) -> list[RegistryError]:
        try:
            reply = self.client.call(ITI_42.action, submit_objects_request(submission),
                                     extra_headers=_on_behalf(credential))
        except TransportError as exc:
            raise RegistryFailure([error(ErrorCode.REPOSITORY_ERROR,
                                         f"the registry could not be reached: {exc}", "")]) \
                from None
        payload = reply.payload
        if reply.fault is not None or payload is None:
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
            raise RegistryFailure(errors or [error(ErrorCode.REGISTRY_ERROR,
                                                   "the registry refused the submission", "")])
        return errors

    def shown_documents(self, unique_ids: Sequence[str],
                        credential: Any) -> dict[str, frozenset[str]]:
        if not unique_ids:
            return {}
        try:
            reply = self.client.call(ITI_18.action, adhoc_query(
                GET_DOCUMENTS, {"$XDSDocumentEntryUniqueId": list(unique_ids)}),
                extra_headers=_on_behalf(credential))
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

    def is_registered(self, document_unique_id: str) -> bool:
        reply = self.client.call(ITI_18.action, adhoc_query(
            GET_DOCUMENTS, {"$XDSDocumentEntryUniqueId": [document_unique_id]}, "ObjectRef"))
        return reply.payload is not None and any(
            True for _ in reply.payload.iter(f"{{{RIM}}}ObjectRef"))


def _on_behalf(credential: Any) -> list[etree._Element]:
    return [] if credential is None else [copy.deepcopy(credential)]


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
