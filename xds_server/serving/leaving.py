"""Leaving a process that stopped normally, without the interpreter's teardown.

What exit does that matters is done here, in exit's order: the non-daemon threads are joined,
the atexit functions run (the read audit writer writes its queue there), the log is flushed.
What is skipped is the teardown after them: collecting and freeing a heap of parsed schemas,
schematrons and value sets, which took seconds of every `serve` stop (2.5 to 4 s on SIGTERM
with nothing open, issue 18 R15) and does nothing the kernel does not do at once.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import sys
import threading
from typing import NoReturn


def leave(code: int = 0) -> NoReturn:
    """Exit with `code` now (from the main thread)."""
    shutdown = getattr(threading, "_shutdown", None)   # joins non-daemon threads, as exit does
    if shutdown is not None and threading.current_thread() is threading.main_thread():
        shutdown()
    atexit._run_exitfuncs()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        if stream is None:          # started with it closed (`serve >&-`, a daemon's way)
            continue
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)


def stopped_normally() -> bool:
    """Whether the exception being raised, if any, is a clean exit (SystemExit 0): called in
    a `finally` that a process leaves through."""
    exc = sys.exc_info()[1]
    return isinstance(exc, SystemExit) and exc.code in (0, None)
