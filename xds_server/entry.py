"""The `xds-server` command's entry point. Importing the CLI takes a second or more (click,
SQLAlchemy, lxml, the commands); a Ctrl-C in that time printed a traceback (issue 18, outsider
m8). Here Ctrl-C is answered before anything heavy is imported, as the CLI answers it later:
"interrupted", exit status 130."""

from __future__ import annotations

import os
import signal
import sys

INTERRUPTED = 130


def _interrupted_while_starting(_signum: int, _frame: object) -> None:
    sys.stderr.write("interrupted\n")
    sys.stderr.flush()
    os._exit(INTERRUPTED)      # nothing was done yet: no clean-up to run


def main() -> None:
    signal.signal(signal.SIGINT, _interrupted_while_starting)
    from .cli import main as cli

    try:
        signal.signal(signal.SIGINT, signal.default_int_handler)  # the CLI's answer from here
        sys.exit(cli())
    except KeyboardInterrupt:   # before the CLI's own handling began: the same answer
        _interrupted_while_starting(signal.SIGINT, None)


if __name__ == "__main__":  # pragma: no cover
    main()
