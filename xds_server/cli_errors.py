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

import contextlib
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

REFUSED = 1
ENVIRONMENT = 2
RETRY = 3
INTERRUPTED = 130           # 128 + SIGINT


class Refused(click.ClickException):
    """The request was made and refused (a SOAP fault, a Failure status), or what was checked
    is invalid."""

    exit_code = REFUSED


class RetryLater(click.ClickException):
    """The server refused for a passing reason (storage full, busy): run the command again
    later (outsider F7: a full repository was exit 1, "refused or invalid")."""

    exit_code = RETRY


# IHE's error codes for a passing condition, and this server's words for a full storage
TEMPORARY_CODES = ("XDSRegistryBusy", "XDSRepositoryBusy", "XDSRegistryOutOfResources",
                   "XDSRepositoryOutOfResources")
TEMPORARY_WORDS = ("storage is full",)


def refusal(message: str) -> click.ClickException:
    """Refused (exit 1), or RetryLater (exit 3) when the server's words say it passes; the
    server's words on one line, their control characters escaped."""
    from .cli_text import printable

    message = printable(message)
    if any(code in message for code in TEMPORARY_CODES) \
            or any(words in message for words in TEMPORARY_WORDS):
        return RetryLater(f"{message}; try again later (exit status 3)")
    return Refused(message)


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
        from .cli_streams import flush_stdout

        flush_stdout()
        sys.stdout.buffer.write(data)
        flush_stdout()
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


_NAME_MISMATCH = (62, 64)  # X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH
_NOT_TLS = ("WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG",
            "HTTP_REQUEST")      # what OpenSSL says of a peer that answers not in TLS


def _transport(exc: Exception) -> str:
    """What went wrong on the way to the server, and the option that fixes it."""
    import http.client
    import socket
    import ssl

    from .consumer.transport import NotFound

    text, cause = str(exc), exc.__cause__
    if isinstance(exc, NotFound):
        return (f"{text}: check the URL (--server takes the server's base URL, e.g. "
                "http://127.0.0.1:8080; --registry and --repository an endpoint, e.g. "
                "http://127.0.0.1:8080/xds/registry)")
    where = text.split(": ", 1)[0].removeprefix("cannot reach ")
    if isinstance(cause, ssl.SSLCertVerificationError) and cause.verify_code in _NAME_MISMATCH:
        return (f"{where}: the server's certificate is not for this host name "
                f"({cause.verify_message}): give the server by a name its certificate holds")
    if isinstance(cause, ssl.SSLCertVerificationError):
        return (f"{where}: the server's certificate is not trusted "
                f"({cause.verify_message}): give the authority that signed it with --cacert")
    if isinstance(cause, ssl.SSLError) and cause.reason in _NOT_TLS:
        return f"{where}: no TLS there (it answered in plain HTTP?): use http://"
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

    driver: list[tuple[type[BaseException], Callable[[Exception], str]]] = []
    try:    # the driver's own error, raised where SQLAlchemy is bypassed (backup's snapshot)
        import psycopg

        driver.append((psycopg.OperationalError, _store))
    except ImportError:
        pass
    return [(ConfigError, _config), (TransportError, _transport), (StoreFull, _store_full),
            (Unreachable, lambda exc: f"the endpoint stopped answering: {exc}"),
            (StoreUnavailable, _store),
            (OperationalError, _store), (DBAPIError, _store), *driver, (OSError, _os)]


def describe(exc: Exception) -> str:
    for kind, words in _describers():
        if isinstance(exc, kind):
            return words(exc)
    return (f"internal error: {type(exc).__name__}: {exc} (a bug: run again with XDS_DEBUG=1 "
            "for the details and report them)")


def _subcommand(ctx: click.Context) -> str | None:
    args = [*getattr(ctx, "protected_args", ()), *ctx.args]
    return args[0] if args else None


class GuardedGroup(click.Group):
    """The top-level group: whatever a subcommand raises ends as one line and status 2; a
    Ctrl-C at any moment is "interrupted", 130; the standard output's troubles are said
    (cli_streams.py)."""

    def invoke(self, ctx: click.Context) -> Any:
        from . import cli_streams

        cli_streams.forget_changes()
        try:
            if cli_streams.stdout_closed() \
                    and _subcommand(ctx) not in cli_streams.QUIET_COMMANDS:
                raise Unusable("the standard output is closed: nothing the command prints "
                               "could be read; nothing was done (redirect it, e.g. > FILE or "
                               "> /dev/null)")
            try:
                result = super().invoke(ctx)
            finally:
                cli_streams.after_change(cli_streams.flush_stdout)  # met here, not at exit
            unsaid = cli_streams.unsaid()
            if unsaid is not None:          # done: a retry would do it twice
                click.echo(f"warning: {cli_streams.changed_problem(unsaid, True)}", err=True)
                return 0
            return result
        except KeyboardInterrupt:
            raise click.exceptions.Exit(_interrupted()) from None
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except Exception as exc:
            if cli_streams.is_broken_pipe(exc) and cli_streams.reader_gone():
                cli_streams.discard_stdout()    # `| head`: the reader has what it wanted
                raise click.exceptions.Exit(0) from None
            if os.environ.get("XDS_DEBUG"):
                raise
            if isinstance(exc, OSError) and _stdout_failed(exc):
                cli_streams.discard_stdout()
                if cli_streams.changes():
                    raise Unusable(cli_streams.changed_problem(exc, False)) from None
                raise Unusable(cli_streams.write_problem(exc)) from None
            raise Unusable(describe(exc)) from None

    def main(self, args: Any = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True,
             **extra: Any) -> Any:
        """click's own ending, but a Ctrl-C at any moment (parsing the options, saying an
        error, a second Ctrl-C while saying the first) is "interrupted" and 130: click turned
        one into "Aborted!" and exit 1, and one raised while it printed killed the process by
        SIGINT (outsider F4)."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, **extra)
        try:
            try:
                result = super().main(args, prog_name, complete_var, False, **extra)
                code = result if isinstance(result, int) and not isinstance(result, bool) \
                    else 0
            except click.ClickException as exc:
                _show(exc)
                code = exc.exit_code
            except OSError as exc:      # --help, --version, a usage line to a full stdout
                from . import cli_streams

                if not _stdout_failed(exc):
                    raise
                cli_streams.discard_stdout()
                _show(Unusable(cli_streams.write_problem(exc)))
                code = ENVIRONMENT
            except click.Abort as exc:
                if not isinstance(exc.__cause__, KeyboardInterrupt):
                    click.echo("Aborted!", err=True)
                    code = REFUSED
                else:
                    code = _interrupted()
            except KeyboardInterrupt:
                code = _interrupted()
        except KeyboardInterrupt:       # while an error was said, or the first Ctrl-C
            code = _interrupted()
        sys.exit(code)


def _show(exc: click.ClickException) -> None:
    """Say the error on stderr, if there is one: a closed stderr put it on stdout, into the
    data (click's fallback), and a full one turned every status into 1 (outsider 18f F3)."""
    if sys.stderr is None or not _fd_open(2):
        return
    with contextlib.suppress(OSError, ValueError):
        exc.show()
        sys.stderr.flush()


def _fd_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def _interrupted() -> int:
    _ignore_interrupts()
    with contextlib.suppress(Exception):
        sys.stderr.write("interrupted\n")
        sys.stderr.flush()
    return INTERRUPTED


def _ignore_interrupts() -> None:
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():
        with contextlib.suppress(ValueError, OSError):
            signal.signal(signal.SIGINT, signal.SIG_IGN)


def _stdout_failed(exc: OSError) -> bool:
    """Whether this write error is the standard output's: raised by click.echo or by the
    final flush (a file's error names the file, a socket's comes from elsewhere)."""
    import traceback

    if exc.filename:
        return False
    for frame, _ in traceback.walk_tb(exc.__traceback__):
        code = frame.f_code
        if (code.co_name == "echo" and code.co_filename.endswith(os.path.join("click",
                                                                              "utils.py"))) \
                or code.co_filename.endswith("cli_streams.py"):
            return True
    return False
