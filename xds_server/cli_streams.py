"""The standard output of a command, whatever it is connected to (issue 18, outsider F5).

- Closed (`cmd >&-`): Python then has no sys.stdout and click.echo drops every line silently
  (`query >&-` exited 0 having printed nothing; `retrieve --out - >&-` was an internal error).
  A command that prints refuses to start: exit 2, one line on stderr, nothing done.
- A pipe whose reader left (`codes type | head -1`): not an error, as for the Unix tools. The
  command stops quietly with exit status 0 (click said nothing and exited 1).
- Any other write error (`> /dev/full`): exit 2 with one line naming the standard output,
  not Python's "Exception ignored" at exit.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import select
import sys
from collections.abc import Callable

# commands whose output is their log, on stderr: they run with stdout closed (a daemon's way)
QUIET_COMMANDS = frozenset({"serve", "mllp"})


def stdout_closed() -> bool:
    """Whether nothing can be written to the standard output at all (fd 1 closed)."""
    stream = sys.stdout
    if stream is None:
        return True
    try:
        os.fstat(stream.fileno())
    except io.UnsupportedOperation:         # no descriptor (a test's captured stream)
        return False
    except (OSError, ValueError):           # a closed descriptor, a closed stream
        return True
    return False


def reader_gone() -> bool:
    """Whether the standard output is a pipe whose reader closed it (POLLERR on its end):
    an EPIPE from anywhere else (a socket) is not this."""
    stream = sys.stdout
    try:
        descriptor = stream.fileno() if stream is not None else 1
        poller = select.poll()
        poller.register(descriptor, select.POLLOUT)
        return any(events & select.POLLERR for _, events in poller.poll(0))
    except Exception:
        return False


def is_broken_pipe(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno == errno.EPIPE


def flush_stdout() -> None:
    """Write out what is buffered, so a write error is met here, inside the command's error
    handling (not in the interpreter's teardown)."""
    if sys.stdout is not None:
        sys.stdout.flush()


def discard_stdout() -> None:
    """After the reader left: what is still buffered, and what the interpreter flushes at
    exit, goes to /dev/null instead of raising EPIPE again."""
    with contextlib.suppress(Exception):
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno() if sys.stdout is not None else 1)
        os.close(null)


def write_problem(exc: OSError) -> str:
    return (f"cannot write the standard output: {exc.strerror or exc}; what was printed is "
            "incomplete (redirect it to a file with room, or give --out FILE where the command "
            "has it)")


# what the command changed so far (a key per kind of change, its latest words): when the standard
# output then fails, the error says it was done, so that a script does not run it again (outsider
# 18f F2: a submit to a full stdout said "cannot write" with exit 2, and a retry submitted twice)
_CHANGED: dict[str, str] = {}


def changed(what: str, key: str | None = None) -> None:
    _CHANGED[key or what] = what


_UNSAID: list[OSError] = []         # the standard output's failure met after a change


def done(line: str) -> None:
    """Say a change that was made (and remember it was made)."""
    import click

    changed(line)
    after_change(lambda: click.echo(line))


def after_change(write: Callable[[], None]) -> None:
    """Write what follows a change; a standard output that fails then does not stop the
    command (the change is made; what remains is done, and the failure said at the end)."""
    try:
        write()
    except OSError as exc:
        if exc.filename or is_broken_pipe(exc) or not _CHANGED:
            raise
        _UNSAID.append(exc)
        discard_stdout()


def unsaid() -> OSError | None:
    return _UNSAID[0] if _UNSAID else None


def changes() -> list[str]:
    return list(_CHANGED.values())


def forget_changes() -> None:
    _CHANGED.clear()
    _UNSAID.clear()


def changed_problem(exc: OSError, completed: bool) -> str:
    """The line for a standard output that failed after a change was made."""
    made = "; ".join(changes())
    if completed:
        return (f"done ({made}), but its output could not be written: {exc.strerror or exc}; "
                "do not run the command again (exit status 0)")
    return (f"cannot write the standard output: {exc.strerror or exc}; the command stopped "
            f"after this was done: {made} (check it, e.g. with `query`, before running it "
            "again)")
