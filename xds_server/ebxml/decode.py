"""lcm:SubmitObjectsRequest → Submission: symbolic ids become urn:uuid: ids, ebRIM becomes model.

The decoder is lenient about what it can read and exact about what it cannot: every problem is
reported as a RegistryError naming the object (as the source named it) and the field, and the
rules decide later what is fatal.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from ..model import vocabulary as v
from ..model.errors import ErrorCode, RegistryError, error
from ..model.hl7 import canonical_uuid
from ..model.ids import urn_uuid
from ..model.metadata import (
    Association,
    Author,
    Code,
    DocumentEntry,
    Folder,
    RegistryObject,
    Submission,
    SubmissionSet,
)
from .fields import (
    AUTHOR_SLOTS,
    DOCUMENT_LAYOUT,
    FOLDER_LAYOUT,
    SUBMISSION_SET_LAYOUT,
    ObjectLayout,
)
from .namespaces import LCM, lcm, rim

_EXTRINSIC_OBJECT, _REGISTRY_PACKAGE, _ASSOCIATION = _OBJECT_TAGS = (
    rim("ExtrinsicObject"), rim("RegistryPackage"), rim("Association"))
META = ErrorCode.REGISTRY_METADATA_ERROR
# tags as constants: the decoder reads every registered object a non-ebXML front answers with
# (ebxml/stored.py model_object, ~90 elements each), so no tag string is built per element
_SLOT, _VALUE, _NAME, _DESCRIPTION, _LOCALIZED, _VERSION_INFO, _CLASSIFICATION, \
    _EXTERNAL_IDENTIFIER = (rim(name) for name in (
        "Slot", "Value", "Name", "Description", "LocalizedString", "VersionInfo",
        "Classification", "ExternalIdentifier"))


@dataclass
class DecodeResult:
    submission: Submission
    errors: list[RegistryError] = field(default_factory=list)


def new_uuid() -> str:
    return urn_uuid()


def localized(element: etree._Element | None) -> str | None:
    """The first LocalizedString value of a rim:Name or rim:Description."""
    if element is None:
        return None
    string = element.find(_LOCALIZED)
    return None if string is None else string.get("value")


def read_slots(element: etree._Element) -> dict[str, list[str]]:
    """Direct rim:Slot children → {name: values}; repeated names are merged in order."""
    return _slot_values(element.iterchildren(_SLOT))


def _slot_values(slot_elements: Iterable[etree._Element]) -> dict[str, list[str]]:
    slots: dict[str, list[str]] = {}
    for slot in slot_elements:
        values = [(value.text or "").strip() for value in slot.iter(_VALUE)]
        slots.setdefault(slot.get("name") or "", []).extend(values)
    return slots


class _Decoder:
    def __init__(self, request: etree._Element) -> None:
        self.request = request
        self.errors: list[RegistryError] = []
        self.ids: dict[str, str] = {}

    def fail(self, context: str, location: str = "", code: ErrorCode = META) -> None:
        self.errors.append(error(code, context, location))

    def resolve(self, ref: str | None, what: str, owner: str) -> str:
        if not ref:
            self.fail(f"{owner}: {what} is missing")
            return ""
        if ref in self.ids:
            return self.ids[ref]
        if ref[:9].lower() == "urn:uuid:":
            return canonical_uuid(ref)
        self.fail(f"{owner}: {what} '{ref}' is neither a urn:uuid: id nor an object of this "
                  "submission", code=ErrorCode.UNRESOLVED_REFERENCE)
        return ref

    def decode(self) -> DecodeResult:
        object_list = self.request.find(rim("RegistryObjectList"))
        if self.request.tag != lcm("SubmitObjectsRequest") or object_list is None:
            self.fail(f"expected {{{LCM}}}SubmitObjectsRequest with a rim:RegistryObjectList")
            return DecodeResult(Submission(None), self.errors)
        elements = [e for e in object_list if isinstance(e.tag, str)]
        for element in elements:
            if element.tag in _OBJECT_TAGS:
                source_id = element.get("id") or ""
                if not source_id:
                    self.fail(f"a {etree.QName(element).localname} has no id attribute")
                    continue
                if source_id in self.ids:
                    self.fail(f"id '{source_id}' is used by two objects of the submission")
                    continue
                self.ids[source_id] = canonical_uuid(source_id) \
                    if source_id[:9].lower() == "urn:uuid:" else new_uuid()

        nodes = self._classification_nodes(elements)
        submission = Submission(None, symbolic_ids=dict(self.ids))
        for element in elements:
            tag = element.tag
            if tag == rim("ExtrinsicObject"):
                submission.documents.append(self._document(element))
            elif tag == rim("RegistryPackage"):
                self._package(element, nodes, submission)
            elif tag == rim("Association"):
                submission.associations.append(self._association(element))
            elif tag == rim("ObjectRef"):
                submission.object_refs.append(canonical_uuid(element.get("id") or ""))
            elif tag == rim("Classification"):
                continue  # read by _classification_nodes
            else:
                self.fail(f"unexpected element {tag} in rim:RegistryObjectList")
        return DecodeResult(submission, self.errors)

    def _classification_nodes(self, elements: list[etree._Element]) -> dict[str, str]:
        """{package uuid: node} from top-level and nested node classifications."""
        nodes: dict[str, str] = {}
        candidates = [e for e in elements if e.tag == rim("Classification")]
        for package in (e for e in elements if e.tag == rim("RegistryPackage")):
            candidates += package.findall(rim("Classification"))
        for classification in candidates:
            node = classification.get("classificationNode")
            target = classification.get("classifiedObject")
            if not node:
                if classification.getparent().tag == rim("RegistryObjectList"):
                    self.fail("a top-level rim:Classification has no classificationNode")
                continue
            if target in self.ids or (target or "")[:9].lower() == "urn:uuid:":
                nodes[self.ids.get(target, canonical_uuid(target or ""))] = node
            else:
                self.fail(f"classification {classification.get('id')}: classifiedObject "
                          f"'{target}' is not in the submission",
                          code=ErrorCode.UNRESOLVED_REFERENCE)
        return nodes

    def _common(self, element: etree._Element, obj: RegistryObject,
                layout: ObjectLayout) -> None:
        name = element.get("id") or obj.entry_uuid
        # one pass over the children (each kind in document order; Name, Description and
        # VersionInfo: the first), then each kind read as before
        title = description = version = None
        slot_elements: list[etree._Element] = []
        classifications: list[etree._Element] = []
        identifiers: list[etree._Element] = []
        for child in element:
            tag = child.tag
            if tag == _SLOT:
                slot_elements.append(child)
            elif tag == _CLASSIFICATION:
                classifications.append(child)
            elif tag == _EXTERNAL_IDENTIFIER:
                identifiers.append(child)
            elif tag == _NAME:
                title = child if title is None else title
            elif tag == _DESCRIPTION:
                description = child if description is None else description
            elif tag == _VERSION_INFO:
                version = child if version is None else version
        obj.title = localized(title)
        obj.comments = localized(description)
        obj.home = element.get("home")
        lid = element.get("lid")
        obj.logical_id = self.ids.get(lid, canonical_uuid(lid)) if lid else None
        obj.version = version.get("versionName") if version is not None else None

        slots = _slot_values(slot_elements)
        for slot_field in layout.slots:
            values = slots.pop(slot_field.slot, None)
            if values is None:
                continue
            if slot_field.multiple:
                setattr(obj, slot_field.attribute, values)
            else:
                if len(values) != 1:
                    self.fail(f"{name}: slot {slot_field.slot} has {len(values)} values; "
                              "exactly one is allowed", f"{name}/Slot[@name='{slot_field.slot}']")
                setattr(obj, slot_field.attribute, values[0] if values else None)
        obj.extra_slots = slots

        codes = {f.scheme: f for f in layout.codes}
        for classification in classifications:
            scheme = classification.get("classificationScheme")
            if classification.get("classificationNode") and not scheme:
                continue  # submission set / folder node
            if scheme and scheme == layout.author_scheme:
                obj.authors.append(self._author(classification))  # type: ignore[attr-defined]
                continue
            code_field = codes.get(scheme or "")
            if code_field is None:
                self.fail(f"{name}: classification {classification.get('id')} has unknown "
                          f"classificationScheme '{scheme}'",
                          f"{name}/Classification[@id='{classification.get('id')}']")
                continue
            code = self._code(classification, name, code_field.attribute)
            if code_field.multiple:
                getattr(obj, code_field.attribute).append(code)
            elif getattr(obj, code_field.attribute) is not None:
                self.fail(f"{name}: {code_field.attribute} appears more than once; one is "
                          "allowed", f"{name}/Classification[@classificationScheme='{scheme}']")
            else:
                setattr(obj, code_field.attribute, code)

        ids = {f.scheme: f for f in layout.ids}
        for identifier in identifiers:
            scheme = identifier.get("identificationScheme") or ""
            id_field = ids.get(scheme)
            if id_field is None:
                self.fail(f"{name}: ExternalIdentifier {identifier.get('id')} has unknown "
                          f"identificationScheme '{scheme}'")
                continue
            setattr(obj, id_field.attribute, (identifier.get("value") or "").strip())

    def _code(self, classification: etree._Element, owner: str, attribute: str) -> Code:
        schemes: list[str] = []
        display = None
        for child in classification:     # one pass: codingScheme slots, the first Name
            if child.tag == _SLOT:
                if child.get("name") == "codingScheme":
                    schemes += [(value.text or "").strip() for value in child.iter(_VALUE)]
            elif child.tag == _NAME and display is None:
                display = child
        if len(schemes) != 1:
            self.fail(f"{owner}: {attribute} '{classification.get('nodeRepresentation')}' needs "
                      f"exactly one codingScheme slot value (found {len(schemes)})",
                      f"{owner}/Classification[@id='{classification.get('id')}']")
        return Code(classification.get("nodeRepresentation") or "",
                    schemes[0] if schemes else "",
                    localized(display) or "")

    def _author(self, classification: etree._Element) -> Author:
        slots = read_slots(classification)
        author = Author()
        for slot_field in AUTHOR_SLOTS:
            values = slots.get(slot_field.slot)
            if values is None:
                continue
            if slot_field.multiple:
                setattr(author, slot_field.attribute, values)
            else:
                setattr(author, slot_field.attribute, values[0] if values else None)
        return author

    def _document(self, element: etree._Element) -> DocumentEntry:
        entry_uuid = self.ids.get(element.get("id") or "", "")
        document = DocumentEntry(entry_uuid=entry_uuid,
                                 object_type=element.get("objectType") or "",
                                 mime_type=element.get("mimeType") or "")
        self._common(element, document, DOCUMENT_LAYOUT)
        return document

    def _package(self, element: etree._Element, nodes: dict[str, str],
                 submission: Submission) -> None:
        entry_uuid = self.ids.get(element.get("id") or "", "")
        node = nodes.get(entry_uuid)
        if node == v.SUBMISSION_SET_NODE:
            package: Any = SubmissionSet(entry_uuid=entry_uuid)
            self._common(element, package, SUBMISSION_SET_LAYOUT)
            if submission.submission_set is not None:
                self.fail("the submission has more than one SubmissionSet")
            submission.submission_set = package
        elif node == v.FOLDER_NODE:
            package = Folder(entry_uuid=entry_uuid)
            self._common(element, package, FOLDER_LAYOUT)
            submission.folders.append(package)
        else:
            self.fail(f"RegistryPackage {element.get('id')} is classified neither as a "
                      f"SubmissionSet ({v.SUBMISSION_SET_NODE}) nor as a Folder "
                      f"({v.FOLDER_NODE})", f"RegistryPackage[@id='{element.get('id')}']")

    def _association(self, element: etree._Element) -> Association:
        source_id = element.get("id") or ""
        kind = element.get("associationType") or ""
        kind = v.LEGACY_ASSOCIATION_TYPES.get(kind, kind)
        return Association(
            entry_uuid=self.ids.get(source_id, source_id),
            type=kind,
            source=self.resolve(element.get("sourceObject"), "sourceObject", source_id),
            target=self.resolve(element.get("targetObject"), "targetObject", source_id),
            slots=read_slots(element),
            home=element.get("home"),
        )


def decode_submission(request: etree._Element) -> DecodeResult:
    """Decode a lcm:SubmitObjectsRequest element."""
    return _Decoder(request).decode()


def decode_registered(element: etree._Element) -> RegistryObject | Association:
    """One registered object (its stored LeafClass element, with its urn:uuid: id) as
    decode_submission decodes it alone in a request: the same code, without building the
    request around it (moving a parsed element into another document costs as much as
    decoding it). ValueError for an element that is no registry object."""
    decoder = _Decoder(element)
    entry_uuid = element.get("id") or ""
    if element.tag not in _OBJECT_TAGS or not entry_uuid.startswith("urn:uuid:"):
        raise ValueError(f"{element.tag} {entry_uuid!r} is not a registered object")
    decoder.ids[entry_uuid] = entry_uuid
    if element.tag == _EXTRINSIC_OBJECT:
        return decoder._document(element)
    if element.tag == _ASSOCIATION:
        return decoder._association(element)
    submission = Submission(None)
    decoder._package(element, decoder._classification_nodes([element]), submission)
    if submission.submission_set is None and not submission.folders:
        raise ValueError(f"RegistryPackage {entry_uuid} is neither a SubmissionSet nor a "
                         "Folder")
    return submission.submission_set or submission.folders[0]
