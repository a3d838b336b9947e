"""WSDL 1.1 (SOAP 1.2 binding, WS-Addressing actions) generated from an endpoint's dispatch table.

Generating it from the same `Operation` rows that dispatch requests means the WSDL can never
promise an operation the endpoint does not serve. A message element whose namespace has a schema
in the endpoint's `ServedSchemas` is typed by an `xs:include` of that schema, served beside the
WSDL as `?xsd=NAME`, so client generators (zeep, wsimport, svcutil) build typed messages; any
other element (the diagnostic Echo) is declared `xs:anyType` inline.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from lxml import etree

from ..xmlsafe import parse_xml
from .endpoint import Operation
from .namespaces import split_qn

WSDL = "http://schemas.xmlsoap.org/wsdl/"
SOAP12_WSDL = "http://schemas.xmlsoap.org/wsdl/soap12/"
WSAW = "http://www.w3.org/2006/05/addressing/wsdl"
WSAM = "http://www.w3.org/2007/05/addressing/metadata"
XS = "http://www.w3.org/2001/XMLSchema"
IHE_XDS_B = "urn:ihe:iti:xds-b:2007"


class ServedSchemas:
    """A closed set of XML schema files served as `?xsd=NAME` beside a WSDL.

    Read once at start-up: each `schemaLocation` naming a file of the set is rewritten to
    `?xsd=NAME` (resolved by clients against the endpoint's URL), and a location naming anything
    else refuses to start. A client following the imports therefore reaches these files and
    nothing else (no external fetch, no loop it can be made to extend), and `get` is a lookup in
    a fixed table: the request's name never becomes a path (no traversal to stop).
    """

    def __init__(self, files: Mapping[str, Path], by_namespace: Mapping[str, str]) -> None:
        self.by_namespace = dict(by_namespace)
        self._bodies = {name: _served_schema(name, path.read_bytes(), set(files))
                        for name, path in files.items()}
        unknown = set(self.by_namespace.values()) - set(self._bodies)
        if unknown:
            raise ValueError(f"no schema file for {sorted(unknown)}")

    @property
    def names(self) -> list[str]:
        return sorted(self._bodies)

    def get(self, name: str) -> bytes | None:
        return self._bodies.get(name)


def _served_schema(name: str, data: bytes, names: set[str]) -> bytes:
    root = parse_xml(data)
    for element in root.iter(f"{{{XS}}}import", f"{{{XS}}}include", f"{{{XS}}}redefine"):
        location = element.get("schemaLocation")
        if location is None:
            continue
        if location not in names:
            raise ValueError(f"{name}: schemaLocation {location!r} is not a served schema")
        element.set("schemaLocation", f"?xsd={location}")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def build_wsdl(service: str, location: str, operations: Sequence[Operation],
               target_namespace: str = IHE_XDS_B,
               schemas: ServedSchemas | None = None) -> bytes:
    """A WSDL for `service` at `location` describing exactly `operations`, their messages
    typed by `schemas` where it has their namespace."""
    namespaces: dict[str, str] = {}
    for op in operations:
        for tag in (op.request_element, op.response_element):
            namespace, _ = split_qn(tag)
            namespaces.setdefault(namespace, f"m{len(namespaces)}")
    nsmap = {"wsdl": WSDL, "soap12": SOAP12_WSDL, "wsaw": WSAW, "wsam": WSAM, "xs": XS,
             "tns": target_namespace, **{prefix: ns for ns, prefix in namespaces.items()}}
    root = etree.Element(f"{{{WSDL}}}definitions", nsmap=nsmap, name=service,
                         targetNamespace=target_namespace)

    def w(parent: etree._Element, local: str, **attrs: str) -> etree._Element:
        return etree.SubElement(parent, f"{{{WSDL}}}{local}", **attrs)

    def qname(tag: str) -> str:
        namespace, local = split_qn(tag)
        return f"{namespaces[namespace]}:{local}"

    types = w(root, "types")
    declared: dict[str, set[str]] = {}
    for op in operations:
        for tag in (op.request_element, op.response_element):
            namespace, local = split_qn(tag)
            declared.setdefault(namespace, set()).add(local)
    typed = schemas.by_namespace if schemas is not None else {}
    for namespace, locals_ in declared.items():
        schema = etree.SubElement(types, f"{{{XS}}}schema", targetNamespace=namespace,
                                  elementFormDefault="qualified")
        if namespace in typed:     # as the IHE WSDLs do: one schema per namespace, included
            etree.SubElement(schema, f"{{{XS}}}include", schemaLocation=f"?xsd={typed[namespace]}")
            continue
        for local in sorted(locals_):
            etree.SubElement(schema, f"{{{XS}}}element", name=local, type="xs:anyType")

    for op in operations:
        for suffix, tag in (("Request", op.request_element), ("Response", op.response_element)):
            message = w(root, "message", name=f"{_op_name(op)}_{suffix}")
            w(message, "part", name="body", element=qname(tag))

    port_type = w(root, "portType", name=f"{service}_PortType")
    for op in operations:
        operation = w(port_type, "operation", name=_op_name(op))
        w(operation, "input", message=f"tns:{_op_name(op)}_Request",
          **{f"{{{WSAW}}}Action": op.action, f"{{{WSAM}}}Action": op.action})
        w(operation, "output", message=f"tns:{_op_name(op)}_Response",
          **{f"{{{WSAW}}}Action": op.response_action, f"{{{WSAM}}}Action": op.response_action})

    binding = w(root, "binding", name=f"{service}_Binding_Soap12", type=f"tns:{service}_PortType")
    etree.SubElement(binding, f"{{{SOAP12_WSDL}}}binding", style="document",
                     transport="http://schemas.xmlsoap.org/soap/http")
    etree.SubElement(binding, f"{{{WSAW}}}UsingAddressing", **{f"{{{WSDL}}}required": "true"})
    for op in operations:
        operation = w(binding, "operation", name=_op_name(op))
        etree.SubElement(operation, f"{{{SOAP12_WSDL}}}operation", soapAction=op.action,
                         soapActionRequired="false")
        for direction in ("input", "output"):
            etree.SubElement(w(operation, direction), f"{{{SOAP12_WSDL}}}body", use="literal")

    service_el = w(root, "service", name=service)
    port = w(service_el, "port", name=f"{service}_Port_Soap12",
             binding=f"tns:{service}_Binding_Soap12")
    etree.SubElement(port, f"{{{SOAP12_WSDL}}}address", location=location)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _op_name(op: Operation) -> str:
    return op.wsdl_name or op.name.replace("-", "_")
