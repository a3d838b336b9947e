"""Where in an ITI-65 Bundle a registry or repository error points (finding 17): the XDS
errors name an object by its entryUUID in their context and a metadata field as location
(DocumentEntry.hash); the answer names the Bundle entry that object came from and the
element of that entry (Bundle.entry[2].resource.content[0].attachment.hash), so a client that
sent several documents knows which one failed.

| object of the error | anchored at |
|---|---|
| a DocumentEntry, the set, a Folder | Bundle.entry[n].resource + the field (LOCATIONS) |
| the association of a relatesTo | Bundle.entry[n].resource.relatesTo[i] |
| the association of a Folder's entry | Bundle.entry[n].resource.entry[i] |
| the association making a document a member of the set | the document's entry |
"""

from __future__ import annotations

import re

from ..model import vocabulary as v
from ..model.errors import RegistryError
from ..model.metadata import Submission
from .outcome import LOCATIONS, FhirError, from_registry
from .vocabulary import RELATES_TO

_UUID = re.compile(r"urn:uuid:[0-9a-fA-F-]{36}")


def bundle_anchors(submission: Submission, located: list[tuple[str, str]]) -> dict[str, str]:
    """entryUUID → the FHIRPath of the element it came from; `located` lists every entry of
    the Bundle in order as (resource type, entryUUID or uniqueId)."""
    anchors = {ident: f"Bundle.entry[{position}].resource"
               for position, (kind, ident) in enumerate(located) if kind != "Binary"}
    relations: dict[str, int] = {}
    members: dict[str, int] = {}
    set_uuid = submission.submission_set.entry_uuid
    for link in submission.associations:
        source = anchors.get(link.source)
        if source is None:
            continue
        if link.type in RELATES_TO.values():
            index = relations[link.source] = relations.get(link.source, -1) + 1
            anchors[link.entry_uuid] = f"{source}.relatesTo[{index}]"
        elif link.type == v.HAS_MEMBER and link.source != set_uuid:
            index = members[link.source] = members.get(link.source, -1) + 1
            anchors[link.entry_uuid] = f"{source}.entry[{index}]"
        elif link.type == v.HAS_MEMBER and link.target in anchors:
            anchors[link.entry_uuid] = anchors[link.target]
    return anchors


def _expression(error: RegistryError, anchors: dict[str, str]) -> str | None:
    anchor = next((anchors[u] for u in _UUID.findall(error.context) if u in anchors), None)
    if anchor is None:
        return None
    element = LOCATIONS.get(error.location, "")
    kind, _, rest = element.partition(".")
    if kind in ("DocumentReference", "List") and rest and anchor.endswith(".resource"):
        return f"{anchor}.{rest}"
    return anchor


def anchored(errors: list[RegistryError], anchors: dict[str, str]) -> FhirError:
    """from_registry's answer, each issue's expression anchored in the Bundle."""
    failure = from_registry(errors)
    for problem, error in zip(failure.issues, errors, strict=True):
        expression = _expression(error, anchors)
        if expression is None and error.location not in LOCATIONS:
            expression = "Bundle"       # an XDS name (Association.sourceObject) is no FHIRPath
        if expression is not None:
            problem["expression"] = [expression]
    return failure
