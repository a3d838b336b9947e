"""ebRS 2.1 registration templates → ebRS 3.0, as the NIST toolkit does before an XDS.b send.

Its TranslateToV3: elements move to the ebRIM 3.0 namespace (`SubmitObjectsRequest` to lcm,
`LeafRegistryObjectList` becomes `RegistryObjectList`); ObjectRefs (2.1's declarations of the
scheme UUIDs) are dropped; children are put in 3.0 order (Slot, Name, Description, VersionInfo,
Classification, ExternalIdentifier, then the rest); short statuses and association types get
their namespace; majorVersion/minorVersion are dropped; Association, Classification and
ExternalIdentifier get an id when they have none, and the object types 3.0 requires. A nested
Classification or ExternalIdentifier names the object it belongs to (classifiedObject,
registryObject), which 3.0 makes required.
"""

from __future__ import annotations

from lxml import etree

RS21 = "urn:oasis:names:tc:ebxml-regrep:registry:xsd:2.1"
RIM21 = "urn:oasis:names:tc:ebxml-regrep:rim:xsd:2.1"
LCM = "urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0"
RIM = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"
XML_NS = "http://www.w3.org/XML/1998/namespace"

STATUS_NAMESPACE = "urn:oasis:names:tc:ebxml-regrep:StatusType:"
HAS_MEMBER_NAMESPACE = "urn:oasis:names:tc:ebxml-regrep:AssociationType:"
IHE_ASSOCIATION_NAMESPACE = "urn:ihe:iti:2007:AssociationType:"
OBJECT_TYPE = "urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:"
_TYPED = ("RegistryPackage", "Association", "Classification", "ExternalIdentifier")
_ORDER = ("Slot", "Name", "Description", "VersionInfo", "Classification", "ExternalIdentifier")
_OWNER_ATTRIBUTE = {"Classification": "classifiedObject", "ExternalIdentifier": "registryObject"}


def is_ebrs21(root: etree._Element) -> bool:
    return etree.QName(root).namespace in (RS21, RIM21)


def _with_namespace(value: str, namespace: str) -> str:
    return value if ":" in value else namespace + value


def _association_namespace(value: str) -> str:
    return HAS_MEMBER_NAMESPACE if value == "HasMember" else IHE_ASSOCIATION_NAMESPACE


class _Translator:
    def __init__(self) -> None:
        self.counter = 0

    def new_id(self) -> str:
        self.counter += 1
        return f"id_{self.counter}"

    def element(self, source: etree._Element, owner: str | None) -> etree._Element | None:
        local = etree.QName(source).localname
        if local == "ObjectRef":
            return None
        if local == "SubmitObjectsRequest":
            tag = f"{{{LCM}}}SubmitObjectsRequest"
        elif local == "LeafRegistryObjectList":
            tag = f"{{{RIM}}}RegistryObjectList"
        else:
            tag = f"{{{RIM}}}{local}"
        target = etree.Element(tag, nsmap={"lcm": LCM, "rim": RIM})
        for name, value in source.attrib.items():
            qname = etree.QName(name)
            if qname.localname in ("majorVersion", "minorVersion"):
                continue
            if qname.localname == "status":
                value = _with_namespace(value, STATUS_NAMESPACE)
            elif qname.localname == "associationType":
                value = _with_namespace(value, _association_namespace(value))
            key = f"{{{XML_NS}}}lang" if qname.localname == "lang" else qname.localname
            target.set(key, value)
        if local in ("Association", "Classification", "ExternalIdentifier") \
                and not target.get("id"):
            target.set("id", self.new_id())
        if local in _TYPED:
            target.set("objectType", OBJECT_TYPE + local)
        if local in _OWNER_ATTRIBUTE and owner and not target.get(_OWNER_ATTRIBUTE[local]):
            target.set(_OWNER_ATTRIBUTE[local], owner)
        target.text = source.text
        children = [c for c in source if isinstance(c.tag, str)]
        ordered = [c for name in _ORDER for c in children if etree.QName(c).localname == name]
        ordered += [c for c in children if etree.QName(c).localname not in _ORDER]
        me = source.get("id") if local not in ("SubmitObjectsRequest",
                                               "LeafRegistryObjectList") else None
        for child in ordered:
            copy = self.element(child, me)
            if copy is not None:
                target.append(copy)
        return target


def translate(root: etree._Element) -> etree._Element:
    """The ebRS 3.0 equivalent of a 2.1 SubmitObjectsRequest (the input is not changed)."""
    translated = _Translator().element(root, None)
    assert translated is not None
    etree.cleanup_namespaces(translated)
    return translated
