"""`xds-server update` (ITI-57: mask, unmask, archive, unarchive, delete, a new metadata version)
and `xds-server remove` (ITI-86 then ITI-62), on documents named by uniqueId, as any consumer
would send them: the registry is asked for the current version first, and every change names
that version."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from .cli_client import Connection, client_options
from .cli_codes import checked
from .cli_consumer import registry_problems, report_registry_reply
from .cli_errors import Refused, refusal
from .cli_options import check_oid, check_patient, check_unique_ids, not_empty
from .cli_streams import done
from .cli_text import printable
from .model.registered import version_number

VISIBILITIES = ("MASQUE_PS", "INVISIBLE_PATIENT", "INVISIBLE_REPRESENTANTS_LEGAUX")
_PATIENT = click.option("--patient", callback=check_patient,
                        help="the document's patient: the resource-id of a VIHF signed here")


_ENTRY = click.option("--entry", "entry_uuid", metavar="ENTRY_UUID", callback=not_empty,
                      help="the registry entry to change, when the uniqueId names several "
                           "(a document submitted more than once)")


def _entries(connection: Connection, unique_id: str, patient: str | None):
    """(the registry client, every entry registered under `unique_id`: latest versions)."""
    from .consumer.changes import NotRegistered, registered_entries

    registry = connection.registry(patient)
    try:
        return registry, registered_entries(registry, unique_id)
    except NotRegistered as exc:
        raise Refused(str(exc)) from None


def _current(connection: Connection, unique_id: str, patient: str | None,
             fits: Callable[[Any], bool], entry_uuid: str | None):
    """(the registry client, the one entry of `unique_id` the change applies to)."""
    from .consumer.changes import Ambiguous, NotRegistered, entry_for

    registry, entries = _entries(connection, unique_id, patient)
    try:
        return registry, entry_for(entries, fits, entry_uuid)
    except (Ambiguous, NotRegistered) as exc:
        raise Refused(str(exc)) from None


def _versionable(entry: Any) -> bool:
    from .consumer.changes import may_be_versioned

    return may_be_versioned(entry)


def _caller(connection: Connection, patient: str | None):
    """The author of the update's submission set: whoever signs this command's VIHF (the
    same rule as over FHIR: security/acting_author.py)."""
    from .consumer.vihf import claims_author

    claims = connection.vihf_claims(patient)
    return None if claims is None else claims_author(claims)


def _send_update(registry, build) -> None:
    """Build the ITI-57 (ValueError: refused before sending) and send it."""
    from .consumer.changes import UPDATE, update_request

    try:
        submission = build()
    except ValueError as exc:
        raise Refused(str(exc)) from None
    for warning in report_registry_reply(registry.call(UPDATE, update_request(submission))):
        click.echo(f"warning: {printable(warning)}", err=True)


@click.group()
def update() -> None:
    """Change registered documents (ITI-57 Update Document Set)."""


def _status_command(name: str, text: str) -> click.Command:
    @update.command(name, help=f"{text} (UpdateAvailabilityStatus).")
    @click.argument("unique_id", callback=check_unique_ids)
    @_ENTRY
    @_PATIENT
    @client_options
    def command(unique_id: str, entry_uuid: str | None, patient: str | None,
                connection: Connection) -> None:
        from .consumer.changes import STATUS_CHANGES, status_change

        starts = STATUS_CHANGES[name][0]
        registry, entry = _current(connection, unique_id, patient,
                                   lambda e: e.status in starts, entry_uuid)
        author = _caller(connection, patient)
        _send_update(registry, lambda: status_change(entry, name, author))
        done(f"{name}d: {unique_id} is now "
                   f"{STATUS_CHANGES[name][1].rsplit(':', 1)[-1]}")

    return command


_status_command("archive", "Archive an Approved document (the DMP's Archived status)")
_status_command("unarchive", "Bring an Archived document back to Approved")
_status_command("delete", "Mark a document Deleted (the DMP's deletion; the bytes stay: see "
                          "`xds-server remove`)")


def _visibility_command(name: str, text: str, adding: bool) -> None:
    @update.command(name, help=f"{text} (a new metadata version).")
    @click.argument("unique_id", callback=check_unique_ids)
    @click.option("--code", type=click.Choice(VISIBILITIES), default="MASQUE_PS",
                  show_default=True, help="the DMP visibility code")
    @_ENTRY
    @_PATIENT
    @client_options
    def command(unique_id: str, code: str, entry_uuid: str | None, patient: str | None,
                connection: Connection) -> None:
        from .consumer.changes import next_version

        registry, entry = _current(connection, unique_id, patient, _versionable, entry_uuid)
        author = _caller(connection, patient)
        _send_update(registry, lambda: next_version(
            entry, **{"add_visibility" if adding else "remove_visibility": code},
            author=author))
        done(f"{name}ed: {unique_id} version {version_number(entry.version) + 1} "
                   f"{'with' if adding else 'without'} {code}")


_visibility_command("mask", "Hide a document from professionals (MASQUE_PS) or another "
                            "audience (--code)", adding=True)
_visibility_command("unmask", "Show a masked document again", adding=False)


@update.command("version")
@click.argument("unique_id", callback=check_unique_ids)
@click.option("--title", help="the new title")
@click.option("--comments", help="the new comments")
@click.option("--confidentiality", callback=checked("confidentiality"),
              help="the new confidentiality code: N, R or V (or code^^scheme; `xds-server "
                   "codes confidentiality`); the visibility codes are kept")
@_ENTRY
@_PATIENT
@client_options
def update_version(unique_id: str, title: str | None, comments: str | None, confidentiality,
                   entry_uuid: str | None, patient: str | None,
                   connection: Connection) -> None:
    """Register a new metadata version of a document with the changes given."""
    from .consumer.changes import next_version

    if title is None and comments is None and confidentiality is None:
        raise click.UsageError("nothing to change: give --title, --comments or "
                               "--confidentiality")
    registry, entry = _current(connection, unique_id, patient, _versionable, entry_uuid)
    author = _caller(connection, patient)
    _send_update(registry, lambda: next_version(entry, title=title, comments=comments,
                                                confidentiality=confidentiality,
                                                author=author))
    done(f"updated: {unique_id} version {version_number(entry.version) + 1}")


@click.command()
@click.argument("unique_ids", metavar="UNIQUE_ID...", nargs=-1, required=True,
                callback=check_unique_ids)
@click.option("--metadata-only", is_flag=True,
              help="remove the registry entries only (ITI-62), leave the bytes")
@click.option("--documents-only", is_flag=True,
              help="remove the bytes only (ITI-86): their registry entries must be gone")
@click.option("--repository-id", metavar="OID", callback=check_oid,
              help="the repository's uniqueId, for --documents-only when the registry has no "
                   "entry left to name it")
@_PATIENT
@client_options
def remove(unique_ids: tuple[str, ...], metadata_only: bool, documents_only: bool,
           repository_id: str | None, patient: str | None, connection: Connection) -> None:
    """Remove documents for good, as IHE RMD orders it: every registry entry of their uniqueIds,
    copies included, with their versions and associations (ITI-62 Remove Metadata), then their
    bytes from the repository (ITI-86 Remove Documents). The repository refuses bytes a registry
    entry still names (a registered document is always retrievable), and decides who may remove
    them on who stored them."""
    from .consumer.changes import REMOVE_METADATA, removal_closure, remove_objects_request
    from .consumer.documents import REMOVE, remove_request

    if metadata_only and documents_only:
        raise click.UsageError("--metadata-only and --documents-only exclude each other")
    if repository_id is not None and not documents_only:
        raise click.UsageError("--repository-id goes with --documents-only")
    if documents_only and repository_id is not None:
        held = sorted((repository_id, unique_id) for unique_id in unique_ids)
    else:
        found = [_entries(connection, unique_id, patient) for unique_id in unique_ids]
        registry = found[0][0]
        entries = [entry for _, copies in found for entry in copies]
        held = sorted({(e.repository_unique_id or "", e.unique_id) for e in entries})
    if not documents_only:
        ids = removal_closure(registry, entries)
        _check_removal("ITI-62", registry.call(REMOVE_METADATA, remove_objects_request(ids)))
        done(f"removed from the registry: {len(ids)} object(s) (the entries, their "
                   "versions and copies, their associations, and sets left empty)")
    if not metadata_only:
        reply = connection.repository(patient).call(REMOVE, remove_request(held))
        try:
            _check_removal("ITI-86", reply)
        except Refused as exc:
            if documents_only:
                raise
            raise Refused(f"{exc}; {_finish_removal(held)}") from None
        done(f"removed from the repository: {len(held)} document(s)")


def _finish_removal(held: list[tuple[str, str]]) -> str:
    """What to do when ITI-86 refused bytes whose registry entries ITI-62 removed: who can
    finish (the repository's refusal names them when the caller may know) and the command."""
    by_repository: dict[str, list[str]] = {}
    for repository, unique_id in held:
        by_repository.setdefault(repository, []).append(unique_id)
    commands = "; ".join(f"`xds-server remove --documents-only --repository-id {repository} "
                         f"{' '.join(ids)}`" for repository, ids in by_repository.items())
    return ("the registry entries are removed already, the bytes are not: who may remove them "
            "(an author or the submitter of the document, or an administrator of the "
            f"patient's record) finishes with {commands}, given their own identity")


def _check_removal(transaction: str, reply) -> None:
    if reply.fault is not None or reply.payload is None:
        report_registry_reply(reply)
    status = (reply.payload.get("status") or "").rsplit(":", 1)[-1]
    if status != "Success":
        raise refusal(f"{transaction} {status}: {'; '.join(registry_problems(reply))} "
                      f"(request id {reply.headers.get('x-request-id')})")
