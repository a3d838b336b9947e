"""After a run: remove what it registered, as any consumer could, so a peer's registry is left
as it was found. For each patient the run made up: every registry object of the patient goes
in one Delete Document Set (ITI-62), found with GetAll and GetAssociations, then the documents
leave the repository (ITI-86 Remove Documents: IHE RMD's order, a repository keeps bytes that
a registry entry still names). Registries without RMD keep the data; the
run says so in one line."""

from __future__ import annotations

from lxml import etree

from ..consumer.queries import adhoc_query
from ..model import vocabulary as v
from .exchange import Endpoints, Reply, listing

RIM = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"
LCM = "urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0"
XDSB = "urn:ihe:iti:xds-b:2007"
RMD = "urn:ihe:iti:rmd:2017"
GET_ALL = "urn:uuid:10b545ea-725c-446d-9b95-8aeb444eddf3"
GET_ASSOCIATIONS = "urn:uuid:a7ae438b-4bc2-4642-93e9-be891f7bb155"
_EVERY_STATUS = list(v.STATUSES)


def _query(endpoints: Endpoints, query_id: str, params: dict, return_type: str) -> Reply:
    """$MetadataLevel 2: every version and every association, Deprecated ones included (a
    registry without the Metadata Update option ignores the parameter)."""
    return endpoints.send("ITI-18", adhoc_query(query_id, {**params, "$MetadataLevel": 2},
                                                return_type))


def _get_all(endpoints: Endpoints, patient: str, return_type: str) -> Reply:
    return _query(endpoints, GET_ALL, {
        "$patientId": patient, "$XDSDocumentEntryStatus": _EVERY_STATUS,
        "$XDSSubmissionSetStatus": _EVERY_STATUS, "$XDSFolderStatus": _EVERY_STATUS,
        "$XDSDocumentEntryType": list(v.DOCUMENT_ENTRY_TYPES)}, return_type)


def _ids(reply: Reply) -> set[str]:
    if reply.payload is None:
        return set()
    return {e.get("id") or "" for e in reply.payload.iter(f"{{{RIM}}}ObjectRef")}


def _documents(reply: Reply) -> list[tuple[str, str]]:
    """(repositoryUniqueId, uniqueId) of the DocumentEntries of a LeafClass answer."""
    found = []
    for entry in [] if reply.payload is None else reply.payload.iter(
            f"{{{RIM}}}ExtrinsicObject"):
        unique_id = next((e.get("value") for e in entry.findall(f"{{{RIM}}}ExternalIdentifier")
                          if e.get("identificationScheme") == v.DE_UNIQUE_ID), None)
        repository = next((s.findtext(f"{{{RIM}}}ValueList/{{{RIM}}}Value")
                           for s in entry.findall(f"{{{RIM}}}Slot")
                           if s.get("name") == "repositoryUniqueId"), None)
        if unique_id and repository:
            found.append((repository.strip(), unique_id))
    return found


def _remove_documents(endpoints: Endpoints, documents: list[tuple[str, str]]) -> Reply:
    request = etree.Element(f"{{{RMD}}}RemoveDocumentsRequest", nsmap={"rmd": RMD, "xdsb": XDSB})
    for repository, unique_id in documents:
        item = etree.SubElement(request, f"{{{XDSB}}}DocumentRequest")
        etree.SubElement(item, f"{{{XDSB}}}RepositoryUniqueId").text = repository
        etree.SubElement(item, f"{{{XDSB}}}DocumentUniqueId").text = unique_id
    return endpoints.send("ITI-86", request)


def _remove_objects(endpoints: Endpoints, ids: set[str]) -> Reply:
    request = etree.Element(f"{{{LCM}}}RemoveObjectsRequest", nsmap={"lcm": LCM, "rim": RIM})
    listed = etree.SubElement(request, f"{{{RIM}}}ObjectRefList")
    for ident in sorted(ids):
        etree.SubElement(listed, f"{{{RIM}}}ObjectRef", id=ident)
    return endpoints.send("ITI-62", request)


def _objects_of(endpoints: Endpoints, patient: str) -> set[str]:
    ids = _ids(_get_all(endpoints, patient, "ObjectRef"))
    pending = set(ids)
    while pending:          # associations of associations (folder memberships), replacements
        more = _ids(_query(endpoints, GET_ASSOCIATIONS, {"$uuid": sorted(pending)},
                           "ObjectRef"))
        pending = more - ids
        ids |= more
    return ids


def snapshot(endpoints: Endpoints, patients: list[str]) -> dict[str, set[str]]:
    """What the registry holds for patients the user named (`--param`) before the run: the
    cleanup removes only what came after, never the user's own data."""
    return {patient: _objects_of(endpoints, patient) for patient in patients}


def clean(endpoints: Endpoints, patients: list[str], provided: set[str] | None,
          given: dict[str, set[str]] | None = None) -> str:
    """Remove the run's data: everything of the patients the run allocated, and what the run
    added to the patients the user gave (`given`: their objects before the run); `provided`:
    uniqueIds of the documents the run sent to the repository (None: every document of the
    patients, for `conformance clean`). One line saying what was removed and what could not
    be."""
    removed_objects = removed_documents = gone = 0
    refused: list[str] = []
    given = given or {}
    for patient in [*patients, *(p for p in given if p not in patients)]:
        # IHE RMD's order: the metadata (ITI-62), then the bytes no entry names any more
        documents = [d for d in _documents(_get_all(endpoints, patient, "LeafClass"))
                     if provided is None or d[1] in provided] \
            if endpoints.repository is not None else []
        ids = _objects_of(endpoints, patient) - given.get(patient, set())
        if ids:
            reply = _remove_objects(endpoints, ids)
            if reply.short_status == "Success":
                removed_objects += len(ids)
            else:
                refused.append(f"ITI-62 {reply.summary()}")
                continue        # the bytes stay while entries name them (RMD's order)
        if documents:
            reply = _remove_documents(endpoints, documents)
            # a document a test removed itself (ITI-86 tests) is gone already; one a
            # register-only test named in another repository was never here
            absent = [e for e in reply.errors
                      if e.code in ("XDSDocumentUniqueIdError", "XDSUnknownRepositoryId")]
            if reply.short_status in ("Success", "PartialSuccess") or \
                    (reply.errors and len(absent) == len(reply.errors)):
                removed_documents += len(documents) - len(absent)
                gone += len(absent)
            else:
                refused.append(f"ITI-86 {reply.summary()}")
    line = (f"cleanup: {removed_objects} registry objects and {removed_documents} documents of "
            f"{len(patients)} test patients removed")
    if given:
        line += f", and what the run added to the {len(given)} patients given by --param"
    if gone:
        line += f" ({gone} documents were gone already or in another repository)"
    if refused:
        line += f"; refused: {listing(sorted(set(refused)))}"
    return line
