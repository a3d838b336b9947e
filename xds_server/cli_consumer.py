"""`xds-server submit`, `query` and `retrieve`: a document source and consumer for any XDS.b
server. What they are given is checked before anything is sent (a patient id that is not a CX,
an unknown status, a file that cannot be written: exit 2 with the option named); what the server
refuses is exit 1 with its codes and request id."""

from __future__ import annotations

import json
import re
from pathlib import Path

import click

from .cli_client import Connection, client_options, sign_submission_set, signing_options
from .cli_codes import checked
from .cli_document_options import (
    check_document_options,
    check_times,
    document_options,
    options_for_refusal,
)
from .cli_errors import Refused, RetryLater, refusal, writable_file, write_whole
from .cli_options import check_oid, check_patient, check_unique_ids
from .cli_streams import after_change, changed
from .cli_text import printable

FIND_STATUSES = ("Approved", "Deprecated", "Archived", "Deleted", "Submitted")


def _check_statuses(ctx: click.Context, param: click.Parameter,
                    values: tuple[str, ...]) -> tuple[str, ...]:
    """Each status by its name (any case) or its URN; the URN is what is sent."""
    from .consumer.registered import STATUS_NAMES

    by_name = {name.lower(): urn for name, urn in STATUS_NAMES.items()}
    checked = []
    for value in values:
        urn = value if value in STATUS_NAMES.values() else by_name.get(value.lower())
        if urn is None:
            raise click.BadParameter(f"{value!r} is not an availability status: one of "
                                     f"{', '.join(FIND_STATUSES)}, or its full URN",
                                     ctx=ctx, param=param)
        checked.append(urn)
    return tuple(checked)


def code_option(ctx: click.Context | None, param: click.Parameter | None, value):
    """code^^scheme[^^display], one value or several."""
    from .consumer.sources import parse_code as parse

    if value is None:
        return None
    try:
        return tuple(parse(v) for v in value) if isinstance(value, tuple) else parse(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None


def report_registry_reply(reply) -> list[str]:
    """The warnings of a Success; Refused (exit 1) with every error of anything else."""
    if reply.fault is not None:
        raise refusal(f"SOAP fault {reply.fault.code} {' '.join(reply.fault.subcodes)}: "
                      f"{reply.fault.reason} (request id {reply.fault.request_id})")
    problems = registry_problems(reply)
    status = (reply.payload.get("status") or "").rsplit(":", 1)[-1]
    if status != "Success":
        raise refusal(f"{status or 'no status'}: {'; '.join(problems) or 'no error given'} "
                      f"(request id {reply.headers.get('x-request-id')})")
    return problems


def registry_problems(reply) -> list[str]:
    return [f"{(e.get('severity') or '').rsplit(':', 1)[-1]} {e.get('errorCode')}: "
            f"{e.get('codeContext')}" for e in reply.payload.iter("{*}RegistryError")]


def _expand(paths: tuple[str, ...], pattern: str) -> tuple[list[Path], bool]:
    """The files to send, and whether a directory was given (then: one submission each)."""
    files: list[Path] = []
    bulk = False
    for name in paths:
        path = Path(name)
        if path.is_dir():
            bulk = True
            try:
                if ".." in Path(pattern).parts:     # files outside the directory given
                    raise ValueError(pattern)
                found = sorted(p for p in path.glob(pattern) if p.is_file())
            except (ValueError, NotImplementedError):   # '', '/etc/*': pathlib's refusals
                raise click.BadParameter(f"{pattern!r} is not a pattern of file names inside "
                                         f"{name} (e.g. '*.xml', 'letters/*.pdf')",
                                         param_hint="--pattern") from None
            if not found:
                raise click.BadParameter(f"no file matching {pattern!r} in {name}",
                                         param_hint="FILES")
            files += found
        else:
            files.append(path)
    for path in files:          # what cannot be a document is said before anything is sent
        if not path.is_file():
            raise click.BadParameter(f"{path} is not a regular file (a device, a pipe…): "
                                     "nothing to submit", param_hint="FILES")
        if path.stat().st_size == 0:
            raise click.BadParameter(f"{path} is empty: nothing to submit", param_hint="FILES")
    return files, bulk


_MIME = re.compile(r"[A-Za-z0-9][\w.+-]*/[A-Za-z0-9][\w.+-]*")


@click.command()
@click.argument("paths", metavar="FILE|DIR...", nargs=-1, required=True,
                type=click.Path(exists=True, readable=True))
@click.option("--patient", required=True, callback=check_patient,
              help="patient id, 'ID^^^&OID&ISO'")
@click.option("--each", is_flag=True,
              help="one submission set per file (the default for a directory); otherwise the "
                   "files go in one submission set")
@click.option("--pattern", default="*.xml", show_default=True,
              help="the files of a directory that are sent")
@click.option("--class", "class_code", callback=checked("class"),
              help="classCode as code^^scheme[^^display] (`xds-server codes class`)")
@click.option("--type", "type_code", callback=checked("type"),
              help="typeCode (default: the CDA's code; `xds-server codes type`)")
@click.option("--format", "format_code", callback=checked("format"),
              help="formatCode (`xds-server codes format`)")
@click.option("--title", help="title (default: the CDA's title, else the file name)")
@click.option("--author", help="author person (XCN)")
@document_options
@click.option("--mime-type", "mime_type", metavar="TYPE/SUBTYPE",
              help="send a file that is not a CDA, a PDF or .txt text under this mime type "
                   "(give --type and --format with it); otherwise such a file is refused "
                   "before sending")
@click.option("--inline", is_flag=True, help="send base64 inline instead of MTOM")
@signing_options
@client_options
def submit(paths: tuple[str, ...], patient: str, each: bool, pattern: str, class_code,
           type_code, format_code, title: str | None, author: str | None,
           mime_type: str | None, inline: bool, legal_authenticator: str | None,
           service_start: str | None, service_stop: str | None, confidentiality,
           sign_key: str | None, sign_cert: str | None, sign_digest: str,
           connection: Connection) -> None:
    """Provide and register documents (ITI-41): metadata from the CDA header when there is one,
    an RPLC association when a CDA replaces a registered document (asked of the registry).
    One line per document; with a directory or --each, one submission per file, a progress
    bar on a terminal, and a count at the end (exit 1 when one was refused)."""
    from .cli_progress import progress
    from .consumer.sources import SourceOptions, unsendable

    files, bulk = _expand(paths, pattern)
    if mime_type is not None and not _MIME.fullmatch(mime_type):
        raise click.BadParameter(f"{mime_type!r} is not a mime type (type/subtype)",
                                 param_hint="--mime-type")
    check_times(service_start, service_stop)
    options = SourceOptions(title=title, author=author, type_code=type_code,
                            format_code=format_code, mime_type=mime_type,
                            confidentiality=confidentiality,
                            legal_authenticator=legal_authenticator,
                            service_start=service_start, service_stop=service_stop)
    for path in files:          # said before anything is sent
        why = unsendable(path, options)
        if why:
            raise click.BadParameter(f"{path}: {why}: nothing sent; give --mime-type (with "
                                     "--type, --format) to send it as it is", param_hint="FILES")
    if mime_type is None:       # given, the file goes as it is: the source's choice
        check_document_options(files, {"legal_authenticator": legal_authenticator,
                                       "service_start": service_start,
                                       "service_stop": service_stop,
                                       "type_code": type_code}, _profile())

    if class_code:
        options.class_code = class_code
    send = _Sender(connection, patient, options, (sign_key, sign_cert, sign_digest), inline)
    if not (bulk or each):
        for line, warning in send([*files]):
            if not warning:
                changed(f"{len(files)} submitted in one submission set", "submit")
            after_change(lambda line=line, warning=warning: click.echo(line, err=warning))
        return
    from .consumer.transport import TransportError

    refused = sent = 0
    with progress(len(files), "submitting", "document") as bar:
        for path in files:
            try:
                for line, warning in send([path]):
                    if not warning:             # lines come once it is done
                        changed(f"{sent + 1} submitted", "submit")
                    after_change(lambda line=line, warning=warning: bar.say(line, err=warning))
                sent += 1
            except Refused as exc:
                refused += 1
                bar.say(f"refused: {path}: {exc.message}", err=True)
            except (TransportError, RetryLater):   # the server went away, or is full: what
                # was done, then why (the next files would meet the same)
                click.echo(f"{sent} submitted, {refused} refused, stopped at {path}")
                raise
            except KeyboardInterrupt:       # what was done, and the one left in doubt
                click.echo(f"{sent} submitted, {refused} refused, interrupted at {path} (it "
                           "may have been registered: `query` tells)")
                raise
            bar.advance()
    click.echo(f"{sent} submitted, {refused} refused")
    if refused:
        raise click.exceptions.Exit(1)


def _profile() -> str:
    """The profile of these settings (XDS_PROFILE): the server's, as the codes' check takes it."""
    from .cli_settings import command_settings

    return command_settings(click.get_current_context()).profile


class _Sender:
    """Builds and sends one ITI-41 for a group of files; its lines, or Refused."""

    def __init__(self, connection: Connection, patient: str, options, signing: tuple,
                 inline: bool) -> None:
        self.connection = connection
        self.patient = patient
        self.options = options
        self.signing = signing
        self.inline = inline
        self.repository = connection.repository(patient)
        self._registry = None

    def registry(self):
        if self._registry is None:
            self._registry = self.connection.registry(self.patient)
        return self._registry

    def __call__(self, files: list[Path]) -> list[tuple[str, bool]]:
        """(line, is a warning) for each document sent: its uniqueId first."""
        from .consumer.documents import PROVIDE, provide_request
        from .consumer.sources import submission_for_files
        from .model.content import Attachment

        submission, paths = submission_for_files(files, self.patient, self.options,
                                                 self._replaced_entries(files))
        mime = {d.entry_uuid: d.mime_type for d in submission.documents}
        documents = {doc_id: Attachment.from_file(path, mime[doc_id])
                     for doc_id, path in paths.items()}
        sign_submission_set(submission, documents, *self.signing)
        payload, binaries = provide_request(submission, documents)
        reply = self.repository.call(PROVIDE, payload, binaries=binaries, mtom=not self.inline)
        try:
            warnings = report_registry_reply(reply)
        except Refused as exc:
            plain = [str(paths[d.entry_uuid]) for d in submission.documents
                     if d.entry_uuid in paths and d.mime_type != "text/xml"]
            # the metadata the server refused were this command's guesses (not when the
            # server's storage is full or its fault is its own: the hint misled there)
            if plain and "Metadata" in exc.message:
                named = options_for_refusal(exc.message) or ["--class", "--type", "--title"]
                raise Refused(f"{exc.message} ({', '.join(plain)}: not a CDA, so its metadata "
                              f"are this command's defaults: send a CDA, or give "
                              f"{', '.join(named)})") from None
            raise
        return [*((f"warning: {w}", True) for w in warnings),
                *((f"{d.unique_id}  {d.title}  ({d.mime_type})"
                   + (f"  {paths[d.entry_uuid]}" if d.entry_uuid in paths else ""), False)
                  for d in submission.documents)]

    @staticmethod
    def _unique_ids_of(files: list[Path]) -> set[str]:
        """The uniqueIds the files' own CDA headers give them."""
        from .consumer.sources import SourceOptions, document_for_file

        return {document_for_file(f, "", SourceOptions()).unique_id for f in files}

    def _replaced_entries(self, files: list[Path]) -> dict[str, str]:
        """uniqueId → entryUUID of every registered document the CDAs say they replace."""
        from .consumer.queries import registered_entry
        from .consumer.sources import replaced_unique_ids

        found = {}
        wanted = sorted({u for f in files for u in replaced_unique_ids(f)})
        own = self._unique_ids_of(files) if wanted and len(files) > 1 else set()
        for unique_id in wanted:
            if unique_id in own:
                raise Refused(f"a document replaces {unique_id}, which is in the same "
                              "submission: a replacement must follow the registration of what "
                              "it replaces (give a directory, or --each: one submission per "
                              "file, in order)")
            try:
                found[unique_id] = registered_entry(self.registry(), unique_id).get("id")
            except LookupError as exc:
                raise Refused(f"the document replaces {unique_id}: {exc}") from None
        return found


@click.command()
@click.option("--patient", required=True, callback=check_patient,
              help="patient id, 'ID^^^&OID&ISO'")
@click.option("--status", "statuses", multiple=True, default=("Approved",), show_default=True,
              callback=_check_statuses,
              help=f"{', '.join(FIND_STATUSES)}, or a full status URN; repeat for several")
@click.option("--class", "class_codes", multiple=True, callback=checked("class"),
              help="classCode code^^scheme (OR; `xds-server codes class`)")
@click.option("--json", "as_json", is_flag=True,
              help="one JSON array of the documents, every column and their ids")
@client_options
def query(patient: str, statuses: tuple[str, ...], class_codes: tuple, as_json: bool,
          connection: Connection) -> None:
    """FindDocuments (ITI-18) for a patient: title, type, date, status, confidentiality,
    visibility (the DMP's masking codes), version and uniqueId."""
    from .consumer.queries import STORED_QUERY, find_documents_request
    from .consumer.registered import COLUMNS, document_entries, listing_row

    request = find_documents_request(patient, list(statuses),
                                     [c.query_form for c in class_codes])
    reply = connection.registry(patient).call(STORED_QUERY, request)
    warnings = report_registry_reply(reply)
    for warning in warnings:
        click.echo(f"warning: {printable(warning)}", err=True)
    rows = [listing_row(entry) for entry in document_entries(reply.payload)]
    if as_json:         # JSON escapes what it holds; the table shows each cell on its line
        click.echo(json.dumps(rows, ensure_ascii=False, indent=1))
        return
    for line in table([name for name, _ in COLUMNS], rows):
        click.echo(line)
    click.echo(f"{len(rows)} document(s)")


def table(headers: list[str], rows: list[dict[str, str]]) -> list[str]:
    """One line a row, each cell's control characters escaped: a title holding a line break
    forged a row (outsider 18f F5)."""
    rows = [{h: printable(row[h]) for h in headers} for row in rows]
    widths = [max([len(h)] + [len(r[h]) for r in rows]) for h in headers]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    return lines + ["  ".join(row[h].ljust(w) for h, w in zip(headers, widths, strict=True))
                    .rstrip() for row in rows]


@click.command()
@click.argument("unique_id", callback=check_unique_ids)
@click.option("--out", "out_path", required=True, callback=writable_file,
              help="file to write the document to")
@click.option("--repository-id", callback=check_oid,
              help="repositoryUniqueId of the document (default: asked of the registry)")
@click.option("--patient", callback=check_patient,
              help="the document's patient: the resource-id of a VIHF signed here")
@client_options
def retrieve(unique_id: str, out_path: str, repository_id: str | None, patient: str | None,
             connection: Connection) -> None:
    """Retrieve one document (ITI-43) into a file."""
    from .consumer.documents import RETRIEVE, parse_retrieve, retrieve_request
    from .consumer.queries import repository_of

    if repository_id is None:
        try:
            repository_id = repository_of(connection.registry(patient), unique_id)
        except LookupError as exc:
            raise Refused(str(exc)) from None
    reply = connection.repository(patient).call(RETRIEVE, retrieve_request(
        [(repository_id, unique_id)]))
    if reply.fault is not None:
        report_registry_reply(reply)
    result = parse_retrieve(reply)
    if not result.documents:
        detail = "; ".join(f"{code}: {context}" for code, context in result.errors)
        raise Refused(f"{result.status}: {detail} (request id "
                      f"{reply.headers.get('x-request-id')})")
    write_whole(Path(out_path), result.documents[0].data)
    click.echo(f"{out_path}: {len(result.documents[0].data)} bytes, "
               f"{result.documents[0].mime_type}", err=out_path == "-")

