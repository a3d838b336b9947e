"""`serve` runs with its standard output closed (its output is the log, on stderr), so its
stop must too: leave() flushed sys.stdout, which Python sets to None when fd 1 is closed at
start, and ended in an AttributeError traceback and exit 1 instead of 0."""

from __future__ import annotations

import os
import subprocess
import sys

LEAVE = "from xds_server.serving.leaving import leave\nleave(0)\n"


def test_leave_with_stdout_closed_exits_0_without_traceback():
    done = subprocess.run([sys.executable, "-c", LEAVE], stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True, timeout=60,
                          preexec_fn=lambda: os.close(1))
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
