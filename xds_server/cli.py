"""The `xds-server` command: a thin face over the library (serve, config; more with each actor)."""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import click

from . import __version__
from .cli_client import Connection, client_options, sign_submission_set, signing_options
from .cli_settings import command_settings as _settings
from .config import Settings, redact_url

if TYPE_CHECKING:
    from .records.actor import Records


@click.group()
@click.version_option(__version__, prog_name="xds-server")
@click.option("--config", "config_file", type=click.Path(dir_okay=False),
              help="TOML settings file (default $XDS_CONFIG, else ./xds-server.toml if present)")
@click.pass_context
def main(ctx: click.Context, config_file: str | None) -> None:
    """IHE XDS.b document registry, repository and consumer for the DMP and the ANS CI-SIS."""
    ctx.ensure_object(dict)
    ctx.obj["config_file"] = config_file


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="address to listen on")
@click.option("--port", default=8080, show_default=True, type=int)
@click.option("--workers", default=2, show_default=True, type=int, help="worker processes")
@click.option("--data-dir", type=click.Path(file_okay=False), help="data directory (XDS_DATA_DIR)")
@click.option("--certfile", type=click.Path(dir_okay=False),
              help="PEM certificate (chain) of the server: serve HTTPS (XDS_CERTFILE)")
@click.option("--keyfile", type=click.Path(dir_okay=False), help="its private key (XDS_KEYFILE)")
@click.option("--ca-certs", type=click.Path(dir_okay=False),
              help="PEM authorities of accepted client certificates (XDS_CA_CERTS)")
@click.option("--client-cert", type=click.Choice(["required", "optional", "none"]),
              help="ask clients for a certificate: required = mutual TLS (XDS_CLIENT_CERT)")
@click.option("--mllp-port", type=int,
              help="also serve HL7 v2 over MLLP on this port (XDS_MLLP_PORT; off by default)")
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, workers: int, data_dir: str | None,
          certfile: str | None, keyfile: str | None, ca_certs: str | None,
          client_cert: str | None, mllp_port: int | None) -> None:
    """Start the SOAP endpoints, /health and /metrics under gunicorn (HTTP or HTTPS), and the
    MLLP listener when a port is given."""
    settings = _settings(ctx, data_dir=data_dir, certfile=certfile, keyfile=keyfile,
                         ca_certs=ca_certs, client_cert=client_cert, mllp_port=mllp_port)
    if settings.certfile:
        from .config import ConfigError
        from .serving.tls import server_context

        try:   # a bad certificate is said here, before any worker starts
            server_context(settings.certfile, settings.keyfile, settings.ca_certs,
                           settings.client_cert)
        except ConfigError as exc:
            raise click.ClickException(str(exc)) from None
    elif settings.client_cert != "none":
        raise click.ClickException("client_cert needs HTTPS: give --certfile and --keyfile")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    _upgrade_database(settings)  # once, in the master, before workers start
    _prepare_multiprocess_metrics(settings.data_dir / "run" / "metrics")
    _recover_repository(settings)
    from .server import run_gunicorn  # after the metrics directory is in the environment

    listeners = []
    if settings.mllp_port:
        from .cli_hl7 import check_tls, start_listener_processes

        check_tls(settings)
        listeners = start_listener_processes(settings)
    try:
        run_gunicorn(settings, host, port, workers)
    finally:
        if listeners:
            from .cli_hl7 import stop_listener_processes

            stop_listener_processes(listeners)


def _prepare_multiprocess_metrics(directory: Path) -> None:
    """prometheus-client reads PROMETHEUS_MULTIPROC_DIR at import: set it, empty, before that."""
    if "prometheus_client" in sys.modules:
        raise click.ClickException("internal: prometheus_client imported before serve set it up")
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)


def _upgrade_database(settings: Settings) -> None:
    from .store.database import make_engine
    from .store.schema import migrate

    engine = make_engine(settings.database_url)
    try:
        migrate(engine)
    finally:
        engine.dispose()


def _recover_repository(settings: Settings) -> None:
    """Finish what a crash left half done, before any worker takes a request."""
    from .app import create_app

    app = create_app(settings)
    try:
        app.repository.recover()
    finally:
        app.close()


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.option("--data-dir", type=click.Path(file_okay=False))
@click.pass_context
def db_upgrade(ctx: click.Context, data_dir: str | None) -> None:
    """Create or migrate the registry tables to the current schema."""
    settings = _settings(ctx, data_dir=data_dir)
    _upgrade_database(settings)
    click.echo(f"database at current schema: {redact_url(settings.database_url)}")


@main.group()
def patient() -> None:
    """The registry's known patients (the DMP's open records)."""


@contextlib.contextmanager
def _records(ctx: click.Context, data_dir: str | None) -> Iterator[Records]:
    """The records actor on the configured database (brought to the current schema first)."""
    from .records.actor import Records
    from .store.database import Database

    settings = _settings(ctx, data_dir=data_dir)
    _upgrade_database(settings)
    database = Database.from_url(settings.database_url)
    try:
        yield Records(database)
    finally:
        database.dispose()


def _check_patient_id(patient_id: str) -> None:
    from .model.hl7 import Cx

    if Cx.parse(patient_id) is None:
        raise click.BadParameter(f"'{patient_id}' is not a CX identifier 'ID^^^&OID&ISO' "
                                 "(with an ISO assigning authority OID)", param_hint="PATIENT_ID")


@patient.command("add")
@click.argument("patient_ids", metavar="PATIENT_ID...", nargs=-1, required=True)
@click.option("--data-dir", type=click.Path(file_okay=False))
@click.pass_context
def patient_add(ctx: click.Context, patient_ids: tuple[str, ...], data_dir: str | None) -> None:
    """Open the record of one or more patients, e.g. 'ID^^^&1.2.250.1.213.1.4.10&ISO'."""
    from .model.hl7 import patient_key

    for patient_id in patient_ids:
        _check_patient_id(patient_id)
    with _records(ctx, data_dir) as records:
        for patient_id in patient_ids:
            new = records.open(patient_id)
            click.echo(f"{'opened' if new else 'already open'}: {patient_key(patient_id)}")


@patient.command("close")
@click.argument("patient_id")
@click.option("--data-dir", type=click.Path(file_okay=False))
@click.pass_context
def patient_close(ctx: click.Context, patient_id: str, data_dir: str | None) -> None:
    """Close a patient's record: new submissions for it are refused (XDSUnknownPatientId)."""
    from .model.hl7 import patient_key
    from .records.actor import UnknownRecord

    with _records(ctx, data_dir) as records:
        try:
            records.close(patient_id)
        except UnknownRecord:
            raise click.ClickException(f"no open record for {patient_id}") from None
    click.echo(f"closed: {patient_key(patient_id)}")


@patient.command("list")
@click.option("--data-dir", type=click.Path(file_okay=False))
@click.pass_context
def patient_list(ctx: click.Context, data_dir: str | None) -> None:
    """Known patients with their record status."""
    with _records(ctx, data_dir) as records:
        for record in records.records():
            click.echo(f"{record.status:<6}  {record.patient_id}")


DEFAULT_REGISTRY = "http://127.0.0.1:8080/xds/registry"
DEFAULT_REPOSITORY = "http://127.0.0.1:8080/xds/repository"


def _code_option(value: str | None):
    from .consumer.sources import parse_code

    if value is None:
        return None
    try:
        return parse_code(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--patient", required=True, help="patient id, 'ID^^^&OID&ISO'")
@click.option("--repository", "repository_url", default=DEFAULT_REPOSITORY, show_default=True)
@click.option("--class", "class_code", help="classCode as code^^scheme[^^display]")
@click.option("--type", "type_code", help="typeCode (default: the CDA's code)")
@click.option("--format", "format_code", help="formatCode")
@click.option("--title", help="title (default: the CDA's title, else the file name)")
@click.option("--author", help="author person (XCN)")
@click.option("--inline", is_flag=True, help="send base64 inline instead of MTOM")
@click.option("--registry", "registry_url", default=DEFAULT_REGISTRY, show_default=True,
              help="asked for the entryUUID of a document a CDA replaces (relatedDocument RPLC)")
@signing_options
@client_options
def submit(files: tuple[str, ...], patient: str, repository_url: str, class_code: str | None,
           type_code: str | None, format_code: str | None, title: str | None,
           author: str | None, inline: bool, registry_url: str, sign_key: str | None,
           sign_cert: str | None, sign_digest: str, connection: Connection) -> None:
    """Provide and register documents (ITI-41); metadata from the CDA header when there is one,
    and an RPLC association when the CDA replaces a registered document."""
    from pathlib import Path

    from .consumer.documents import PROVIDE, provide_request
    from .consumer.sources import SourceOptions, submission_for_files
    from .consumer.transport import TransportError
    from .model.content import Attachment

    options = SourceOptions(title=title, author=author, type_code=_code_option(type_code),
                            format_code=_code_option(format_code))
    if class_code:
        options.class_code = _code_option(class_code)
    submission, paths = submission_for_files(
        [Path(f) for f in files], patient, options,
        _replaced_entries(files, connection.client(registry_url, patient)))
    documents = {doc_id: Attachment.from_file(path, next(
        d.mime_type for d in submission.documents if d.entry_uuid == doc_id))
        for doc_id, path in paths.items()}
    sign_submission_set(submission, documents, sign_key, sign_cert, sign_digest)
    payload, binaries = provide_request(submission, documents)
    try:
        reply = connection.client(repository_url, patient).call(PROVIDE, payload,
                                                                binaries=binaries,
                                                                mtom=not inline)
    except TransportError as exc:
        raise click.ClickException(str(exc)) from None
    _report_registry_reply(reply)
    for document in submission.documents:
        click.echo(f"{document.unique_id}  {document.title}  ({document.mime_type})")


def _replaced_entries(files: tuple[str, ...], registry) -> dict[str, str]:
    """uniqueId → entryUUID of every registered document the CDAs say they replace."""
    from pathlib import Path

    from .consumer.queries import registered_entry
    from .consumer.sources import replaced_unique_ids
    from .consumer.transport import TransportError

    wanted = {u for f in files for u in replaced_unique_ids(Path(f))}
    found = {}
    for unique_id in sorted(wanted):
        try:
            found[unique_id] = registered_entry(registry, unique_id).get("id")
        except (LookupError, TransportError) as exc:
            raise click.ClickException(f"the document replaces {unique_id}: {exc}") from None
    return found


def _report_registry_reply(reply) -> None:
    if reply.fault is not None:
        raise click.ClickException(f"SOAP fault {reply.fault.code} "
                                   f"{' '.join(reply.fault.subcodes)}: {reply.fault.reason} "
                                   f"(request id {reply.fault.request_id})")
    status = (reply.payload.get("status") or "").rsplit(":", 1)[-1]
    problems = [(e.get("errorCode"), e.get("codeContext"), e.get("severity") or "")
                for e in reply.payload.iter("{*}RegistryError")]
    for code, context, severity in problems:
        click.echo(f"{severity.rsplit(':', 1)[-1]}: {code}: {context}", err=True)
    if status != "Success":
        raise click.ClickException(f"{status} (request id {reply.headers.get('x-request-id')})")


@main.command()
@click.option("--patient", required=True, help="patient id, 'ID^^^&OID&ISO'")
@click.option("--registry", "registry_url", default=DEFAULT_REGISTRY, show_default=True)
@click.option("--status", "statuses", multiple=True, default=("Approved",), show_default=True,
              help="Approved, Deprecated, or a full status URN; repeat for several")
@click.option("--class", "class_codes", multiple=True, help="classCode code^^scheme (OR)")
@client_options
def query(patient: str, registry_url: str, statuses: tuple[str, ...],
          class_codes: tuple[str, ...], connection: Connection) -> None:
    """FindDocuments (ITI-18) for a patient, printed as a table."""
    from .consumer.queries import STORED_QUERY, find_documents_request
    from .consumer.sources import listing
    from .consumer.transport import TransportError

    request = find_documents_request(patient, list(statuses), list(class_codes))
    try:
        reply = connection.client(registry_url, patient).call(
            STORED_QUERY, request)
    except TransportError as exc:
        raise click.ClickException(str(exc)) from None
    _report_registry_reply(reply)
    rows = listing(list(reply.payload.iter("{*}ExtrinsicObject")))
    headers = ("title", "type", "date", "author", "uniqueId")
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
    click.echo("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
    for row in rows:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    click.echo(f"{len(rows)} document(s)")


@main.command()
@click.argument("unique_id")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False))
@click.option("--repository", "repository_url", default=DEFAULT_REPOSITORY, show_default=True)
@click.option("--registry", "registry_url", default=DEFAULT_REGISTRY, show_default=True,
              help="asked for the repositoryUniqueId when --repository-id is not given")
@click.option("--repository-id", help="repositoryUniqueId of the document")
@click.option("--patient", help="the document's patient: the resource-id of a VIHF signed here")
@client_options
def retrieve(unique_id: str, out_path: str, repository_url: str, registry_url: str,
             repository_id: str | None, patient: str | None, connection: Connection) -> None:
    """Retrieve one document (ITI-43) into a file."""
    from pathlib import Path

    from .consumer.documents import RETRIEVE, parse_retrieve, retrieve_request
    from .consumer.queries import repository_of
    from .consumer.transport import TransportError

    try:
        if repository_id is None:
            repository_id = repository_of(connection.client(registry_url, patient), unique_id)
        reply = connection.client(repository_url, patient).call(RETRIEVE, retrieve_request(
            [(repository_id, unique_id)]))
    except (TransportError, LookupError) as exc:
        raise click.ClickException(str(exc)) from None
    result = parse_retrieve(reply)
    if not result.documents:
        detail = "; ".join(f"{code}: {context}" for code, context in result.errors)
        raise click.ClickException(f"{result.status}: {detail}")
    Path(out_path).write_bytes(result.documents[0].data)
    click.echo(f"{out_path}: {len(result.documents[0].data)} bytes, "
               f"{result.documents[0].mime_type}")


@main.command("config")
@click.option("--data-dir", type=click.Path(file_okay=False))
@click.pass_context
def show_config(ctx: click.Context, data_dir: str | None) -> None:
    """Print the effective settings, where each comes from, and its environment variable."""
    rows = _settings(ctx, data_dir=data_dir).as_rows()
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for name, value, source, env in rows:
        click.echo(f"{name:<{widths[0]}}  {value:<{widths[1]}}  {source:<{widths[2]}}  {env}")


def _register_cda_commands() -> None:
    from .cli_audit import audit
    from .cli_cda import kit, validate
    from .cli_conformance import conformance

    main.add_command(validate)
    main.add_command(kit)
    main.add_command(audit)
    main.add_command(conformance)


_register_cda_commands()


def _register_hl7_commands() -> None:
    from .cli_hl7 import hl7, mllp

    main.add_command(mllp)
    main.add_command(hl7)


_register_hl7_commands()


if __name__ == "__main__":  # pragma: no cover
    main()
