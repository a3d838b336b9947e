"""The registered form's LeafClass XML written as text: the same bytes as `etree.tostring` of
encode.py's elements (tests/test_stored_text.py holds them equal over generated objects of
every kind and field), without building an lxml tree first.

Why: every object a submission registers is encoded once, and building the tree (an element, a
dict and a namespace lookup per Slot, Value, Classification...) was 0.15 ms of an 0.3 ms
DocumentEntry's registered form, and the larger part of a signed set's extra registration cost
(the signature's DocumentEntry and its three associations, issue 19). Serialising by hand is
safe only for text lxml would write unchanged, so a value that is not a str of XML characters
(a control character, a lone surrogate) is not encoded here: `NotPlain` sends the object to
encode.py, which refuses it as it always has.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from ..model import vocabulary as v
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
from .namespaces import RIM

# XML 1.0's Char production: what lxml accepts in a value (anything else it refuses)
_NOT_XML_CHAR = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# what lxml's serialiser escapes, in attribute values and in text
_ATTRIBUTE_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "\n": "&#10;",
                      "\r": "&#13;", "\t": "&#9;"}
_TEXT_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"}
_ATTRIBUTE_SPECIAL = re.compile('[&<>"\n\r\t]')
_TEXT_SPECIAL = re.compile("[&<>\r]")
_ROOT_NS = f' xmlns:rim="{RIM}"'


class NotPlain(ValueError):
    """A value this writer does not serialise (not a str, or not XML characters only)."""


def attribute(value: object) -> str:
    """`value` as the text of a double-quoted attribute, as lxml writes it. Most values are
    printable with nothing to escape: four substring tests, no regular expression."""
    if type(value) is not str:
        raise NotPlain(repr(value)[:80])
    if value.isprintable():          # no control, surrogate or unassigned character
        if "&" in value or "<" in value or ">" in value or '"' in value:
            return _ATTRIBUTE_SPECIAL.sub(lambda m: _ATTRIBUTE_ESCAPES[m.group()], value)
        return value
    if _NOT_XML_CHAR.search(value):
        raise NotPlain(repr(value)[:80])
    return _ATTRIBUTE_SPECIAL.sub(lambda m: _ATTRIBUTE_ESCAPES[m.group()], value)


def text_of(value: object) -> str:
    """`value` as element content, as lxml writes it."""
    if type(value) is not str:
        raise NotPlain(repr(value)[:80])
    if value.isprintable():
        if "&" in value or "<" in value or ">" in value:
            return _TEXT_SPECIAL.sub(lambda m: _TEXT_ESCAPES[m.group()], value)
        return value
    if _NOT_XML_CHAR.search(value):
        raise NotPlain(repr(value)[:80])
    return _TEXT_SPECIAL.sub(lambda m: _TEXT_ESCAPES[m.group()], value)


def _slot(out: list[str], name: str, values: Iterable[str]) -> None:
    out.append(f'<rim:Slot name="{attribute(name)}">')
    written = [f"<rim:Value>{text_of(value)}</rim:Value>" for value in values]
    out.append(f"<rim:ValueList>{''.join(written)}</rim:ValueList></rim:Slot>" if written
               else "<rim:ValueList/></rim:Slot>")


def _localized(out: list[str], tag: str, value: str | None) -> None:
    if value is not None:
        out.append(f'<rim:{tag}><rim:LocalizedString value="{attribute(value)}"/></rim:{tag}>')


def _slots(out: list[str], obj: object, slots) -> None:
    for name, values in written_slots(obj, slots):
        _slot(out, name, values)


def _code(out: list[str], scheme: str, owner: str, code: Code) -> None:
    out.append(f'<rim:Classification id="{new_uuid()}" '
               f'objectType="{v.CLASSIFICATION_TYPE}" classificationScheme="{attribute(scheme)}" '
               f'classifiedObject="{owner}" nodeRepresentation="{attribute(code.code)}">')
    _slot(out, "codingScheme", [code.scheme])
    _localized(out, "Name", code.display)
    out.append("</rim:Classification>")


def _author(out: list[str], scheme: str, owner: str, author: Author) -> None:
    out.append(f'<rim:Classification id="{new_uuid()}" '
               f'objectType="{v.CLASSIFICATION_TYPE}" classificationScheme="{attribute(scheme)}" '
               f'classifiedObject="{owner}" nodeRepresentation=""')
    slots: list[str] = []
    _slots(slots, author, AUTHOR_SLOTS)
    out.append(f">{''.join(slots)}</rim:Classification>" if slots else "/>")


def _common(out: list[str], obj, layout: ObjectLayout, node: str | None) -> None:
    """Children in ebRIM order, as encode._common writes them."""
    owner = attribute(obj.entry_uuid)
    _slots(out, obj, layout.slots)
    for name, values in obj.extra_slots.items():
        _slot(out, name, values)
    _localized(out, "Name", obj.title)
    _localized(out, "Description", obj.comments)
    if obj.version is not None:
        out.append(f'<rim:VersionInfo versionName="{attribute(obj.version)}"/>')
    if layout.author_scheme:
        for author in obj.authors:
            _author(out, layout.author_scheme, owner, author)
    for code_field in layout.codes:
        value = getattr(obj, code_field.attribute)
        for code in (value if code_field.multiple else [value] if value else []):
            _code(out, code_field.scheme, owner, code)
    if node:
        out.append(f'<rim:Classification id="{new_uuid()}" '
                   f'objectType="{v.CLASSIFICATION_TYPE}" classifiedObject="{owner}" '
                   f'classificationNode="{attribute(node)}"/>')
    for id_field in layout.ids:
        value = getattr(obj, id_field.attribute)
        if value:
            out.append(f'<rim:ExternalIdentifier id="{new_uuid()}" '
                       f'objectType="{v.EXTERNAL_IDENTIFIER_TYPE}" registryObject="{owner}" '
                       f'identificationScheme="{attribute(id_field.scheme)}" '
                       f'value="{attribute(value)}">')
            _localized(out, "Name", id_field.name)
            out.append("</rim:ExternalIdentifier>")


def _start(tag: str, obj, object_type: str) -> str:
    head = (f'<rim:{tag}{_ROOT_NS} id="{attribute(obj.entry_uuid)}" '
            f'objectType="{attribute(object_type)}" status="{attribute(obj.status)}"')
    if obj.logical_id:
        head += f' lid="{attribute(obj.logical_id)}"'
    if obj.home:
        head += f' home="{attribute(obj.home)}"'
    return head


def _package(obj: SubmissionSet | Folder, layout: ObjectLayout, node: str) -> str:
    out = [_start("RegistryPackage", obj, v.REGISTRY_PACKAGE_TYPE) + ">"]
    _common(out, obj, layout, node)
    out.append("</rim:RegistryPackage>")
    return "".join(out)


def document_text(document: DocumentEntry) -> str:
    head = (_start("ExtrinsicObject", document, document.object_type)
            + f' mimeType="{attribute(document.mime_type)}"')
    out: list[str] = []
    _common(out, document, DOCUMENT_LAYOUT, None)
    return f"{head}>{''.join(out)}</rim:ExtrinsicObject>" if out else head + "/>"


def submission_set_text(submission_set: SubmissionSet) -> str:
    return _package(submission_set, SUBMISSION_SET_LAYOUT, v.SUBMISSION_SET_NODE)


def folder_text(folder: Folder) -> str:
    return _package(folder, FOLDER_LAYOUT, v.FOLDER_NODE)


def association_text(association: Association) -> str:
    head = (f'<rim:Association{_ROOT_NS} id="{attribute(association.entry_uuid)}" '
            f'objectType="{v.ASSOCIATION_TYPE}" associationType="{attribute(association.type)}" '
            f'sourceObject="{attribute(association.source)}" '
            f'targetObject="{attribute(association.target)}" '
            f'status="{attribute(association.status)}"')
    if association.home:
        head += f' home="{attribute(association.home)}"'
    if not association.slots:
        return head + "/>"
    out = [head + ">"]
    for name, values in association.slots.items():
        _slot(out, name, values)
    out.append("</rim:Association>")
    return "".join(out)


TEXT_WRITERS = {DocumentEntry: document_text, SubmissionSet: submission_set_text,
                Folder: folder_text, Association: association_text}
TAGS = {DocumentEntry: "ExtrinsicObject", SubmissionSet: "RegistryPackage",
        Folder: "RegistryPackage", Association: "Association"}
