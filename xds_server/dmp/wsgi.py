"""The DMP management services as WSGI apps, behind the same VIHF check as the XDS endpoints:
the body is read (bounded) and parsed by the project's hardened parser first, so spyne never
sees a DTD or an oversized message, and the caller is put in the WSGI environ."""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterable
from typing import Any

from spyne import Application
from spyne.protocol.soap import Soap12
from spyne.server.wsgi import WsgiApplication
from sqlalchemy import Engine

from ..security.authentication import with_client_certificate
from ..security.principal import SYSTEM
from ..security.vihf import VihfError, VihfVerifier
from ..soap.endpoint import client_certificate
from ..soap.namespaces import SOAP12, WSSE, qn
from ..soap.xmlparse import MalformedXmlError, UnsafeXmlError, XmlTooLargeError, parse_xml
from .services import (
    AUTHORIZATIONS_NS,
    PATIENTS_NS,
    PRINCIPAL_KEY,
    REFUSAL_KEY,
    AuthorizationService,
    PatientService,
)

# spyne logs every client fault as an error with its traceback; the client has its answer
logging.getLogger("spyne.application.client").setLevel(logging.CRITICAL)

PATHS = {"/dmp/patients": (PatientService, PATIENTS_NS, "DmpPatients"),
         "/dmp/authorizations": (AuthorizationService, AUTHORIZATIONS_NS, "DmpAuthorizations")}


class GuardedService:
    """A spyne WSGI app with the body checked and the caller identified before spyne runs."""

    def __init__(self, spyne_app: WsgiApplication, verifier: VihfVerifier | None,
                 max_request_bytes: int) -> None:
        self.spyne_app = spyne_app
        self.verifier = verifier
        self.max_request_bytes = max_request_bytes

    def __call__(self, environ: dict[str, Any],
                 start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") != "POST":
            return self.spyne_app(environ, start_response)       # ?wsdl
        length = int(environ.get("CONTENT_LENGTH") or 0)
        if length <= 0 or length > self.max_request_bytes:
            return _plain(start_response, 413 if length else 411,
                          f"a SOAP request of 1 to {self.max_request_bytes} bytes is expected")
        body = environ["wsgi.input"].read(length)
        try:
            envelope = parse_xml(body)
        except XmlTooLargeError as exc:
            return _plain(start_response, 413, f"not an acceptable SOAP message: {exc}")
        except (UnsafeXmlError, MalformedXmlError) as exc:
            return _plain(start_response, 400, f"not an acceptable SOAP message: {exc}")
        certificate = client_certificate(environ)
        if self.verifier is not None:
            header = envelope.find(qn(SOAP12, "Header"))
            security = header.find(qn(WSSE, "Security")) if header is not None else None
            try:
                environ[PRINCIPAL_KEY] = with_client_certificate(
                    self.verifier.principal(security), *certificate)
            except VihfError as exc:
                environ[REFUSAL_KEY] = str(exc)
        elif any(certificate):
            environ[PRINCIPAL_KEY] = with_client_certificate(SYSTEM, *certificate)
        environ["wsgi.input"] = io.BytesIO(body)
        return self.spyne_app(environ, start_response)


def _plain(start_response: Callable[..., Any], status: int, text: str) -> list[bytes]:
    body = (text + "\n").encode()
    reasons = {400: "Bad Request", 411: "Length Required", 413: "Content Too Large"}
    start_response(f"{status} {reasons[status]}", [("Content-Type", "text/plain; charset=utf-8"),
                                                   ("Content-Length", str(len(body)))])
    return [body]


def dmp_routes(engine: Engine, verifier: VihfVerifier | None,
               max_request_bytes: int) -> dict[str, GuardedService]:
    routes = {}
    for path, (service, namespace, name) in PATHS.items():
        application = Application([service], tns=namespace, name=name,
                                  in_protocol=Soap12(validator="lxml"), out_protocol=Soap12(),
                                  config={"engine": engine})
        routes[path] = GuardedService(WsgiApplication(application), verifier, max_request_bytes)
    return routes
