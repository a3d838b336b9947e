"""Reading a CDA R2 document with the project's hardened parser, and saying plainly what a file
is when it is not a CDA (empty, not XML, HTML, an XSLT wrapper, another root element)."""

from __future__ import annotations

from lxml import etree

from ..xmlsafe import MalformedXmlError, UnsafeXmlError, parse_xml

HL7 = "urn:hl7-org:v3"
NS = {"h": HL7}
CLINICAL_DOCUMENT = f"{{{HL7}}}ClinicalDocument"
XSLT = "http://www.w3.org/1999/XSL/Transform"
XHTML = "http://www.w3.org/1999/xhtml"


class NotCda(ValueError):
    """The bytes are not a CDA R2 document; the message says what they are instead."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


def _looks_like_html(data: bytes) -> bool:
    head = data[:1024].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html"))


def parse_cda(data: bytes) -> etree._Element:
    """The ClinicalDocument element, or NotCda saying why not."""
    if not data.strip():
        raise NotCda("the file is empty")
    if _looks_like_html(data):
        raise NotCda("this is an HTML page, not a CDA document")
    try:
        root = parse_xml(data)
    except UnsafeXmlError as exc:
        raise NotCda(f"refused: {exc}") from None
    except MalformedXmlError as exc:
        raise NotCda(f"not well-formed XML: {exc}", exc.line) from None
    if root.tag == CLINICAL_DOCUMENT:
        return root
    return _not_a_clinical_document(root)


def _not_a_clinical_document(root: etree._Element) -> etree._Element:
    name = etree.QName(root)
    if name.namespace == XSLT:
        embedded = root.find(f".//{CLINICAL_DOCUMENT}")
        detail = (" (it embeds a ClinicalDocument: submit the CDA itself, not the "
                  "self-presenting XSLT wrapper)") if embedded is not None else ""
        raise NotCda(f"the root element is xsl:{name.localname}: this is an XSLT stylesheet, "
                     f"not a CDA document{detail}", root.sourceline)
    if name.namespace == XHTML or name.localname.lower() == "html":
        raise NotCda("this is an HTML page, not a CDA document", root.sourceline)
    if name.localname == "ClinicalDocument":
        where = f"namespace '{name.namespace}'" if name.namespace else "no namespace"
        raise NotCda(f"ClinicalDocument is in {where}; CDA R2 requires '{HL7}'",
                     root.sourceline)
    raise NotCda(f"the root element is <{name.localname}>"
                 f"{' in ' + name.namespace if name.namespace else ''}, not a CDA "
                 "ClinicalDocument (a fragment or another kind of XML)", root.sourceline)


def xpath_of(element: etree._Element) -> str:
    """A readable path such as /ClinicalDocument/recordTarget[1]/patientRole."""
    steps = []
    while element is not None:
        parent = element.getparent()
        local = etree.QName(element).localname
        if parent is not None:
            same = [e for e in parent if isinstance(e.tag, str) and e.tag == element.tag]
            if len(same) > 1:
                local += f"[{same.index(element) + 1}]"
        steps.append(local)
        element = parent
    return "/" + "/".join(reversed(steps))
