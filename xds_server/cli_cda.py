"""`xds-server validate` and `xds-server kit install`: CDA validation from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import click

from .cli_errors import Unusable
from .cli_settings import command_settings as _settings
from .cli_streams import done


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="one JSON report for all files")
@click.option("--accept-test-ins", is_flag=True, default=None,
              help="accept the test/demo INS OIDs (default: XDS_ACCEPT_TEST_INS)")
@click.option("--schematron", is_flag=True,
              help="also run the installed kit's schematrons: minimal structure and the volet "
                   "the document's templateId names")
@click.option("--volet", metavar="NAME",
              help="with --schematron: the volet schematron to run, e.g. BIO-CR-BIO_2024.01 "
                   "(default: the newest version of the document's volet)")
@click.option("--data-dir", type=click.Path(file_okay=False),
              help="data directory whose installed ANS kit is used (XDS_DATA_DIR)")
@click.pass_context
def validate(ctx: click.Context, files: tuple[str, ...], as_json: bool,
             accept_test_ins: bool | None, schematron: bool, volet: str | None,
             data_dir: str | None) -> None:
    """Validate CDA documents: schema, CI-SIS header rules, and on request the ANS
    schematrons. Exit 0 when all are valid, 1 when one is invalid (a file that is not a CDA
    is), 2 when one could not be checked (unreadable, a schematron that fails to run)."""
    from .cda.findings import Finding, Kind, Report
    from .cda.header_rules import RuleContext
    from .cda.schema import schema_for
    from .cda.validator import CdaValidator

    settings = _settings(ctx, data_dir=data_dir, accept_test_ins=accept_test_ins)
    kit = settings.kit_dir if settings.kit_dir.is_dir() else None
    schematrons = None
    if schematron or volet:
        if kit is None:
            raise Unusable(
                f"--schematron needs the ANS kit in {settings.kit_dir}: run "
                "`xds-server kit install --from DIR` first")
        from .cda.schematron import KitSchematrons

        schematrons = KitSchematrons(kit, volet)
    validator = CdaValidator(schema_for(kit), RuleContext(settings.accept_test_ins), schematrons)
    signatures = _signature_verifier(settings)
    reports = []
    for name in files:
        path = Path(name)
        try:
            data = path.read_bytes()
        except OSError as exc:
            report = Report(name, [Finding(Kind.NOT_CHECKED, "file",
                                           f"cannot read: {exc.strerror}")])
        else:
            checked = validator.validate(data, name)
            report = checked.report
            if checked.root is not None:
                _report_signature(report, checked.root, signatures,
                                  settings.require_cda_signature)
        reports.append(report)
    if as_json:
        click.echo(json.dumps([r.as_dict() for r in reports], ensure_ascii=False, indent=1))
    else:
        for report in reports:
            verdict = {"valid": "valid", "invalid": "INVALID",
                       "not checked": "NOT CHECKED"}[report.verdict]
            checked = f" ({'; '.join(report.checked)})" if report.checked else ""
            click.echo(f"{report.source}: {verdict}{checked}")
            for finding in report.findings:
                click.echo(f"  {finding.text()}")
    # 2: a document could not be checked (unreadable, a schematron that fails to run);
    # 1: a document is invalid (a readable file that is not a CDA is one); 0: all valid
    if any(finding.kind is Kind.NOT_CHECKED for r in reports for finding in r.findings):
        ctx.exit(2)
    ctx.exit(0 if all(r.valid and r.fully_checked for r in reports) else 1)


def _signature_verifier(settings):
    """A CDA's own signature is verified against XDS_SIGNATURE_TRUSTED_CERTS when set (else
    only whether it is intact)."""
    from .config import ConfigError
    from .dsig.cda import CdaSignatureVerifier
    from .dsig.check import trust_store

    try:
        return CdaSignatureVerifier(trust_store(settings),
                                    accept_sha1=settings.signature_accept_sha1)
    except ConfigError as exc:
        if not settings.signature_trusted_certs:     # the ITI-41 requirement: not ours here
            return CdaSignatureVerifier(None, accept_sha1=settings.signature_accept_sha1)
        raise Unusable(str(exc)) from None


def _report_signature(report, root, verifier, required: bool) -> None:
    """The signature's verdict: in what was checked when valid; a finding when invalid (an
    error only when XDS_REQUIRE_CDA_SIGNATURE asks for one), or absent and required."""
    from .cda.findings import Finding, Kind

    result = verifier.check(root)
    if result.status == "valid":
        report.checked.append(result.describe())
        if not result.trusted and required:
            report.findings.append(Finding(Kind.SIGNATURE, "XDS_REQUIRE_CDA_SIGNATURE",
                                           result.describe()))
    elif result.status == "invalid" or required:
        report.findings.append(Finding(Kind.SIGNATURE, "XDS_REQUIRE_CDA_SIGNATURE"
                                       if required else "signature", result.describe(),
                                       is_error=required))


@click.group()
def kit() -> None:
    """The official ANS TestContenuCDA kit (schema, schematrons, value sets)."""


@kit.command("install")
@click.option("--from", "source", required=True, type=click.Path(file_okay=False, exists=True),
              help="an ANS TestContenuCDA tree (infrastructure/cda, schematrons, jeuxDeValeurs)")
@click.option("--data-dir", type=click.Path(file_okay=False), help="data directory (XDS_DATA_DIR)")
@click.pass_context
def kit_install(ctx: click.Context, source: str, data_dir: str | None) -> None:
    """Install the kit into DATA_DIR/kit; the server validates with it from its next start."""
    from .cda.kit import INSTALL_STEPS, KitError, install_kit
    from .cli_progress import progress

    settings = _settings(ctx, data_dir=data_dir)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        with progress(INSTALL_STEPS, "installing the kit", "step") as bar:
            summary = install_kit(Path(source), settings.kit_dir, lambda _: bar.advance())
    except KitError as exc:
        raise Unusable(str(exc)) from None
    done(f"installed {source} into {summary.target}: {summary.schematrons} schematron "
               f"files, {summary.value_set_files} value sets")
    for generated in summary.generated:
        click.echo(f"  generated {generated} (missing from the published kit)")
    click.echo(f"  value sets refreshed: {', '.join(summary.value_sets)}")
