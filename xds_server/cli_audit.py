"""`xds-server audit`: the access history of a record, and the audit trail exported as IHE ATNA
audit messages (RFC 3881 or DICOM) for a period."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from .cli_settings import command_settings as _settings


def _moment(text: str | None) -> dt.datetime | None:
    if text is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(f"'{text}' is not a date (YYYY-MM-DD[THH:MM])") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _rows(ctx: click.Context, data_dir: str | None, patient: str | None,
          since: str | None, until: str | None):
    from .store import access_store
    from .store.database import make_engine
    from .store.registry_store import patient_key

    settings = _settings(ctx, data_dir=data_dir)
    engine = make_engine(settings.database_url)
    try:
        with engine.connect() as connection:
            return settings, access_store.audit_trail(
                connection, patient_key(patient) if patient else None, _moment(since),
                _moment(until))
    finally:
        engine.dispose()


@click.group()
def audit() -> None:
    """The audit trail: who read or changed which record, when, and with what outcome."""


@audit.command("show")
@click.option("--patient", required=True, help="the patient's id, 'ID^^^&OID&ISO'")
@click.option("--since", help="from this date (UTC, ISO 8601)")
@click.option("--data-dir", type=click.Path(file_okay=False), help="data directory (XDS_DATA_DIR)")
@click.pass_context
def audit_show(ctx: click.Context, patient: str, since: str | None,
               data_dir: str | None) -> None:
    """A patient's access history, oldest first."""
    _, rows = _rows(ctx, data_dir, patient, since, None)
    for row in rows:
        click.echo(f"{row.at:%Y-%m-%d %H:%M:%S}  {row.transaction:6} {row.action} "
                   f"{row.outcome:7}  {row.subject_id} ({row.role}, {row.structure_id or '-'}, "
                   f"{row.purpose_of_use})  {row.documents or '-'}  request {row.request_id}")
    click.echo(f"{len(rows)} event(s)")


@audit.command("export")
@click.option("--since", help="from this date (UTC, ISO 8601)")
@click.option("--until", help="to this date, excluded")
@click.option("--format", "fmt", type=click.Choice(["rfc3881", "dicom"]), default="rfc3881",
              show_default=True)
@click.option("--out", type=click.Path(dir_okay=False), required=True)
@click.option("--data-dir", type=click.Path(file_okay=False), help="data directory (XDS_DATA_DIR)")
@click.pass_context
def audit_export(ctx: click.Context, since: str | None, until: str | None, fmt: str, out: str,
                 data_dir: str | None) -> None:
    """Write the period's audit messages to a file."""
    from .security.audit_export import export

    settings, rows = _rows(ctx, data_dir, None, since, until)
    Path(out).write_bytes(export(rows, settings.home_community_id, fmt))
    click.echo(f"{len(rows)} audit message(s) written to {out} ({fmt})")
