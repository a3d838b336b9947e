"""`xds-server conformance run`: NIST XDS Toolkit tests, as shipped, against any XDS.b endpoint.

Exit status: 0 every step ran and passed (steps not run are listed), 1 a step failed or could
not be judged, 2 the run could not be made (an endpoint down, no test found).
"""

from __future__ import annotations

import shlex
from pathlib import Path

import click

from .cli_errors import Unusable, writable_file
from .cli_seconds import SECONDS
from .cli_settings import command_settings as _settings


def _writable_path(ctx: click.Context, param: click.Parameter, value: str | None) -> Path | None:
    """A report file checked before the run, not after it."""
    return None if value is None else Path(writable_file(ctx, param, value))


@click.group()
def conformance() -> None:
    """Conformance tests (the NIST XDS Toolkit's) against any XDS.b registry and repository."""


@conformance.command("run")
@click.option("--nist-testkit", "testkit", multiple=True, required=True,
              type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="toolkit test directory, or a directory holding tests (repeatable; "
                   "also as extra arguments)")
@click.argument("more", nargs=-1, type=click.Path(exists=True, file_okay=False,
                                                  path_type=Path))
@click.option("--registry", "registry_url", required=True, help="registry endpoint URL")
@click.option("--repository", "repository_url",
              help="repository endpoint URL (ITI-41, ITI-43 and ITI-86 steps need it)")
@click.option("--patient-feed", "patient_feed", default="none", show_default=True,
              help="how test patients become known to the registry: 'none', 'cli' (this "
                   "server's database, as `xds-server patient add`), or a command where "
                   "{patient} is replaced")
@click.option("--patient-authority", default="1.3.6.1.4.1.21367.13.20.1000", show_default=True,
              callback=lambda c, p, v: _check_oid(c, p, v),
              help="assigning authority OID of the test patients")
@click.option("--junit", "junit_path", callback=_writable_path,
              help="write a JUnit XML report")
@click.option("--json", "json_path", callback=_writable_path, help="write a JSON report")
@click.option("--keep", is_flag=True, help="leave what the run registered (no cleanup)")
@click.option("--timeout", default=60.0, show_default=True, type=SECONDS,
              help="seconds without a byte from the server before giving up (a request ends "
                   "within 10 times it)")
@click.option("--data-dir", type=click.Path(file_okay=False),
              help="with --patient-feed cli: the server's data directory (XDS_DATA_DIR)")
@click.option("--verbose", is_flag=True, help="show the detail of passing steps too")
@click.option("--param", "params", multiple=True, metavar="'$NAME$=VALUE'",
              help="a toolkit test parameter (typed in the toolkit's UI), e.g. "
                   "'$repuid$=1.2.3' (repeatable); a message still holding a $NAME$ no step "
                   "filled is not run")
@click.pass_context
def run(ctx: click.Context, testkit: tuple[Path, ...], more: tuple[Path, ...],
        registry_url: str, repository_url: str | None, patient_feed: str,
        patient_authority: str, junit_path: Path | None, json_path: Path | None, keep: bool,
        timeout: float, data_dir: str | None, verbose: bool, params: tuple[str, ...]) -> None:
    """Run toolkit test directories (testplan.xml, index.idx, templates) as they are."""
    from .cli_client import check_url
    from .cli_progress import progress
    from .conformance import report
    from .conformance.cleanup import snapshot
    from .conformance.exchange import Endpoints
    from .conformance.patients import Patients, command_feed
    from .conformance.preflight import preflight
    from .conformance.runner import Runner, reachable
    from .conformance.testkit import discover

    check_url(registry_url, "--registry")
    if repository_url is not None:
        check_url(repository_url, "--repository")
    kit, asked = discover([*testkit, *more])
    if not asked:
        raise Unusable("no toolkit test (index.idx or testplan.xml) under "
                                   + ", ".join(map(str, (*testkit, *more))))
    test_parameters = _test_parameters(params)
    for url in filter(None, (registry_url, repository_url)):
        problem = reachable(url)
        if problem:
            click.echo(f"conformance: {problem}; nothing was run", err=True)
            ctx.exit(2)
    try:
        endpoints = Endpoints(registry_url, repository_url, timeout)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    feed = forget = None
    if patient_feed == "cli":
        records = _database_records(ctx, data_dir)
        feed, forget = records.open, records.forget
    elif patient_feed != "none":
        feed = command_feed(patient_feed)
    patients = Patients(feed, patient_authority, forget)
    checked = preflight(endpoints, patients)
    runner = Runner(kit, endpoints, patients, test_parameters)
    if checked.stop:
        if checked.unreachable:     # its probe may be registered: the way to remove it
            forgot = patients.forget_fed()
            if forgot:
                click.echo(f"conformance: {forgot}", err=True)
            click.echo("conformance: if the probe was registered all the same: "
                       + clean_command(registry_url, repository_url, patients.allocated,
                                       patient_feed == "cli", data_dir), err=True)
        else:
            _finish(endpoints, patients, set(), keep)
        runner.outcome.aborted = f"{checked.stop}; nothing was run"
        _write_reports(runner.outcome, junit_path, json_path)   # a CI reads why, not nothing
        click.echo(f"conformance: {checked.stop}; nothing was run", err=True)
        ctx.exit(2)
    if checked.note:
        runner.outcome.notes.append(checked.note)
    given = {} if keep else snapshot(endpoints, _given_patients(test_parameters))
    try:
        with progress(None, "conformance", "step") as bar:
            runner.on_row = lambda row: bar.advance()
            outcome = runner.run(asked)
    except KeyboardInterrupt:   # what the run left, and the way to remove it (outsider 18f F9)
        if patients.allocated:
            click.echo(f"conformance: interrupted; the test patients "
                       f"{', '.join(sorted(patients.allocated))} and what the run registered "
                       "for them are left on the server; to remove them: "
                       + clean_command(registry_url, repository_url, patients.allocated,
                                       patient_feed == "cli", data_dir), err=True)
        raise
    command = clean_command(registry_url, repository_url, patients.allocated,
                            patient_feed == "cli", data_dir)
    if not keep and not outcome.aborted:
        finished = _finish(endpoints, patients, runner.provided, keep, given)
        outcome.notes += finished
        if any("refused" in note or "kept" in note for note in finished):
            outcome.notes.append(f"to remove what is left once the server takes it: {command}")
    elif patients.allocated:    # kept, or the server went away: what is left, and how to go
        why = "kept (--keep)" if keep else \
            "left on the server (it stopped answering before the run's clean-up)"
        outcome.notes.append(
            f"{why}: the test patients {', '.join(sorted(patients.allocated))} and what the "
            f"run registered for them; to remove them (once the server answers): {command}")
    click.echo(report.table(outcome, verbose))
    _write_reports(outcome, junit_path, json_path)
    if outcome.aborted:
        click.echo(f"conformance: {outcome.aborted}; run stopped", err=True)
        ctx.exit(2)
    if any(row.verdict in ("failed", "error") for row in report.decisive(outcome.rows)):
        ctx.exit(1)


def _write_reports(outcome, junit_path: Path | None, json_path: Path | None) -> None:
    from .conformance import report

    if junit_path:
        report.junit(outcome, junit_path)
    if json_path:
        report.write_json(outcome, json_path)


def _given_patients(params: dict[str, str]) -> list[str]:
    """The --param values that are patient ids (CX with an ISO assigning authority), whatever
    the placeholder's name: the toolkit's tests name them $patientid$, $patient_id2$, …"""
    return sorted({value for value in params.values() if "^^^&" in value and "&ISO" in value})


def _test_parameters(given: tuple[str, ...]) -> dict[str, str]:
    """'$NAME$=VALUE' pairs; the name is the toolkit's placeholder, dollars included."""
    from .conformance.linkage import PLACEHOLDER

    params = {}
    for item in given:
        name, sep, value = item.partition("=")
        if not sep or not PLACEHOLDER.fullmatch(name):
            raise click.BadParameter(f"{item!r}: expected '$NAME$=VALUE'", param_hint="--param")
        params[name] = value
    return params


def _finish(endpoints, patients, provided: set[str], keep: bool,
            given: dict[str, set[str]] | None = None) -> list[str]:
    """Remove what the run registered (`given`: what the patients of --param held before),
    then the records of the patients it fed."""
    from .conformance.cleanup import clean

    if keep:
        return []
    return [line for line in (clean(endpoints, patients.allocated, provided, given),
                              patients.forget_fed()) if line]


def _database_records(ctx: click.Context, data_dir: str | None):
    """The records actor on this server's database: the feed opens a record the way
    `xds-server patient add` does, and forgets it once the run's data is removed."""
    from .records.actor import Records
    from .store.database import Database

    settings = _settings(ctx, data_dir=data_dir)
    return Records(Database.from_url(settings.database_url))


def clean_command(registry_url: str, repository_url: str | None, patients: list[str],
                  forget: bool, data_dir: str | None) -> str:
    """The shell command line that removes these test patients' data: each value quoted for a
    POSIX shell (a patient id holds ^ and &)."""
    words = ["xds-server", "conformance", "clean", "--registry", registry_url]
    if repository_url:
        words += ["--repository", repository_url]
    for patient in sorted(patients):
        words += ["--patient", patient]
    if forget:
        words.append("--forget")
        if data_dir:
            words += ["--data-dir", data_dir]
    return " ".join(shlex.quote(word) for word in words)


def _check_oid(ctx: click.Context, param: click.Parameter, value: str) -> str:
    from .cli_options import check_oid

    return check_oid(ctx, param, value) or value
