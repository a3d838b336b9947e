"""Helpers of the FHIR front's tests: ITI-65 bundles built from model objects through the
mapping (so any metadata the SOAP tests use can go over FHIR too), calls in-process and the
answers read back."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import Any

from xds_server.fhir.document_reference import to_fhir
from xds_server.fhir.lists import folder_to_fhir, submission_set_to_fhir
from xds_server.model.metadata import DocumentEntry, Folder, SubmissionSet

from .conftest import call_wsgi


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def codes(self) -> list[str]:
        """The XDS error codes of an OperationOutcome."""
        return [c["code"] for i in self.json.get("issue", [])
                for c in (i.get("details") or {}).get("coding", [])]

    @property
    def expressions(self) -> list[str]:
        return [e for i in self.json.get("issue", []) for e in i.get("expression", [])]


def fhir(app, method: str, path: str, body: Any = None, content_type: str = "",
         headers: dict[str, str] | None = None) -> Answer:
    raw = b"" if body is None else body if isinstance(body, bytes) else \
        json.dumps(body).encode()
    result = call_wsgi(app, method, "/fhir" + path, raw,
                       content_type or ("application/fhir+json" if body is not None else ""),
                       headers)
    return Answer(result.status, result.headers, result.body)


def _urn() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


def provide_bundle(package: SubmissionSet, entries: list[tuple[DocumentEntry, bytes]],
                   folders: list[tuple[Folder, list[int]]] = (), inline: bool = False,
                   relates_to: list[dict] | None = None) -> dict:
    """A PDSm transaction Bundle: the set, each document with its Binary (or its data
    inline), folders naming documents by position."""
    set_url = _urn()
    doc_urls = [_urn() for _ in entries]
    bundle_entries = []
    for (entry, content), url in zip(entries, doc_urls, strict=True):
        entry.hash = hashlib.sha1(content).hexdigest()
        entry.size = str(len(content))
        resource = to_fhir(entry)
        resource.pop("id", None)
        resource["identifier"] = []
        resource["custodian"] = {"display": "xds-server tests"}
        binary_url = _urn()
        attachment = resource["content"][0]["attachment"]
        data = base64.b64encode(content).decode()
        if inline:
            attachment["data"] = data
        else:
            attachment["url"] = binary_url
            bundle_entries.append({"fullUrl": binary_url, "resource": {
                "resourceType": "Binary", "contentType": entry.mime_type, "data": data},
                "request": {"method": "POST", "url": "Binary"}})
        if relates_to:
            resource["relatesTo"] = relates_to
        bundle_entries.insert(0, {"fullUrl": url, "resource": resource,
                                  "request": {"method": "POST", "url": "DocumentReference"}})
    folder_entries = []
    for folder, members in folders:
        members_urls = [doc_urls[i] for i in members]
        resource = folder_to_fhir(folder, members_urls)
        resource.pop("id", None)
        resource.setdefault("date", "2025-11-03T12:00:00Z")     # PDSm Folder: date 1..
        folder_entries.append({"fullUrl": _urn(), "resource": resource,
                               "request": {"method": "POST", "url": "List"}})
    members = doc_urls + [f["fullUrl"] for f in folder_entries]
    ss = submission_set_to_fhir(package, members)
    ss.pop("id", None)
    ss["identifier"] = [i for i in ss["identifier"] if i["use"] == "usual"]
    return {"resourceType": "Bundle", "type": "transaction",
            "entry": [{"fullUrl": set_url, "resource": ss,
                       "request": {"method": "POST", "url": "List"}},
                      *bundle_entries, *folder_entries]}


def patient_query(patient: str) -> str:
    value, _, rest = patient.partition("^^^&")
    return f"patient.identifier=urn:oid:{rest.split('&')[0]}|{value}"
