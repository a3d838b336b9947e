"""The `xds-server` command run the two ways a test can: in a child process, as a shell runs it,
or in this process through click's runner. A child costs a Python start and the imports (about
two seconds of CPU a call); in this process the same command, options, settings and exit
status are checked for a few milliseconds. What only a process shows (a traceback printed, the
exit status a shell sees, no terminal on stderr) needs the child: each command family keeps at
least one call that way in the tests that use both."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path


def _environment(env: dict[str, str] | None) -> dict[str, str]:
    child = {k: v for k, v in os.environ.items() if not k.startswith("XDS_")}
    child.update(env or {})
    return child


def run_process(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
                timeout: float = 120) -> subprocess.CompletedProcess:
    """`python -m xds_server.cli ARGS` with the XDS_ variables of `env` only."""
    return subprocess.run([sys.executable, "-m", "xds_server.cli", *args], capture_output=True,
                          text=True, env=_environment(env), timeout=timeout, cwd=cwd)


def run_in_process(*args: str, env: dict[str, str] | None = None,
                   cwd: Path | None = None) -> subprocess.CompletedProcess:
    """The same command through click's runner, answered as a CompletedProcess. An exception
    the command let escape is raised here: the child would have printed a traceback and a
    status 1 a test could take for a refusal."""
    from click.testing import CliRunner

    from xds_server.cli import main

    unset: dict[str, str | None] = {k: None for k in os.environ if k.startswith("XDS_")}
    with contextlib.chdir(cwd) if cwd is not None else contextlib.nullcontext():
        result = CliRunner().invoke(main, list(args), env={**unset, **(env or {})},
                                    prog_name="xds-server")
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return subprocess.CompletedProcess(["xds-server", *args], result.exit_code, result.stdout,
                                       result.stderr)
