"""Ctrl-C while the CLI is still starting (issue 18, outsider minor 8): "interrupted", exit
130, no traceback; it printed a KeyboardInterrupt traceback from the imports."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest


@pytest.mark.parametrize("delay", [0.3, 0.6])
def test_ctrl_c_while_starting_prints_no_traceback(delay, tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-m", "xds_server.entry", "query", "--patient", "x^^^&1.2.3&ISO",
         "--server", "http://127.0.0.1:9", "--timeout", "30"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path)
    time.sleep(delay)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    text = err.decode()
    assert "Traceback" not in text and "KeyboardInterrupt" not in text, text
    if process.returncode == 130:
        assert "interrupted" in text
    else:           # the command ended before the signal: a refused connection, exit 2
        assert process.returncode == 2, text
