"""Model → ebRIM 3.0 elements (LeafClass), and the RegistryResponse / AdhocQueryResponse shells.

Objects are encoded once, when registered, and stored as XML; queries return the stored bytes
(with the current status), so a LeafClass answer never re-derives what the source sent.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

from lxml import etree

from ..model import vocabulary as v
from ..model.errors import RegistryError, Severity
from ..model.metadata import Association, Author, Code, DocumentEntry, Folder, SubmissionSet
from .decode import new_uuid
from .fields import (
    AUTHOR_SLOTS,
    DOCUMENT_LAYOUT,
    FOLDER_LAYOUT,
    SUBMISSION_SET_LAYOUT,
    ObjectLayout,
    written_slots,
)
from .namespaces import FAILURE, PARTIAL_SUCCESS, QUERY, RIM, RS, SUCCESS, query, rim, rs

_RIM_MAP = {"rim": RIM}


def add_slot(parent: etree._Element, name: str, values: Iterable[str]) -> None:
    slot = etree.SubElement(parent, rim("Slot"), name=name)
    value_list = etree.SubElement(slot, rim("ValueList"))
    for value in values:
        etree.SubElement(value_list, rim("Value")).text = value


def _localized(parent: etree._Element, tag: str, text: str | None) -> None:
    if text is not None:
        holder = etree.SubElement(parent, rim(tag))
        etree.SubElement(holder, rim("LocalizedString"), value=text)


def _code(parent: etree._Element, scheme: str, owner: str, code: Code) -> None:
    classification = etree.SubElement(
        parent, rim("Classification"), id=new_uuid(), objectType=v.CLASSIFICATION_TYPE,
        classificationScheme=scheme, classifiedObject=owner, nodeRepresentation=code.code)
    add_slot(classification, "codingScheme", [code.scheme])
    _localized(classification, "Name", code.display)


def _author(parent: etree._Element, scheme: str, owner: str, author: Author) -> None:
    classification = etree.SubElement(
        parent, rim("Classification"), id=new_uuid(), objectType=v.CLASSIFICATION_TYPE,
        classificationScheme=scheme, classifiedObject=owner, nodeRepresentation="")
    for name, values in written_slots(author, AUTHOR_SLOTS):
        add_slot(classification, name, values)


def _common(element: etree._Element, obj, layout: ObjectLayout, node: str | None) -> None:
    """Children in ebRIM order: Slot*, Name, Description, VersionInfo, Classification*, EI*."""
    for name, values in written_slots(obj, layout.slots):
        add_slot(element, name, values)
    for name, values in obj.extra_slots.items():
        add_slot(element, name, values)
    _localized(element, "Name", obj.title)
    _localized(element, "Description", obj.comments)
    if obj.version is not None:
        etree.SubElement(element, rim("VersionInfo"), versionName=obj.version)
    if layout.author_scheme:
        for author in obj.authors:
            _author(element, layout.author_scheme, obj.entry_uuid, author)
    for code_field in layout.codes:
        value = getattr(obj, code_field.attribute)
        for code in (value if code_field.multiple else [value] if value else []):
            _code(element, code_field.scheme, obj.entry_uuid, code)
    if node:
        etree.SubElement(element, rim("Classification"), id=new_uuid(),
                         objectType=v.CLASSIFICATION_TYPE, classifiedObject=obj.entry_uuid,
                         classificationNode=node)
    for id_field in layout.ids:
        value = getattr(obj, id_field.attribute)
        if value:
            identifier = etree.SubElement(
                element, rim("ExternalIdentifier"), id=new_uuid(),
                objectType=v.EXTERNAL_IDENTIFIER_TYPE, registryObject=obj.entry_uuid,
                identificationScheme=id_field.scheme, value=value)
            _localized(identifier, "Name", id_field.name)


def _attributes(obj, object_type: str) -> dict[str, str]:
    attributes = {"id": obj.entry_uuid, "objectType": object_type, "status": obj.status}
    if obj.logical_id:
        attributes["lid"] = obj.logical_id
    if obj.home:
        attributes["home"] = obj.home
    return attributes


def encode_document(document: DocumentEntry) -> etree._Element:
    element = etree.Element(rim("ExtrinsicObject"), _attributes(document, document.object_type),
                            nsmap=_RIM_MAP)
    element.set("mimeType", document.mime_type)
    _common(element, document, DOCUMENT_LAYOUT, None)
    return element


def encode_submission_set(submission_set: SubmissionSet) -> etree._Element:
    element = etree.Element(rim("RegistryPackage"),
                            _attributes(submission_set, v.REGISTRY_PACKAGE_TYPE), nsmap=_RIM_MAP)
    _common(element, submission_set, SUBMISSION_SET_LAYOUT, v.SUBMISSION_SET_NODE)
    return element


def encode_folder(folder: Folder) -> etree._Element:
    element = etree.Element(rim("RegistryPackage"), _attributes(folder, v.REGISTRY_PACKAGE_TYPE),
                            nsmap=_RIM_MAP)
    _common(element, folder, FOLDER_LAYOUT, v.FOLDER_NODE)
    return element


def encode_association(association: Association) -> etree._Element:
    attributes = {"id": association.entry_uuid, "objectType": v.ASSOCIATION_TYPE,
                  "associationType": association.type, "sourceObject": association.source,
                  "targetObject": association.target, "status": association.status}
    if association.home:
        attributes["home"] = association.home
    element = etree.Element(rim("Association"), attributes, nsmap=_RIM_MAP)
    for name, values in association.slots.items():
        add_slot(element, name, values)
    return element


def object_ref(entry_uuid: str, home: str | None = None) -> etree._Element:
    element = etree.Element(rim("ObjectRef"), id=entry_uuid, nsmap=_RIM_MAP)
    if home:
        element.set("home", home)
    return element


def response_status(errors: list[RegistryError], partial: bool = False) -> str:
    if any(e.is_error for e in errors):
        return PARTIAL_SUCCESS if partial else FAILURE
    return SUCCESS


# At most this many RegistryErrors in an answer, then one saying how many more: a signer's 1 MiB
# Manifest naming 5,500 strangers made a 2.26 MB refusal (outside test of issue 19, F03); the
# size of an answer is not the sender's to choose.
MAX_LISTED_ERRORS = 100


def error_list(errors: list[RegistryError]) -> etree._Element | None:
    if not errors:
        return None
    highest = Severity.ERROR if any(e.is_error for e in errors) else Severity.WARNING
    element = etree.Element(rs("RegistryErrorList"), highestSeverity=highest.value,
                            nsmap={"rs": RS})
    listed = errors[:MAX_LISTED_ERRORS]
    for item in listed:
        etree.SubElement(element, rs("RegistryError"), errorCode=item.code.value,
                         codeContext=item.context, location=item.location,
                         severity=item.severity.value)
    if len(errors) > len(listed):
        rest = errors[len(listed):]
        first = next((e for e in rest if e.is_error), rest[0])
        etree.SubElement(element, rs("RegistryError"), errorCode=first.code.value,
                         codeContext=f"and {len(rest)} more errors not listed (the first "
                                     f"{len(listed)} are; the next: {first.context})",
                         location=first.location, severity=first.severity.value)
    return element


def registry_response(errors: list[RegistryError], status: str | None = None) -> etree._Element:
    element = etree.Element(rs("RegistryResponse"), status=status or response_status(errors),
                            nsmap={"rs": RS})
    errors_element = error_list(errors)
    if errors_element is not None:
        element.append(errors_element)
    return element


_OBJECTS_SPLICE = "\u2063objects\u2063"


def adhoc_query_response_pieces(objects: Iterable[bytes], errors: list[RegistryError],
                                status: str | None = None) -> list[bytes]:
    """The response around objects already serialised (stored LeafClass XML), unparsed: its
    start, the objects, its end, to be joined once with the envelope around them. The shell of
    an answer without errors is the same every time, so it is serialised once."""
    head, tail = _empty_shell(status or response_status([])) if not errors else \
        _shell(adhoc_query_response([], errors, status))
    return [head, *objects, tail]


def serialised_cuts(element: etree._Element, hole: str) -> list[bytes]:
    """`element` serialised once and cut where the text `hole` was put: the fixed bytes of an
    answer whose variable parts are written between them."""
    return etree.tostring(element, encoding="UTF-8", xml_declaration=False).split(hole.encode())


def _shell(element: etree._Element) -> tuple[bytes, bytes]:
    element.find(rim("RegistryObjectList")).text = _OBJECTS_SPLICE
    head, tail = serialised_cuts(element, _OBJECTS_SPLICE)
    return head, tail


@functools.cache
def _empty_shell(status: str) -> tuple[bytes, bytes]:
    return _shell(adhoc_query_response([], [], status))


def adhoc_query_response(objects: Iterable[etree._Element], errors: list[RegistryError],
                         status: str | None = None) -> etree._Element:
    element = etree.Element(query("AdhocQueryResponse"),
                            status=status or response_status(errors),
                            nsmap={"query": QUERY, "rs": RS, "rim": RIM})
    errors_element = error_list(errors)
    if errors_element is not None:
        element.append(errors_element)
    object_list = etree.SubElement(element, rim("RegistryObjectList"))
    object_list.extend(objects)
    return element
