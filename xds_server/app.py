"""Wires the actors to the endpoints: the WSGI application that gunicorn serves.

Routes: POST/GET?wsdl /xds/registry and /xds/repository (SOAP 1.2), /fhir/… (MHD / PDSm over
FHIR R4, the same actors: docs/fhir.md), GET /health, GET /metrics.
"""

from __future__ import annotations

import hashlib
import ssl
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from . import __version__
from .cda.header_rules import RuleContext
from .cda.schema import schema_for
from .cda.schematron.runner import KitSchematrons
from .cda.validator import CdaValidator
from .config import (
    ConfigError,
    Settings,
    load_settings,
    no_pass_phrase,
    verifying_repositories,
)
from .consumer.registry_client import SoapRegistryClient
from .dmp.wsgi import dmp_routes
from .dsig.check import SignedSubmissionCheck, signature_checks
from .dsig.on_behalf import source_signer
from .ebxml.schema_files import SCHEMA_FILES, schema_paths
from .ebxml.stored import EbrimStoredForm, model_object, stored_second_form
from .fhir.bearer import BearerVerifier, authenticator, load_keys
from .fhir.front import FhirFront
from .fhir.outcome import FhirError, issue
from .fhir.provide import Provider
from .fhir.reading import Reader
from .fhir.stored_forms import document_form, kept
from .fhir.updates import Updater
from .hl7v2.documents import DocumentFeed
from .hl7v2.patient_feed import PatientFeed
from .hl7v2.senders import SenderTable
from .hl7v2.service import Hl7Service
from .model.audit import AuditEvent
from .model.content import Attachment
from .model.errors import ErrorCode, RegistryError, error
from .model.metadata import Submission
from .ops.health import both, health_report
from .ops.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from .ops.metrics import Gauges, Metrics
from .ops.syslog import TlsOptions, format_message, host_name, sender_for
from .records.actor import Records
from .records.identity import IdentityFeed
from .records.message_log import MessageLog
from .registry.actor import Registry
from .registry.repositories import RepositoryRules
from .repository.actor import Repository
from .repository.content_checks import CdaContentCheck
from .repository.document_store import DocumentStore
from .repository.registry_link import InProcessRegistryLink, RegistryLink
from .repository.remote_registry import RemoteRegistryLink
from .repository.storage_room import StorageRoom
from .security.audit_export import dicom_audit_message
from .security.authentication import verifier_for
from .security.principal import Principal
from .soap.endpoint import Operation, SoapEndpoint, StartResponse, request_id_of, status_line
from .soap.wsdl import ServedSchemas, build_wsdl
from .store import audit_store, repository_store
from .store.audit_forwarder import AuditForwarder
from .store.database import Database
from .store.documents import FilesystemDocumentStore
from .transactions.authentication import authenticator_for
from .transactions.echo import ECHO_OPERATION
from .transactions.iti18 import iti18_operation
from .transactions.iti41 import iti41_operation
from .transactions.iti42 import iti42_operation
from .transactions.iti43 import iti43_operation
from .transactions.iti57 import iti57_operation
from .transactions.iti62 import iti62_operation
from .transactions.iti86 import iti86_operation
from .validation.profiles import profile_for
from .valuesets import load_value_sets
from .xmlsafe import XmlLimits, configure_limits

REGISTRY_PATH = "/xds/registry"
REPOSITORY_PATH = "/xds/repository"
FHIR_PATH = "/fhir"


def registry_operations(settings: Settings, registry: Registry) -> list[Operation]:
    # the largest LeafClass answer built: the envelope limit, less the envelope around it
    max_answer_bytes = settings.max_envelope_bytes - 64 * 1024
    operations = [iti42_operation(registry), iti18_operation(registry, max_answer_bytes),
                  iti57_operation(registry), iti62_operation(registry)]
    return operations + ([ECHO_OPERATION] if settings.diagnostics else [])


def repository_operations(settings: Settings, repository: Repository) -> list[Operation]:
    limit = settings.max_documents_per_request
    operations = [iti41_operation(repository), iti43_operation(repository, limit),
                  iti86_operation(repository, limit)]
    return operations + ([ECHO_OPERATION] if settings.diagnostics else [])


def registry_link(settings: Settings, registry: Registry, database: Database) -> RegistryLink:
    """In-process registry by default; a remote ITI-42 registry when XDS_REGISTRY_URL is set
    (over mutual TLS with XDS_REGISTRY_CERTFILE: a registry that requires signed sets may bind
    this repository to its certificate, XDS_SIGNATURE_VERIFYING_REPOSITORIES)."""
    if settings.registry_url:
        return RemoteRegistryLink(SoapRegistryClient(settings.registry_url,
                                                     ssl_context=registry_tls(settings)),
                                  database)
    return InProcessRegistryLink(registry)


def registry_tls(settings: Settings) -> ssl.SSLContext | None:
    """The repository's TLS to a remote https registry: the registry verified (against
    XDS_REGISTRY_CA_CERTS, else the system's authorities), the repository's client
    certificate presented when XDS_REGISTRY_CERTFILE is set."""
    if not settings.registry_url.startswith("https:"):
        return None
    try:
        context = ssl.create_default_context(cafile=settings.registry_ca_certs or None)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        if settings.registry_certfile:
            context.load_cert_chain(settings.registry_certfile,
                                    settings.registry_keyfile or None,
                                    no_pass_phrase(settings.registry_keyfile
                                                   or settings.registry_certfile,
                                                   "registry_keyfile"))
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError(f"registry_certfile/registry_keyfile/registry_ca_certs: cannot "
                          f"load: {exc}") from None
    return context


def repository_rules(settings: Settings, signed: SignedSubmissionCheck | None,
                     documents: DocumentStore) -> RepositoryRules:
    """Which repositories' entries the registry registers (registry/repositories.py); a set
    of our repository's bytes sent by ITI-42 is verified by `signed` on the bytes held."""
    verify = None
    if signed is not None:
        def verify(submission: Submission, principal: Principal) -> list[RegistryError]:
            held: dict[str, Attachment] = {}     # rule A found the rows: the files are there
            for entry in submission.documents:
                content = documents.open(entry.unique_id, "application/octet-stream")
                if content is not None and _sha1(content) != (entry.hash or "").lower():
                    content.close()         # removed and stored again since rule A looked
                    content = None
                if content is None:
                    return [error(ErrorCode.REGISTRY_BUSY, f"DocumentEntry {entry.unique_id}: "
                                  "its bytes are being stored or removed; retry later",
                                  "DocumentEntry.repositoryUniqueId")]
                held[entry.entry_uuid] = content
            try:
                return signed(submission, held, principal)
            finally:
                for content in held.values():
                    content.close()
    return RepositoryRules(settings.repository_unique_id,
                           settings.require_submission_signature,
                           verifying_repositories(settings.signature_verifying_repositories),
                           verify)


def content_check(settings: Settings) -> CdaContentCheck | None:
    """The CI-SIS CDA checks on ITI-41 documents: profile cisis, unless XDS_VALIDATE_CDA=false."""
    if settings.profile != "cisis" or not settings.validate_cda:
        return None
    kit = settings.kit_dir if settings.kit_dir.is_dir() else None
    schematrons = (KitSchematrons(kit) if kit is not None and settings.validate_schematron
                   else None)
    return CdaContentCheck(CdaValidator(schema_for(kit),
                                        RuleContext(accept_test_ins=settings.accept_test_ins),
                                        schematrons))


def fhir_authenticator(settings: Settings):
    """IUA bearer tokens when callers must prove who they are (XDS_SECURITY=vihf); without
    XDS_IUA_* every FHIR call is refused (fail closed); None when security is off."""
    if settings.security == "none":
        return None
    if not (settings.iua_jwks and settings.iua_issuers and settings.iua_audience):
        def refuse(environ: dict[str, Any], transaction: str):
            raise FhirError(401, [issue("this server takes no FHIR calls: IUA tokens are not "
                                        "configured (XDS_IUA_JWKS, XDS_IUA_ISSUERS, "
                                        "XDS_IUA_AUDIENCE)", "", "login")])
        return refuse
    try:
        keys = load_keys(Path(settings.iua_jwks))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"XDS_IUA_JWKS: cannot load the keys: {exc}") from None
    issuers = [i.strip() for i in settings.iua_issuers.split(",") if i.strip()]
    return authenticator(BearerVerifier(keys, issuers, settings.iua_audience,
                                        settings.iua_max_lifetime))


def fhir_front(settings: Settings, registry: Registry, repository: Repository,
               observer) -> FhirFront:
    return FhirFront(Reader(registry, repository, model_object, stored_second_form),
                     Provider(repository, settings.max_document_bytes),
                     Updater(registry, model_object, settings.repository_unique_id),
                     fhir_authenticator(settings),
                     settings.max_request_bytes, observer)


def stored_form() -> EbrimStoredForm:
    """What the registry keeps of each registered object: its LeafClass, and for a
    DocumentEntry its DocumentReference too (fhir/stored_forms.py: ITI-67 answers without
    decoding; but a signature document's, rendered on demand), written by one function from
    the same XML (EbrimStoredForm.packed)."""
    return EbrimStoredForm(document_form, kept)


def atna_forwarder(settings: Settings, database: Database) -> AuditForwarder | None:
    """The audit trail sent on to XDS_ATNA_URL as DICOM audit messages in RFC 5424 syslog."""
    if not settings.atna_url:
        return None
    sender = sender_for(settings.atna_url, TlsOptions(
        settings.atna_certfile, settings.atna_keyfile, settings.atna_ca_certs))
    hostname = host_name()

    def render(event: AuditEvent) -> bytes:
        return format_message(dicom_audit_message(event, settings.home_community_id),
                              event.at, hostname)

    return AuditForwarder(database, render, sender.send, settings.data_dir / "atna.lock")


def metrics_for(database: Database, atna: AuditForwarder | None) -> Metrics:
    """The metrics, with the state they read from the database and the pool they watch."""
    metrics = Metrics(Gauges(
        documents_stored=lambda: database.read(repository_store.stored_totals),
        atna_queue=(lambda: database.read(audit_store.forwarding_backlog)) if atna else None))
    database.watch_pool(metrics.db_in_use.inc, metrics.db_capacity.set)
    return metrics


class XdsApplication:
    """The WSGI callable. Built once per worker process (engines are not shared across forks)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        # every XML parse of this process is bounded before the tree exists (finding 10)
        configure_limits(XmlLimits(settings.max_xml_markup, settings.max_xml_attributes))
        self.database = Database.from_url(settings.database_url,
                                          forward_audits=bool(settings.atna_url))
        self.atna = atna_forwarder(settings, self.database)
        if self.atna is not None:
            self.atna.start()
        self.metrics = metrics_for(self.database, self.atna)
        self.records = Records(self.database)
        signed, signed_metadata = signature_checks(settings)     # the signed submission set
        self.document_store = FilesystemDocumentStore(settings.blob_dir)
        self.document_store.ensure()
        self.registry = Registry(self.database, stored_form(),
                                 settings.max_leaf_class_results,
                                 profile_for(settings.profile, settings.kit_dir,
                                             settings.accept_test_ins),
                                 settings.disclose_masked_count,
                                 submission_check=signed_metadata,
                                 repositories=repository_rules(settings, signed,
                                                               self.document_store))
        link = registry_link(settings, self.registry, self.database)
        self.repository = Repository(self.database, self.document_store,
                                     settings.repository_unique_id,
                                     link, settings.max_document_bytes, content_check(settings),
                                     link if settings.registry_url else self.registry,
                                     submission_check=signed,
                                     source_signer=source_signer(settings),
                                     room=StorageRoom(settings.data_dir, settings.min_free_bytes))
        for writer in (self.registry.queries.audit_writer, self.repository.audit_writer):
            writer.on_queued = self.metrics.audit_backlog.inc
            writer.on_lost = self.metrics.audit_lost.inc
        if signed is not None:      # the verification is audited with the repository's reads
            signed.audit = self.repository.audit_writer.record
        settings.spool_dir.mkdir(parents=True, exist_ok=True)
        self.verifier = verifier_for(settings)
        common = {
            "max_request_bytes": settings.max_request_bytes,
            "spool_dir": settings.spool_dir,
            "spool_threshold": settings.spool_threshold_bytes,
            # an MTOM part holds one document (or the metadata): bounded as a document is
            "max_part_bytes": settings.max_document_bytes + 64 * 1024,
            "observer": self.metrics.observer("soap"),
            "authenticate": authenticator_for(self.verifier),
            "max_envelope_bytes": settings.max_envelope_bytes,
            "max_response_bytes": settings.max_response_bytes,
            "max_mime_parts": settings.max_mime_parts,
        }
        # the message schemas, imported by both WSDLs and served beside them (?xsd=NAME)
        schemas = ServedSchemas(schema_paths(), SCHEMA_FILES)
        self.routes: dict[str, Any] = {
            REGISTRY_PATH: SoapEndpoint(
                "registry", registry_operations(settings, self.registry), schemas=schemas,
                wsdl=lambda url, ops: build_wsdl("DocumentRegistry", url, ops, schemas=schemas),
                **common),
            REPOSITORY_PATH: SoapEndpoint(
                "repository", repository_operations(settings, self.repository), schemas=schemas,
                wsdl=lambda url, ops: build_wsdl("DocumentRepository", url, ops,
                                                 schemas=schemas),
                **common),
            **dmp_routes(self.records, self.verifier,
                         min(settings.max_request_bytes, settings.max_envelope_bytes),
                         self.metrics.observer("dmp")),
            FHIR_PATH: fhir_front(settings, self.registry, self.repository,
                                  self.metrics.observer("fhir")),
            "/health": self._health,
            "/metrics": self._metrics,
            "/": self._index,
        }

    def close(self) -> None:
        """Write the queued read audits, then give the database connections back."""
        self.registry.queries.audit_writer.close()
        self.repository.audit_writer.close()
        if self.atna is not None:
            self.atna.close()
        self.database.dispose()

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/").rstrip("/") or "/"
        route = self.routes.get(path)
        if route is None and path.startswith(FHIR_PATH + "/"):
            route = self.routes[FHIR_PATH]
        if route is None:
            return _text(start_response, 404, f"no such path {path}; see / for the endpoints\n",
                         request_id_of(environ))
        return route(environ, start_response)

    def _health(self, environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        status, body = health_report(self.database.check,
                                     both(self.document_store.check_writable,
                                          self.repository.room.health), self.settings.profile)
        start_response(status_line(status), [("Content-Type", "application/json"),
                                             ("Content-Length", str(len(body))),
                                             ("Cache-Control", "no-store")])
        return [body]

    def _metrics(self, environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        body = self.metrics.render()
        start_response("200 OK", [("Content-Type", METRICS_CONTENT_TYPE),
                                  ("Content-Length", str(len(body)))])
        return [body]

    def _index(self, environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        text = (f"xds-server {__version__} (profile {self.settings.profile})\n"
                f"  POST {REGISTRY_PATH}    SOAP 1.2 document registry   (GET ?wsdl)\n"
                f"  POST {REPOSITORY_PATH}  SOAP 1.2 document repository (GET ?wsdl)\n"
                f"  *    {FHIR_PATH}/…            MHD / PDSm, FHIR R4 (GET {FHIR_PATH}/metadata)\n"
                "  GET  /health           JSON health\n"
                "  GET  /metrics          Prometheus metrics\n")
        return _text(start_response, 200, text, request_id_of(environ))


def _text(start_response: StartResponse, status: int, text: str,
          request_id: str) -> list[bytes]:
    body = text.encode()
    start_response(status_line(status), [("Content-Type", "text/plain; charset=utf-8"),
                                         ("Content-Length", str(len(body))),
                                         ("X-Request-Id", request_id)])
    return [body]


def _sha1(content: Attachment) -> str:
    digest = hashlib.sha1()
    for block in content.iter_chunks():
        digest.update(block)
    return digest.hexdigest()


def create_app(settings: Settings | None = None) -> XdsApplication:
    return XdsApplication(settings or load_settings())


def _institutions_of(record) -> list[str]:
    """The authorInstitution values of a registered document (its stored ebRIM form)."""
    entry = model_object(record)
    return [x for author in getattr(entry, "authors", []) for x in author.institutions]


class Hl7Application:
    """The actors behind the HL7 v2 front, built once per listener process. The registry and
    the repository are the server's, without the signed-submission-set checks: an HL7 v2
    message carries no XAdES signature (the CI-SIS volet has none); its sender is proven by
    its connection, as the operator's sender table (XDS_MLLP_SENDERS) binds it."""

    def __init__(self, settings: Settings) -> None:
        configure_limits(XmlLimits(settings.max_xml_markup, settings.max_xml_attributes))
        # a sender waits for its ACK some tens of seconds: a record held by another writer is
        # AR 207 "send again" after XDS_MLLP_LOCK_WAIT, not after the 30 s of each wait
        self.database = Database.from_url(settings.database_url,
                                          lock_wait=settings.mllp_lock_wait)
        stored = stored_form()
        # the sets this front makes are signed with the fronts' seal when there is one, and
        # then verified like any other (an HL7 v2 source cannot sign: docs/hl7v2.md)
        signer = source_signer(settings)
        signed, signed_metadata = signature_checks(settings) if signer else (None, None)
        documents = FilesystemDocumentStore(settings.blob_dir)
        documents.ensure()
        self.registry = Registry(self.database, stored, settings.max_leaf_class_results,
                                 profile_for(settings.profile, settings.kit_dir,
                                             settings.accept_test_ins),
                                 settings.disclose_masked_count,
                                 submission_check=signed_metadata,
                                 repositories=repository_rules(settings, signed, documents))
        link = registry_link(settings, self.registry, self.database)
        self.repository = Repository(self.database, documents, settings.repository_unique_id,
                                     link, settings.max_document_bytes, content_check(settings),
                                     link if settings.registry_url else self.registry,
                                     submission_check=signed, source_signer=signer,
                                     room=StorageRoom(settings.data_dir, settings.min_free_bytes))
        kit = settings.kit_dir if settings.kit_dir.is_dir() else None
        self.service = Hl7Service(
            PatientFeed(IdentityFeed(self.database, stored.with_patient),
                        settings.accept_test_ins),
            DocumentFeed(self.repository, self.registry, load_value_sets(kit),
                         settings.accept_test_ins, settings.repository_unique_id,
                         _institutions_of),
            MessageLog(self.database), SenderTable.load(settings.mllp_senders))

    def close(self) -> None:
        self.registry.queries.audit_writer.close()
        self.repository.audit_writer.close()
        self.database.dispose()
