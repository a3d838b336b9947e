"""`xds-server audit`: the access history of a record, and the audit trail exported as IHE ATNA
audit messages (RFC 3881 or DICOM) for a period."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from .cli_errors import writable_file, write_whole
from .cli_settings import command_settings as _settings
from .cli_text import printable


def _moment(text: str | None) -> dt.datetime | None:
    if text is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(f"'{text}' is not a date (YYYY-MM-DD[THH:MM])") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _events(ctx: click.Context, data_dir: str | None, patient: str | None,
            since: str | None, until: str | None):
    from .cli_settings import require_installation
    from .model.hl7 import patient_key
    from .store import audit_store
    from .store.database import Database, make_engine
    from .store.schema import migrate

    settings = _settings(ctx, data_dir=data_dir)
    moments = _moment(since), _moment(until)        # the arguments said first
    require_installation(settings)      # a read never makes a data directory of its own
    engine = make_engine(settings.database_url)
    try:       # a release upgrade: the schema only
        migrate(engine)
    finally:
        engine.dispose()
    database = Database.from_url(settings.database_url)
    try:
        with database.reading() as uow:
            return settings, audit_store.trail(uow, patient_key(patient) if patient else None,
                                               *moments)
    finally:
        database.dispose()


@click.group()
def audit() -> None:
    """The audit trail: who read or changed which record, when, and with what outcome."""


@audit.command("show")
@click.option("--patient", required=True, callback=lambda c, p, v: _check_patient(c, p, v),
              help="the patient's id, 'ID^^^&OID&ISO'")
@click.option("--since", help="from this date (UTC, ISO 8601)")
@click.option("--data-dir", type=click.Path(file_okay=False), help="data directory (XDS_DATA_DIR)")
@click.pass_context
def audit_show(ctx: click.Context, patient: str, since: str | None,
               data_dir: str | None) -> None:
    """A patient's access history, oldest first."""
    _, events = _events(ctx, data_dir, patient, since, None)
    for event in events:
        who = f"{event.subject_id} ({event.role}, {event.structure_id or '-'}, " \
              f"{event.purpose_of_use})"
        click.echo(printable(f"{event.at:%Y-%m-%d %H:%M:%S}  {event.transaction:6} "
                             f"{event.action} {event.outcome:7}  {who}  "
                             f"{event.documents or '-'}  request {event.request_id}"))
    click.echo(f"{len(events)} event(s)")


@audit.command("export")
@click.option("--since", help="from this date (UTC, ISO 8601)")
@click.option("--until", help="to this date, excluded")
@click.option("--format", "fmt", type=click.Choice(["rfc3881", "dicom"]), default="rfc3881",
              show_default=True)
@click.option("--out", required=True, callback=writable_file, help="file to write")
@click.option("--data-dir", type=click.Path(file_okay=False), help="data directory (XDS_DATA_DIR)")
@click.pass_context
def audit_export(ctx: click.Context, since: str | None, until: str | None, fmt: str, out: str,
                 data_dir: str | None) -> None:
    """Write the period's audit messages to a file."""
    from .security.audit_export import export

    settings, events = _events(ctx, data_dir, None, since, until)
    # whole or not at all, the file named when it cannot be written (a full disk left a
    # 0-byte file and said only 'No space left on device')
    write_whole(Path(out), export(events, settings.home_community_id, fmt))
    click.echo(f"{len(events)} audit message(s) written to {out} ({fmt})")


def _check_patient(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """A CX patient id: an empty or malformed one listed no event and said nothing."""
    from .cli_options import check_patient

    return check_patient(ctx, param, value) or value
