"""Ctrl-C while the CLI is still starting (issue 18, outsider minor 8): "interrupted", exit
130, no traceback; it printed a KeyboardInterrupt traceback from the imports. The CLI's import
is held here (it takes a second or more on a loaded machine) so the signal surely lands in it."""

from __future__ import annotations

import signal
import subprocess
import sys

HELD_IMPORT = """
import builtins, sys, time
real = builtins.__import__
def held(name, globals=None, locals=None, fromlist=(), level=0):
    if level == 1 and name == "cli":
        print("importing", flush=True)
        time.sleep(30)
    return real(name, globals, locals, fromlist, level)
builtins.__import__ = held
sys.argv = ["xds-server", "query", "--patient", "x"]
from xds_server.entry import main
main()
"""


def test_ctrl_c_while_the_cli_imports_prints_no_traceback():
    process = subprocess.Popen([sys.executable, "-c", HELD_IMPORT], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    assert process.stdout.readline() == b"importing\n"
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    text = err.decode()
    assert process.returncode == 130, text
    assert text == "interrupted\n"
