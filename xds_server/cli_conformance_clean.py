"""`xds-server conformance clean`: remove what a conformance run left on a server, the command
a run prints, exact and ready to paste, when it could not clean up itself (the server stopped
answering, the cleanup was refused, or `--keep`) (issue 18 R16: the instructions it printed
were placeholders, `xds-server remove UNIQUE_ID…`, that no shell runs as written).

It does what the run's own cleanup does (conformance/cleanup.py): every registry object of
each test patient in one Delete Document Set (ITI-62), then their documents from the
repository (ITI-86), then, with --forget, the records `--patient-feed cli` opened in this
installation's database (`xds-server patient forget`).
"""

from __future__ import annotations

import click

from .cli_conformance import _database_records, conformance
from .cli_errors import Unusable
from .cli_seconds import SECONDS
from .cli_settings import command_settings as _settings
from .cli_settings import require_installation


@conformance.command("clean")
@click.option("--registry", "registry_url", required=True, help="registry endpoint URL")
@click.option("--repository", "repository_url", help="repository endpoint URL (ITI-86)")
@click.option("--patient", "patients", multiple=True, required=True,
              help="a test patient whose data the run left (repeatable)")
@click.option("--forget", is_flag=True,
              help="also delete their records from this installation's database (what "
                   "--patient-feed cli opened)")
@click.option("--timeout", default=60.0, show_default=True, type=SECONDS,
              help="seconds without a byte from the server before giving up")
@click.option("--data-dir", type=click.Path(file_okay=False),
              help="with --forget: the server's data directory (XDS_DATA_DIR)")
@click.pass_context
def clean(ctx: click.Context, registry_url: str, repository_url: str | None,
          patients: tuple[str, ...], forget: bool, timeout: float,
          data_dir: str | None) -> None:
    """Remove what a conformance run left for its test patients (exit 1 when some of it
    could not be removed: the line says what)."""
    from .cli_client import check_url
    from .cli_options import check_patient
    from .conformance.cleanup import clean as remove
    from .conformance.exchange import Endpoints
    from .conformance.patients import TEST_PATIENT_PREFIX, forgotten, is_test_patient
    from .conformance.runner import reachable

    _settings(ctx, data_dir=data_dir)     # a setting that cannot be used is said first
    check_url(registry_url, "--registry")
    if repository_url is not None:
        check_url(repository_url, "--repository")
    for patient in patients:
        check_patient(ctx, None, patient)
        # a typo or a copied id must not wipe a real record: removing every document of a
        # patient is what this command does, so only the ids a run allocates are taken
        if not is_test_patient(patient):
            raise click.UsageError(
                f"--patient {patient}: not a patient a conformance run allocates "
                f"({TEST_PATIENT_PREFIX}…); `conformance clean` removes test patients only "
                "(a real record's documents: `xds-server remove`)")
    if forget:
        require_installation(_settings(ctx, data_dir=data_dir))  # creates no database
    for url in filter(None, (registry_url, repository_url)):
        problem = reachable(url)
        if problem:
            raise Unusable(f"{problem}; nothing was removed")
    endpoints = Endpoints(registry_url, repository_url, timeout)
    line = remove(endpoints, sorted(set(patients)), None)
    click.echo(line)
    failed = "refused" in line
    if forget:
        records = _database_records(ctx, data_dir)     # the records the feed opened
        line = forgotten(records.forget, sorted(p for p in set(patients)
                                                if records.record(p) is not None))
        click.echo(line)
        failed = failed or "kept" in line
    if failed:
        ctx.exit(1)
