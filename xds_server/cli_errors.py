"""How the `xds-server` command fails: one line on stderr saying what and how to fix it, and an
exit status a script can test. Never a Python traceback (XDS_DEBUG=1 shows it, for a bug report).

Exit status (the same for every command):

- 0: done;
- 1: refused or invalid: the server refused the request, a document is invalid, a conformance
  step failed;
- 2: usage or environment: a bad option or argument, a setting that cannot be used, a server
  that cannot be reached, a file that cannot be read or written, a database that is down;
- 130: interrupted (Ctrl-C, SIGINT), as shells report it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

REFUSED = 1
ENVIRONMENT = 2
INTERRUPTED = 130           # 128 + SIGINT


class Refused(click.ClickException):
    """The request was made and refused (a SOAP fault, a Failure status), or what was checked
    is invalid."""

    exit_code = REFUSED


class Unusable(click.ClickException):
    """The command could not do its work here: settings, network, files, database."""

    exit_code = ENVIRONMENT


def writable_file(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """A file that can be written, checked before anything is asked of the server; '-' is the
    standard output (write_whole), '' no file at all (it was taken for the current directory)."""
    if value == STDOUT:
        return value
    if not value.strip():
        raise click.BadParameter("an empty name: give a file name, or - for the standard "
                                 "output", ctx=ctx, param=param)
    path = Path(value)
    if path.is_dir():
        raise click.BadParameter(f"{value} is a directory; give a file name", ctx=ctx,
                                 param=param)
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise click.BadParameter(f"cannot write {value}: the directory {parent} does not "
                                 "exist", ctx=ctx, param=param)
    if not os.access(parent, os.W_OK):
        raise click.BadParameter(f"cannot write {value}: the directory {parent} is not "
                                 "writable", ctx=ctx, param=param)
    return value


STDOUT = "-"


def write_whole(path: Path, data: bytes) -> None:
    """The file whole or not at all: written beside it under a temporary name, then renamed (a
    full disk left a truncated document under the name asked for)."""
    import contextlib
    import os

    if str(path) == STDOUT:         # --out -: the document to a pipe (its summary to stderr)
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    if path.exists() and not path.is_file():
        # a device or a pipe (/dev/stdout, a FIFO a reader waits on) is written to, never
        # replaced: renaming over it made /dev/full a regular file (as root)
        try:
            with open(path, "wb") as handle:
                handle.write(data)
        except OSError as exc:
            raise Unusable(f"cannot write {path}: {exc.strerror or exc}") from None
        return
    temporary = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        with open(temporary, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise Unusable(f"cannot write {path}: {exc.strerror or exc}; nothing was written "
                       "there") from None


def _config(exc: Exception) -> str:
    return f"configuration: {exc} (`xds-server config` shows every setting and its source)"


def _transport(exc: Exception) -> str:
    """What went wrong on the way to the server, and the option that fixes it."""
    import http.client
    import socket
    import ssl

    text, cause = str(exc), exc.__cause__
    where = text.split(": ", 1)[0].removeprefix("cannot reach ")
    if isinstance(cause, ssl.SSLCertVerificationError):
        return (f"{where}: the server's certificate is not trusted "
                f"({cause.verify_message}): give the authority that signed it with --cacert")
    if isinstance(cause, ssl.SSLError):
        return (f"{where}: the TLS handshake failed ({cause.reason or cause}): the server may "
                "ask for a client certificate (--cert and --key)")
    if isinstance(cause, socket.gaierror):
        return f"{where}: unknown host ({cause.strerror}): check --server or XDS_SERVER_URL"
    if isinstance(cause, TimeoutError):
        return f"{where}: no answer in time: is the server overloaded or the address wrong?"
    if text.startswith("cannot reach") and where.startswith("http:") and isinstance(
            cause, ConnectionResetError | http.client.RemoteDisconnected):
        # an HTTPS server closes a connection that speaks plain HTTP to it
        return (f"{text}; if the server speaks HTTPS, give its URL with https:// (and its "
                "authority with --cacert)")
    if text.startswith("cannot reach"):
        return (f"{text}; is the server running? Give its address with --server URL "
                "(or XDS_SERVER_URL), or --registry/--repository")
    return text


def _store(exc: Exception) -> str:
    cause = getattr(exc, "orig", None) or exc      # the driver's words, not SQLAlchemy's wrapper
    first = " ".join(str(cause).split("\n")[:1]).strip() or type(cause).__name__
    if "database or disk is full" in first or getattr(cause, "sqlstate", None) == "53100":
        return _store_full(exc)
    return (f"the database cannot be used: {first} (check XDS_DATABASE_URL and that the "
            "database is running)")


def _store_full(exc: Exception) -> str:
    """A full disk is not a wrong URL nor a stopped database: the hint said to check those."""
    cause = getattr(exc, "orig", None) or exc.__cause__ or exc
    first = " ".join(str(cause).split("\n")[:1]).strip() or type(cause).__name__
    return (f"the database's disk is full ({first}): nothing was written; free space on it "
            "and run the command again")


def _os(exc: Exception) -> str:
    assert isinstance(exc, OSError)
    where = f"{exc.filename}: " if exc.filename else ""
    return f"{where}{exc.strerror or exc}"


def _describers() -> list[tuple[type[BaseException], Callable[[Exception], str]]]:
    """Known failures, most precise first; imported lazily so `--help` stays fast."""
    from sqlalchemy.exc import DBAPIError, OperationalError

    from .config import ConfigError
    from .conformance.exchange import Unreachable
    from .consumer.transport import TransportError
    from .store.database import StoreFull, StoreUnavailable

    return [(ConfigError, _config), (TransportError, _transport), (StoreFull, _store_full),
            (Unreachable, lambda exc: f"the endpoint stopped answering: {exc}"),
            (StoreUnavailable, _store),
            (OperationalError, _store), (DBAPIError, _store), (OSError, _os)]


def describe(exc: Exception) -> str:
    for kind, words in _describers():
        if isinstance(exc, kind):
            return words(exc)
    return (f"internal error: {type(exc).__name__}: {exc} (a bug: run again with XDS_DEBUG=1 "
            "for the details and report them)")


def _broken_pipe(exc: Exception) -> bool:
    import errno

    return isinstance(exc, OSError) and exc.errno == errno.EPIPE


class GuardedGroup(click.Group):
    """The top-level group: whatever a subcommand raises ends as one line and status 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            raise click.exceptions.Exit(INTERRUPTED) from None
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except Exception as exc:
            if os.environ.get("XDS_DEBUG") or _broken_pipe(exc):
                raise       # click itself ends quietly on a closed pipe (`| head`)
            raise Unusable(describe(exc)) from None
