"""The baseline for bench/soap_core.py: the least a SOAP endpoint can do with lxml under WSGI.

Reads the body, parses it, answers a reply envelope that copies the payload. No addressing checks,
no MTOM, no limits, no metrics, no logging: what the project's core is compared against.
"""

from __future__ import annotations

import uuid

from lxml import etree

SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
WSA = "http://www.w3.org/2005/08/addressing"
_parser = etree.XMLParser(resolve_entities=False, no_network=True)


def app(environ, start_response):
    length = int(environ.get("CONTENT_LENGTH") or 0)
    root = etree.fromstring(environ["wsgi.input"].read(length), _parser)
    body = root.find(f"{{{SOAP12}}}Body")
    message_id = root.findtext(f"{{{SOAP12}}}Header/{{{WSA}}}MessageID")
    env = etree.Element(f"{{{SOAP12}}}Envelope", nsmap={"env": SOAP12, "wsa": WSA})
    header = etree.SubElement(env, f"{{{SOAP12}}}Header")
    etree.SubElement(header, f"{{{WSA}}}Action").text = "urn:xds-server:2026:EchoResponse"
    etree.SubElement(header, f"{{{WSA}}}MessageID").text = f"urn:uuid:{uuid.uuid4()}"
    etree.SubElement(header, f"{{{WSA}}}RelatesTo").text = message_id
    reply_body = etree.SubElement(env, f"{{{SOAP12}}}Body")
    reply_body.extend(list(body))
    data = etree.tostring(env, xml_declaration=True, encoding="UTF-8")
    start_response("200 OK", [("Content-Type", "application/soap+xml; charset=UTF-8"),
                              ("Content-Length", str(len(data)))])
    return [data]
