"""The DMP management services as WSGI apps, behind the same VIHF check as the XDS endpoints.

spyne is trusted with what it does well (typed operations, the WSDL) and nothing else: the
body is read (bounded) and parsed by the project's hardened parser, the envelope, operation
and parameters are checked against the schema spyne derives from the services, and the caller
is put in the WSGI environ, all before spyne runs. Every answer is a SOAP 1.2 message: a
client's mistake (not SOAP, an unknown operation, a missing or empty parameter, a refused
VIHF) is a Sender fault with HTTP 400, anything unexpected a Receiver fault with the request
id; no HTML error page leaves the server (spyne's own schema errors end in a TypeError).
"""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from lxml import etree
from spyne import Application
from spyne.protocol.soap import Soap12
from spyne.server.wsgi import WsgiApplication

from ..model.errors import STORAGE_FULL, is_disk_full
from ..records.actor import Records
from ..security.authentication import with_client_certificate
from ..security.principal import SYSTEM
from ..security.vihf import VihfError, VihfVerifier
from ..soap.endpoint import (
    client_certificate,
    fault_level,
    outcome_of,
    request_id_of,
    status_line,
)
from ..soap.envelope import new_message_id
from ..soap.faults import MUST_UNDERSTAND, RECEIVER, SoapFault, fault_envelope, sender
from ..soap.namespaces import SOAP12, WSA, WSSE, qn
from ..transactions.authentication import (
    FAILED_AUTHENTICATION,
    INVALID_SECURITY,
    OUR_ROLES,
    SECURITY,
    security_headers,
    vihf_principal,
)
from ..xmlsafe import MalformedXmlError, UnsafeXmlError, XmlTooLargeError, parse_xml
from .services import (
    AUTHORIZATIONS_NS,
    PATIENTS_NS,
    PRINCIPAL_KEY,
    AuthorizationService,
    PatientService,
)

log = logging.getLogger("xds_server.dmp")
# spyne logs every client fault as an error with its traceback; the client has its answer
logging.getLogger("spyne.application.client").setLevel(logging.CRITICAL)

PATHS = {"/dmp/patients": (PatientService, PATIENTS_NS, "DmpPatients"),
         "/dmp/authorizations": (AuthorizationService, AUTHORIZATIONS_NS, "DmpAuthorizations")}
_ENVELOPE, _HEADER, _BODY = (qn(SOAP12, name) for name in ("Envelope", "Header", "Body"))
_SENDER_CODE = f"{{{SOAP12}}}Code/{{{SOAP12}}}Value"
_OUTCOME_KEY = "xds.dmp_outcome"     # the request's outcome, for its log line and metrics


_SIZE_KEY = "xds.request_size"      # the body's bytes read, for the request's log line

class GuardedService:
    """A spyne WSGI app with the body checked and the caller identified before spyne runs."""

    def __init__(self, spyne_app: WsgiApplication, namespace: str, schema: etree.XMLSchema,
                 verifier: VihfVerifier | None, max_request_bytes: int, name: str = "dmp",
                 observer: Callable[[str, str, str, float], None] | None = None) -> None:
        self.spyne_app = spyne_app
        self.name = name                # the endpoint's name in logs and metrics
        self.observer = observer
        self.namespace = namespace
        self.schema = schema
        self.operations = sorted(etree.QName(name).localname
                                 for name in spyne_app.app.interface.service_method_map)
        self.verifier = verifier
        self.max_request_bytes = max_request_bytes

    def __call__(self, environ: dict[str, Any],
                 start_response: Callable[..., Any]) -> Iterable[bytes]:
        request_id = request_id_of(environ)
        if environ.get("REQUEST_METHOD") != "POST":
            return self.spyne_app(environ, start_response)       # ?wsdl
        started = time.perf_counter()
        statuses: list[str] = []

        def recording(status: str, headers: list[tuple[str, str]], exc_info=None) -> Any:
            statuses.append(status)
            return start_response(status, headers)

        answer = self._serve(environ, recording, request_id)
        self._report(environ, request_id, statuses[-1] if statuses else "500",
                     time.perf_counter() - started)
        return answer

    def _report(self, environ: dict[str, Any], request_id: str, status: str,
                seconds: float) -> None:
        """The request's log line (and its metrics): operation, caller, outcome, duration."""
        code = int(status.split()[0])
        operation = environ.get("xds.dmp_operation", "unknown")
        principal = environ.get(PRINCIPAL_KEY)
        caller = getattr(principal, "subject_id", "") or "-"
        client = environ.get("REMOTE_ADDR", "")
        outcome = environ.get(_OUTCOME_KEY) or ("success" if code < 400 else
                                                "fault:env:Sender" if code < 500 else
                                                "fault:env:Receiver")
        size = environ.get(_SIZE_KEY, 0)    # the body's bytes read (monitoring.md: every line)
        log.info("request_id=%s endpoint=%s transaction=%s outcome=%s status=%d size=%d "
                 "ms=%.1f caller=%s", request_id, self.name, operation, outcome, code, size,
                 seconds * 1000, caller,
                 extra={"xds": {"request_id": request_id, "front": "dmp", "endpoint": self.name,
                                "transaction": operation, "caller": caller, "client": client,
                                "outcome": outcome, "status": code, "size": size,
                                "duration_ms": round(seconds * 1000, 3)}})
        if self.observer is not None:
            self.observer(self.name, operation, outcome, seconds)

    def _serve(self, environ: dict[str, Any], start_response: Callable[..., Any],
               request_id: str) -> Iterable[bytes]:
        try:
            body = self._read(environ)
            envelope = self._check(body, environ)
            self._identify(envelope, environ)
        except SoapFault as fault:
            environ[_OUTCOME_KEY] = outcome_of(fault)
            return _fault(start_response, fault, request_id)
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        try:
            return self._answer(environ, start_response, request_id)
        except Exception as exc:
            if is_disk_full(exc):     # a write filled the disk: not a bug
                log.error("request_id=%s DMP storage full: %s: writes are refused until space "
                          "is freed", request_id, exc)
                fault = SoapFault(RECEIVER, STORAGE_FULL, subcodes=())
            else:
                log.exception("request_id=%s DMP service failed", request_id)
                fault = SoapFault(RECEIVER, f"internal error; quote request id {request_id} "
                                            "to the operator", subcodes=())
            environ[_OUTCOME_KEY] = outcome_of(fault)
            return _fault(start_response, fault, request_id)

    def _read(self, environ: dict[str, Any]) -> bytes:
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = -1
        if length <= 0 or length > self.max_request_bytes:
            raise sender(f"a SOAP request of 1 to {self.max_request_bytes} bytes is expected "
                         "(Content-Length)", "RequestTooLarge" if length > 0 else
                         "LengthRequired", http_status=413 if length > 0 else 411)
        body = environ["wsgi.input"].read(length)
        environ[_SIZE_KEY] = len(body)
        return body

    def _check(self, body: bytes, environ: dict[str, Any]) -> etree._Element:
        """The parsed envelope, after checking it holds one known operation whose parameters
        the services' schema accepts."""
        try:
            envelope = parse_xml(body)
        except XmlTooLargeError as exc:      # refused before parsing (issue 13, finding 10)
            raise sender(f"not an acceptable SOAP message: {exc}", "XmlTooLarge",
                         http_status=413) from None
        except (UnsafeXmlError, MalformedXmlError) as exc:
            raise _sender(f"not an acceptable SOAP message: {exc}", "MalformedXml") from None
        if envelope.tag != _ENVELOPE:
            raise _sender(f"the root element is {envelope.tag}, not a SOAP 1.2 Envelope",
                          "NotSoap12Envelope")
        parts = [child.tag for child in envelope if isinstance(child.tag, str)]
        if parts not in ([_BODY], [_HEADER, _BODY]):
            raise _sender("a SOAP 1.2 Envelope holds an optional Header, then one Body",
                          "InvalidEnvelope")
        _check_must_understand(envelope)
        bodies = [child for child in envelope if child.tag == _BODY]
        operations = [child for child in bodies[0] if isinstance(child.tag, str)] \
            if len(bodies) == 1 else []
        if len(operations) != 1:
            raise _sender("the SOAP Body must hold one operation element", "InvalidBody")
        operation = etree.QName(operations[0])
        if operation.namespace != self.namespace or operation.localname not in self.operations:
            raise _sender(f"unknown operation {operation.text}; this service has "
                          f"{', '.join(self.operations)} in {self.namespace}",
                          "UnknownOperation")
        environ["xds.dmp_operation"] = operation.localname     # for its log line
        if not self.schema.validate(operations[0]):
            problem = self.schema.error_log.last_error
            raise _sender(f"{operation.localname}: {problem.message if problem else 'invalid'}",
                          "InvalidParameters")
        return envelope

    def _identify(self, envelope: etree._Element, environ: dict[str, Any]) -> None:
        certificate = client_certificate(environ)      # the calling system (mutual TLS)
        if self.verifier is None:
            if any(certificate):
                environ[PRINCIPAL_KEY] = with_client_certificate(SYSTEM, *certificate)
            return
        blocks = [block for header in envelope if header.tag == _HEADER for block in header]
        try:
            environ[PRINCIPAL_KEY] = with_client_certificate(
                vihf_principal(self.verifier, blocks), *certificate)
        except VihfError as exc:        # answered here, with the request id, as on /xds
            raise sender(f"VIHF refused: {exc}", FAILED_AUTHENTICATION
                         if security_headers(blocks) else INVALID_SECURITY, WSSE) from None

    def _answer(self, environ: dict[str, Any], start_response: Callable[..., Any],
                request_id: str) -> list[bytes]:
        """spyne's answer, with a Sender fault's status set to 400 (SOAP 1.2 HTTP binding:
        spyne answers every fault with 500)."""
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info=None) -> None:
            captured.update(status=status, headers=headers)

        body = b"".join(self.spyne_app(environ, capture))
        status = captured["status"]
        if not status.startswith("2"):
            environ[_OUTCOME_KEY] = _outcome_of_answer(body)
        if status.startswith("500") and _is_sender_fault(body):
            status = status_line(400)
        headers = [(name, value) for name, value in captured["headers"]
                   if name.lower() != "content-length"]
        start_response(status, [*headers, ("Content-Length", str(len(body))),
                                 ("X-Request-Id", request_id)])
        return [body]


def _check_must_understand(envelope: etree._Element) -> None:
    """A header block this node must understand and does not is a MustUnderstand fault (SOAP
    1.2 part 1, 5.2.3): only wsse:Security and WS-Addressing are understood here."""
    header = envelope.find(_HEADER)
    for block in [] if header is None else header:
        if not isinstance(block.tag, str):
            continue
        flag = block.get(f"{{{SOAP12}}}mustUnderstand", "false").strip()
        namespace = etree.QName(block).namespace
        if flag in ("true", "1") and block.tag != SECURITY and namespace != WSA and \
                block.get(f"{{{SOAP12}}}role") in OUR_ROLES:
            raise SoapFault(MUST_UNDERSTAND, f"header {block.tag} is not understood by this "
                                             "service", subcodes=(),
                            not_understood=((namespace or "", etree.QName(block).localname),))


def _outcome_of_answer(body: bytes) -> str:
    """The outcome of a fault spyne answered (a service's refusal: `Client.UnknownPatient`
    is Code Sender, Subcode UnknownPatient), in the words of every other front's request line
    and metrics (soap/endpoint.py `outcome_of`): `fault:` and the innermost code as
    `prefix:local`; the service's own codes, which have no prefix, as `dmp:`. It was
    `fault:400`, a status, not a code (issue 18 m1)."""
    try:
        root = etree.fromstring(body)
    except etree.XMLSyntaxError:
        return "fault:env:Receiver"
    code = root.find(f"{{{SOAP12}}}Body/{{{SOAP12}}}Fault/{{{SOAP12}}}Code")
    values = []
    while code is not None:
        values.append((code.findtext(f"{{{SOAP12}}}Value") or "").strip())
        code = code.find(f"{{{SOAP12}}}Subcode")
    if not values or not values[0]:
        return "fault:env:Receiver"
    innermost = values[-1]
    if len(values) == 1:
        return f"fault:env:{innermost.rsplit(':', 1)[-1]}"
    return f"fault:{innermost}" if ":" in innermost else f"fault:dmp:{innermost}"


def _is_sender_fault(body: bytes) -> bool:
    try:
        root = etree.fromstring(body)
    except etree.XMLSyntaxError:
        return False
    code = root.findtext(f"{{{SOAP12}}}Body/{{{SOAP12}}}Fault/{_SENDER_CODE}") or ""
    return code.endswith(":Sender")


def _sender(reason: str, subcode: str) -> SoapFault:
    return sender(reason, subcode, http_status=400)


def _fault(start_response: Callable[..., Any], fault: SoapFault,
           request_id: str) -> list[bytes]:
    log.log(fault_level(fault), "request_id=%s DMP service fault=%s reason=%s", request_id,
            fault.subcode_text, fault.reason,
            extra={"xds": {"request_id": request_id, "front": "dmp", "fault": fault.code,
                           "subcode": fault.subcode_text}})
    body = fault_envelope(fault, request_id, None, new_message_id())
    start_response(status_line(fault.status), [
        ("Content-Type", "application/soap+xml; charset=UTF-8"),
        ("Content-Length", str(len(body))), ("X-Request-Id", request_id)])
    return [body]


def dmp_routes(records: Records, verifier: VihfVerifier | None, max_request_bytes: int,
               observer: Callable[[str, str, str, float], None] | None = None
               ) -> dict[str, GuardedService]:
    """The services by path; `observer(endpoint, operation, outcome, seconds)` is told of
    each request (the metrics)."""
    routes = {}
    for path, (service, namespace, name) in PATHS.items():
        application = Application([service], tns=namespace, name=name,
                                  in_protocol=Soap12(), out_protocol=Soap12(),
                                  config={"records": records})
        xml_schema = application.interface.docs.xml_schema
        xml_schema.build_validation_schema()
        routes[path] = GuardedService(WsgiApplication(application), namespace,
                                      xml_schema.validation_schema, verifier, max_request_bytes,
                                      path.rsplit("/", 1)[-1], observer)
    return routes
