"""Ctrl-C at any moment of a command, `serve`'s start-up included, is "interrupted" and exit
130 (outsider F4): one landing while click parsed the options, or while an error was being
said, gave click's "Aborted!" and exit 1, and one landing while click printed an error killed
the process by SIGINT. Each moment is made certain here: SIGINT is sent from inside it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

MOMENTS = {
    # while the error of a serve that cannot start is described (the outsider's 0.8-1.2 s)
    "describing an error": ("xds_server.cli_errors", "describe"),
    # while click prints a usage error or ClickException
    "printing an error": ("click.exceptions", "ClickException.show"),
    # while click parses the options
    "parsing the options": ("click.core", "Command.parse_args"),
}

SCRIPT = """
import importlib, os, signal, sys
module_name, attribute = sys.argv[1], sys.argv[2]
module = importlib.import_module(module_name)
owner, name = (module, attribute) if "." not in attribute else \\
    (getattr(module, attribute.split(".")[0]), attribute.split(".")[1])
real = getattr(owner, name)
def interrupted(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGINT)
    return real(*args, **kwargs)
setattr(owner, name, interrupted)
sys.argv = ["xds-server", "serve", "--port", "1", "--data-dir", sys.argv[3]]
from xds_server.entry import main
main()
"""


@pytest.mark.parametrize("moment", sorted(MOMENTS))
def test_ctrl_c_at_any_moment_of_serve_is_interrupted_130(tmp_path, moment):
    module, attribute = MOMENTS[moment]
    env = {k: v for k, v in os.environ.items() if not k.startswith("XDS_")}
    done = subprocess.run([sys.executable, "-c", SCRIPT, module, attribute,
                           str(tmp_path / "var")], capture_output=True, text=True, env=env,
                          timeout=120)
    assert done.returncode == 130, (done.returncode, done.stderr[-2000:])
    assert done.stderr.strip().splitlines()[-1] == "interrupted", done.stderr
    assert "Aborted!" not in done.stderr and "Traceback" not in done.stderr, done.stderr
