"""The `xds-server` command: a thin face over the library (serve, config, db, patient; the client
commands in cli_consumer.py and cli_update.py). Every failure is one line and an exit status
(cli_errors.py: 0 done, 1 refused or invalid, 2 usage or environment, 3 try again later)."""

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
from .cli_errors import GuardedGroup, Refused, Unusable
from .cli_seconds import SECONDS
from .cli_settings import command_settings as _settings
from .cli_settings import database_file, installed, require_installation
from .cli_streams import done
from .cli_text import printable
from .config import Settings, redact_url

if TYPE_CHECKING:
    from .records.actor import Records


@click.group(cls=GuardedGroup, epilog="Exit status: 0 done, 1 refused or invalid, 2 usage or "
             "environment (settings, network, files, database), 3 try again later (the "
             "server's storage full or busy), 130 interrupted. A failure is one line; "
             "XDS_DEBUG=1 shows the traceback.")
@click.version_option(__version__, prog_name="xds-server")
@click.option("--config", "config_file", type=click.Path(dir_okay=False),
              help="TOML settings file (default $XDS_CONFIG, else ./xds-server.toml if present)")
@click.pass_context
def main(ctx: click.Context, config_file: str | None) -> None:
    """IHE XDS.b document registry, repository and consumer for the DMP and the ANS CI-SIS."""
    ctx.ensure_object(dict)
    ctx.obj["config_file"] = config_file
    from .config import unknown_variables

    for line in unknown_variables(os.environ):     # a typo kept the default silently
        click.echo(f"warning: {line}", err=True)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="address to listen on",
              callback=lambda c, p, v: _not_empty(c, p, v))
@click.option("--port", default=8080, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=2, show_default=True, type=click.IntRange(min=1),
              help="worker processes")
@click.option("--data-dir", type=click.Path(file_okay=False), help="data directory (XDS_DATA_DIR)")
@click.option("--certfile", type=click.Path(dir_okay=False),
              help="PEM certificate (chain) of the server: serve HTTPS (XDS_CERTFILE)")
@click.option("--keyfile", type=click.Path(dir_okay=False), help="its private key (XDS_KEYFILE)")
@click.option("--ca-certs", type=click.Path(dir_okay=False),
              help="PEM authorities of accepted client certificates (XDS_CA_CERTS)")
@click.option("--client-cert", type=click.Choice(["required", "optional", "none"]),
              help="ask clients for a certificate: required = mutual TLS (XDS_CLIENT_CERT)")
@click.option("--mllp-port", type=click.IntRange(1, 65535),
              help="also serve HL7 v2 over MLLP on this port (XDS_MLLP_PORT; off by default)")
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, workers: int, data_dir: str | None,
          certfile: str | None, keyfile: str | None, ca_certs: str | None,
          client_cert: str | None, mllp_port: int | None) -> None:
    """Start the SOAP endpoints, /health and /metrics under gunicorn (HTTP or HTTPS), and the
    MLLP listener when a port is given."""
    settings = _settings(ctx, data_dir=data_dir, certfile=certfile, keyfile=keyfile,
                         ca_certs=ca_certs, client_cert=client_cert, mllp_port=mllp_port)
    _check_trust(settings)          # a setting that cannot work is said before anything is made
    if settings.certfile:
        from .config import ConfigError
        from .serving.tls import server_context

        try:   # a bad certificate is said here, before any worker starts
            server_context(settings.certfile, settings.keyfile, settings.ca_certs,
                           settings.client_cert)
        except ConfigError as exc:
            raise Unusable(f"TLS: {exc}") from None
    elif settings.client_cert != "none":
        raise click.UsageError("--client-cert (XDS_CLIENT_CERT) needs HTTPS: give --certfile "
                               "and --keyfile")
    if settings.mllp_port == port:  # gunicorn logged 10 ERROR lines and exited 1 (m12)
        raise click.UsageError(f"--mllp-port {port} is --port too: give the MLLP listener "
                               "another port")
    _check_port_free(host, port)
    if settings.mllp_port:          # said before anything is made, as the HTTP port
        from .cli_hl7 import check_port

        check_port(settings, "--mllp-port")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    _check_room(settings)
    _upgrade_database(settings)  # once, in the master, before workers start
    _prepare_multiprocess_metrics(settings.data_dir / "run" / "metrics")
    _recover_repository(settings)
    from .server import run_gunicorn  # after the metrics directory is in the environment

    listeners = []
    if settings.mllp_port:
        from .cli_hl7 import check_tls, start_listener_processes

        check_tls(settings)
        listeners = start_listener_processes(settings)
    from .serving.leaving import leave
    from .store.database import wal_files_held

    master, stopped = os.getpid(), False
    try:
        with wal_files_held(settings.database_url):     # reads go on when the disk fills
            run_gunicorn(settings, host, port, workers)
    except SystemExit as stop:     # gunicorn's master, stopped; a worker leaving, too
        if os.getpid() != master or stop.code not in (0, None):
            raise
        stopped = True
    finally:
        if listeners:
            from .cli_hl7 import stop_listener_processes

            stop_listener_processes(listeners)
    if stopped:
        leave(0)        # without the interpreter's teardown: seconds of a stop (R15)


def _not_empty(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """`--host ''` listened on every interface, not on none."""
    from .cli_options import not_empty

    return not_empty(ctx, param, value) or value


def _check_room(settings: Settings) -> None:
    """A data directory without room is said at start: on a full disk the database cannot
    migrate and the metrics' memory maps die of SIGBUS (tmpfs), before any log line."""
    import shutil

    free = shutil.disk_usage(settings.data_dir).free
    if free < settings.min_free_bytes:
        raise Unusable(f"the data directory {settings.data_dir} has {free} bytes free, less "
                       f"than XDS_MIN_FREE_BYTES ({settings.min_free_bytes}): free space there "
                       "(or lower the setting) before starting")


def _check_trust(settings: Settings) -> None:
    """The authorities the application will need (ConfigError), loaded once here: imported
    without the application, which would import prometheus_client too early."""
    from .config import ConfigError
    from .config_signature import refusals
    from .dsig.check import signature_checks
    from .dsig.on_behalf import source_signer
    from .security.authentication import verifier_for

    problems = []          # all said at once: the cisis profile needs the first two
    for check in (verifier_for, signature_checks, source_signer):
        try:
            check(settings)
        except ConfigError as exc:
            problems.append(str(exc))
    problems += refusals(settings)
    if problems:
        raise ConfigError("; ".join(problems))


def _check_port_free(host: str, port: int) -> None:
    """Said at once, not after gunicorn's five retries."""
    from .serving.ports import listen_problem

    problem = listen_problem(host, port)
    if problem:
        raise Unusable(f"{problem} (another server there? give --port, or --host)")


def _prepare_multiprocess_metrics(directory: Path) -> None:
    """prometheus-client reads PROMETHEUS_MULTIPROC_DIR at import: set it, empty, before that."""
    if "prometheus_client" in sys.modules:
        raise Unusable("internal: prometheus_client imported before serve set it up")
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)


def _upgrade_database(settings: Settings) -> None:
    """The schema brought to the current one, and the installation's identity kept (once)."""
    from .config_identity import IDENTITY, keep_identity

    keep_identity(settings.data_dir, {name: getattr(settings, name) for name in IDENTITY})
    _migrate(settings)


def _migrate(settings: Settings) -> None:
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
    done(f"database at current schema: {redact_url(settings.database_url)}")


@db.command("fill-forms")
@click.option("--data-dir", type=click.Path(file_okay=False))
@click.option("--seconds", type=SECONDS, default=None,
              help="stop after this long, at a batch's end (run again to go on)")
@click.pass_context
def db_fill_forms(ctx: click.Context, data_dir: str | None, seconds: float | None) -> None:
    """Keep the FHIR DocumentReference of documents registered before it was kept (ITI-67
    then answers them without decoding their LeafClass; until then it decodes them, as
    before). Resumable; the server may run meanwhile."""
    from .app import stored_form
    from .store.database import Database
    from .store.form_fill import fill_document_forms

    settings = _settings(ctx, data_dir=data_dir)
    _upgrade_database(settings)
    database = Database.from_url(settings.database_url)
    try:
        state = fill_document_forms(
            database, stored_form().refilled, seconds=seconds,
            progress=lambda s: click.echo(f"{s.read} documents read, {s.written} filled",
                                          err=True) if s.read % 50_000 == 0 else None)
    finally:
        database.dispose()
    click.echo(f"{state.read} documents read, {state.written} filled"
               + ("" if state.done else " (stopped: run again to go on)"))


@main.group()
def patient() -> None:
    """The registry's known patients (the DMP's open records)."""


@contextlib.contextmanager
def _records(ctx: click.Context, data_dir: str | None, creates: bool = False
             ) -> Iterator[Records]:
    """The records actor on the configured database (brought to the current schema first).
    Only `creates` (patient add) makes a new installation, and only in a data directory named
    (--data-dir, XDS_DATA_DIR, the file): a command run from the wrong directory, or a read,
    opened an empty database of its own and answered from it."""
    from .records.actor import Records
    from .store.database import Database

    settings = _settings(ctx, data_dir=data_dir)
    if not installed(settings):
        # a server database is named by its URL; a SQLite one by its data directory
        named = settings.sources.get("data_dir", "default") != "default" \
            or database_file(settings) is None
        if not (creates and named):
            require_installation(settings)
        _upgrade_database(settings)         # the schema and the installation's identity
        click.echo(f"a new installation in {settings.data_dir.resolve()}", err=True)
    else:
        _migrate(settings)                  # a release upgrade: the schema only
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
    with _records(ctx, data_dir, creates=True) as records:
        for patient_id in patient_ids:
            new = records.open(patient_id)
            done(f"{'opened' if new else 'already open'}: {patient_key(patient_id)}")


@patient.command("close")
@click.argument("patient_id")
@click.option("--data-dir", type=click.Path(file_okay=False))
@click.pass_context
def patient_close(ctx: click.Context, patient_id: str, data_dir: str | None) -> None:
    """Close a patient's record: new submissions for it are refused (XDSUnknownPatientId)."""
    from .model.hl7 import patient_key
    from .records.actor import UnknownRecord

    _check_patient_id(patient_id)
    with _records(ctx, data_dir) as records:
        try:
            records.close(patient_id)
        except UnknownRecord:
            raise Refused(f"no open record for {patient_id}") from None
    done(f"closed: {patient_key(patient_id)}")


@patient.command("forget")
@click.argument("patient_id")
@click.option("--data-dir", type=click.Path(file_okay=False))
@click.pass_context
def patient_forget(ctx: click.Context, patient_id: str, data_dir: str | None) -> None:
    """Delete a record that holds no document (a test patient); its audit trail stays."""
    from .model.hl7 import patient_key
    from .records.actor import UnknownRecord

    _check_patient_id(patient_id)
    with _records(ctx, data_dir) as records:
        try:
            records.forget(patient_id)
        except UnknownRecord as exc:
            raise Refused(str(exc)) from None
    done(f"forgotten: {patient_key(patient_id)}")


@patient.command("list")
@click.option("--data-dir", type=click.Path(file_okay=False))
@click.pass_context
def patient_list(ctx: click.Context, data_dir: str | None) -> None:
    """Known patients with their record status."""
    with _records(ctx, data_dir) as records:
        for record in records.records():
            click.echo(printable(f"{record.status:<6}  {record.patient_id}"))


@main.command("config")
@click.option("--data-dir", type=click.Path(file_okay=False))
@click.pass_context
def show_config(ctx: click.Context, data_dir: str | None) -> None:
    """Print the effective settings, where each comes from, and its environment variable."""
    rows = _settings(ctx, data_dir=data_dir).as_rows()
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for name, value, source, env in rows:
        click.echo(f"{name:<{widths[0]}}  {value:<{widths[1]}}  {source:<{widths[2]}}  {env}")


def _register_commands() -> None:
    from .cli_audit import audit
    from .cli_backup import backup, restore
    from .cli_cda import kit, validate
    from .cli_codes import codes
    from .cli_conformance import conformance
    from .cli_conformance_clean import clean as _conformance_clean  # noqa: F401 (registers)
    from .cli_consumer import query, retrieve, submit
    from .cli_update import remove, update

    for command in (submit, query, retrieve, update, remove, validate, kit, audit,
                    conformance, backup, restore, codes):
        main.add_command(command)


_register_commands()


def _register_hl7_commands() -> None:
    from .cli_hl7 import hl7, mllp

    main.add_command(mllp)
    main.add_command(hl7)


_register_hl7_commands()


def _guard_text() -> None:
    from .cli_text import guard_text

    guard_text(main)


_guard_text()


if __name__ == "__main__":  # pragma: no cover
    main()
