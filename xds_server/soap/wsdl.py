"""WSDL 1.1 (SOAP 1.2 binding, WS-Addressing actions) generated from an endpoint's dispatch table.

Generating it from the same `Operation` rows that dispatch requests means the WSDL can never
promise an operation the endpoint does not serve. Message elements are declared `xs:anyType`:
the normative ebRS/IHE schemas govern their content, and a self-contained WSDL loads in clients
(zeep, SoapUI, .NET) without fetching anything.
"""

from __future__ import annotations

from collections.abc import Sequence

from lxml import etree

from .endpoint import Operation
from .namespaces import split_qn

WSDL = "http://schemas.xmlsoap.org/wsdl/"
SOAP12_WSDL = "http://schemas.xmlsoap.org/wsdl/soap12/"
WSAW = "http://www.w3.org/2006/05/addressing/wsdl"
WSAM = "http://www.w3.org/2007/05/addressing/metadata"
XS = "http://www.w3.org/2001/XMLSchema"
IHE_XDS_B = "urn:ihe:iti:xds-b:2007"


def build_wsdl(service: str, location: str, operations: Sequence[Operation],
               target_namespace: str = IHE_XDS_B) -> bytes:
    """A WSDL for `service` at `location` describing exactly `operations`."""
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
    for namespace, locals_ in declared.items():
        schema = etree.SubElement(types, f"{{{XS}}}schema", targetNamespace=namespace,
                                  elementFormDefault="qualified")
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
