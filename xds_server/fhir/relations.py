"""DocumentReference.relatesTo of a registered document (finding 23): the replace, append,
transform and signs associations it is the source of (MHD Table 4.5.1.1-1, the table ITI-65
reads them with: vocabulary.RELATES_TO), each naming its target DocumentReference.

A read (GET DocumentReference/<id>) carries them: one GetDocumentsAndAssociations more. An
ITI-67 search leaves them out, as ITI-66 leaves List.entry out: one more query per page (its
associations counted against the LeafClass limit) for an element searches already reach
through `relatesto=` (docs/fhir.md)."""

from __future__ import annotations

from ..model.stored_queries import (
    GetDocumentsAndAssociations,
    GetFolderAndContents,
    ReturnType,
)
from ..registry.actor import Registry
from ..security.principal import Principal
from .datatypes import Json
from .vocabulary import RELATION_OF_TYPE


def relates_to(registry: Registry, entry_uuid: str, principal: Principal) -> list[Json]:
    found = registry.query(GetDocumentsAndAssociations(entry_uuids=(entry_uuid,)),
                           principal).result
    return [{"code": RELATION_OF_TYPE[link.type], "target": {
                "reference": f"DocumentReference/{link.target.removeprefix('urn:uuid:')}"}}
            for link in found.associations
            if link.source == entry_uuid and link.type in RELATION_OF_TYPE]


def folder_members(registry: Registry, entry_uuid: str, principal: Principal) -> list[str]:
    """List.entry of a Folder in an ITI-66 answer (PDSm Folder: entry 1..): its documents'
    ids, from an ObjectRef answer (ids only, no LeafClass limit), those this caller sees."""
    found = registry.query(GetFolderAndContents(entry_uuids=(entry_uuid,),
                                                return_type=ReturnType.OBJECT_REF),
                           principal).result
    return [f"DocumentReference/{d.entry_uuid.removeprefix('urn:uuid:')}"
            for d in found.documents]
