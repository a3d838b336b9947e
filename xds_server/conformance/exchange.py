"""One request to the endpoint under test and what its answer says: status, errors, objects,
documents. Works with any XDS.b registry or repository (SOAP 1.2, WS-Addressing, MTOM)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from lxml import etree

from ..consumer.transport import SoapClient, TransportError
from ..ebxml.actions import TRANSACTIONS
from ..ebxml.namespaces import RS, XDSB
from ..model.content import Attachment

RESPONSE_STATUS = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:"
IHE_RESPONSE_STATUS = "urn:ihe:iti:2007:ResponseStatusType:"

ACTIONS = {name: transaction.action for name, transaction in TRANSACTIONS.items()}
ANSWERS = {"ITI-18": "AdhocQueryResponse", "ITI-43": "RetrieveDocumentSetResponse"}
REPOSITORY_SIDE = {"ITI-41", "ITI-43", "ITI-86"}


class Unreachable(Exception):
    """The endpoint could not be reached at all (refused, unknown host, timeout)."""


@dataclass(frozen=True)
class Error:
    code: str
    context: str
    severity: str
    location: str

    @property
    def is_error(self) -> bool:
        return not self.severity.endswith("Warning")

    def __str__(self) -> str:
        text = f"{self.code}: {self.context}"    # a peer's text: bounded, and marked when cut
        return text if len(text) <= ERROR_TEXT_MAX else text[:ERROR_TEXT_MAX - 1] + "…"


ERROR_TEXT_MAX = 300
LISTED_MAX = 3


def listing(items: list[str], most: int = LISTED_MAX) -> str:
    """Whole messages joined, the first `most` of them and how many more: a listing cut by
    characters ended in a fragment ("…; XDSRegistryMetadataError: SubmissionSet)")."""
    shown = "; ".join(items[:most])
    return shown + (f" (and {len(items) - most} more)" if len(items) > most else "")


@dataclass
class Retrieved:
    repository: str
    mime_type: str
    data: bytes

    @property
    def sha1(self) -> str:
        return hashlib.sha1(self.data).hexdigest()


@dataclass
class Reply:
    fault: str | None = None
    payload: etree._Element | None = None
    status: str = ""
    errors: list[Error] = field(default_factory=list)
    documents: dict[str, Retrieved] = field(default_factory=dict)

    @property
    def short_status(self) -> str:
        return "Fault" if self.fault else self.status.rsplit(":", 1)[-1]

    @property
    def status_in_namespace(self) -> bool:
        if self.short_status == "PartialSuccess" and self.status.startswith(IHE_RESPONSE_STATUS):
            return True
        return self.status.startswith(RESPONSE_STATUS)

    def summary(self) -> str:
        if self.fault:
            return f"SOAP Fault {self.fault}"[:200]
        codes = [e.code for e in self.errors if e.is_error]
        return " ".join([self.short_status or "(no status)", *codes])


def _errors(response: etree._Element | None) -> list[Error]:
    if response is None:
        return []
    return [Error(e.get("errorCode") or "", e.get("codeContext") or "",
                  e.get("severity") or "", e.get("location") or "")
            for e in response.iter(f"{{{RS}}}RegistryError")]


class Endpoints:
    def __init__(self, registry: str, repository: str | None, timeout: float) -> None:
        self.registry = SoapClient(registry, timeout=timeout)
        self.repository = SoapClient(repository, timeout=timeout) if repository else None

    def client(self, iti: str) -> SoapClient | None:
        return self.repository if iti in REPOSITORY_SIDE else self.registry

    def send(self, iti: str, payload: etree._Element,
             binaries: list[tuple[etree._Element, Attachment]] = (), mtom: bool = True
             ) -> Reply:
        client = self.client(iti)
        assert client is not None
        try:
            answer = client.call(ACTIONS[iti], payload, binaries=list(binaries), mtom=mtom)
        except TransportError as exc:
            if isinstance(exc.__cause__, OSError):
                raise Unreachable(f"{client.url}: {exc.__cause__}") from None
            return Reply(fault=f"(not a SOAP answer) {exc}")
        try:
            return read_reply(iti, answer)
        finally:
            answer.close()


def read_reply(iti: str, answer) -> Reply:
    """The status, errors and objects of a SOAP answer (a consumer SoapReply)."""
    fault = answer.fault
    if fault is not None:
        codes = " ".join([fault.code, *fault.subcodes]).strip()
        return Reply(fault=f"{codes}: {fault.reason}")
    payload = answer.payload
    reply = Reply(payload=payload)
    if payload is None:
        reply.fault = "(empty SOAP Body)"
        return reply
    expected = ANSWERS.get(iti, "RegistryResponse")
    if etree.QName(payload).localname != expected:
        reply.fault = f"(answer is {etree.QName(payload).localname}, not {expected})"
        return reply
    status_holder = payload.find(f"{{{RS}}}RegistryResponse") if iti == "ITI-43" else payload
    reply.status = "" if status_holder is None else status_holder.get("status") or ""
    reply.errors = _errors(payload)
    if iti == "ITI-43":
        for item in payload.findall(f"{{{XDSB}}}DocumentResponse"):
            uid = (item.findtext(f"{{{XDSB}}}DocumentUniqueId") or "").strip()
            document = item.find(f"{{{XDSB}}}Document")
            reply.documents[uid] = Retrieved(
                (item.findtext(f"{{{XDSB}}}RepositoryUniqueId") or "").strip(),
                (item.findtext(f"{{{XDSB}}}mimeType") or "").strip(),
                answer.binary(document) if document is not None else b"")
    return reply
