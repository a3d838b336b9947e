"""The standard output's troubles (outsider F5), for every command that prints: closed (`>&-`)
is exit 2 and one line before anything is done (it was an internal error for `retrieve --out
-`, a silent loss for `query` and `codes`); a reader that left (`| head -1`) is not an error:
exit 0, nothing on stderr (it was exit 1 with no word); a write that fails (/dev/full) is exit 2
and one line naming the standard output."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from .conftest import free_port

INS = "285067512345639^^^&1.2.250.1.213.1.4.10&ISO^NH"
DOWN = f"http://127.0.0.1:{free_port()}"
COMMAND = [sys.executable, "-m", "xds_server.cli"]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("XDS_")}
    env["XDS_SERVER_URL"] = DOWN
    return env


@pytest.mark.parametrize("args", [
    ["retrieve", "1.2.250.1.999.7.1.2", "--out", "-"],
    ["query", "--patient", INS],
    ["codes"],
    ["config"],
    ["patient", "list", "--data-dir", "/nonexistent/var"],
])
def test_a_closed_stdout_is_one_line_and_exit_2_before_anything(args):
    done = subprocess.run([*COMMAND, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          text=True, env=_env(), timeout=60,
                          preexec_fn=lambda: os.close(1))
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1 and "the standard output is closed" in lines[0], done.stderr
    assert "internal error" not in done.stderr and "cannot reach" not in done.stderr


@pytest.mark.parametrize("args", [["codes", "type"], ["codes", "format"], ["config"]])
def test_a_pipe_whose_reader_left_ends_quietly_with_0(args):
    read, write = os.pipe()
    os.close(read)                       # `| head -1` gone before the first line
    try:
        done = subprocess.run([*COMMAND, *args], stdout=write, stderr=subprocess.PIPE,
                              text=True, env=_env(), timeout=60)
    finally:
        os.close(write)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""


def test_a_stdout_that_cannot_be_written_is_one_line_and_exit_2():
    with open("/dev/full", "w") as full:
        done = subprocess.run([*COMMAND, "codes", "type"], stdout=full,
                              stderr=subprocess.PIPE, text=True, env=_env(), timeout=60)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1 and "cannot write the standard output" in lines[0], done.stderr


def test_serve_and_mllp_may_run_with_stdout_closed():
    """Their output is their log, on stderr: a closed stdout stops nothing (here they stop at
    a port that is not free, past the check)."""
    import socket

    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = str(busy.getsockname()[1])
        for args in (["serve", "--port", port], ["mllp", "--port", port]):
            done = subprocess.run([*COMMAND, *args], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True, timeout=60,
                                  env={**_env(), "XDS_PROFILE": "ihe", "XDS_SECURITY": "none",
                                       "XDS_DATA_DIR": "/nonexistent/var"},
                                  preexec_fn=lambda: os.close(1))
            assert done.returncode == 2, done.stderr
            assert "standard output" not in done.stderr and port in done.stderr, done.stderr


def _to_full(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    with open("/dev/full", "w") as full:
        return subprocess.run([*COMMAND, *args], stdout=full, stderr=subprocess.PIPE,
                              text=True, env=env, timeout=60)


def test_a_full_stdout_after_a_change_says_it_was_done_and_exits_0(tmp_path):
    """outsider 18f F2: the change was made and the line said "cannot write", exit 2: a script
    that retried submitted twice. Now: exit 0, a warning saying what was done."""
    env = {**_env(), "XDS_DATA_DIR": str(tmp_path / "var")}
    added = _to_full(["patient", "add", INS], env)
    assert added.returncode == 0, added.stderr
    said = [line for line in added.stderr.splitlines() if line.startswith("warning: done")]
    assert len(said) == 1 and "opened: " in said[0] and "No space left" in said[0], added.stderr
    assert "do not run the command again" in said[0]
    listed = subprocess.run([*COMMAND, "patient", "list"], capture_output=True, text=True,
                            env=env, timeout=60)
    assert "285067512345639" in listed.stdout            # it was done
    closed = _to_full(["patient", "close", INS], env)
    assert closed.returncode == 0 and "done (closed: " in closed.stderr, closed.stderr


@pytest.mark.parametrize("args", [["--version"], ["--help"], ["submit", "--help"]])
def test_help_and_version_to_a_full_stdout_are_one_line_not_a_traceback(args):
    """outsider 18f F3: a Python traceback (OSError 28), exit 1."""
    done = _to_full(args, _env())
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        line for line in done.stderr.strip().splitlines() if "cannot write the standard" in line]


def test_a_broken_stderr_keeps_the_status_and_the_data_clean(tmp_path):
    """outsider 18f F3: with 2>/dev/full every failure was exit 1 ("refused"); with 2>&- the
    usage error went to stdout, into the data."""
    with open("/dev/full", "w") as full:
        done = subprocess.run([*COMMAND, "query", "--patient", "bad"], stdout=subprocess.PIPE,
                              stderr=full, text=True, env=_env(), timeout=60)
    assert done.returncode == 2 and done.stdout == ""
    done = subprocess.run([*COMMAND, "query", "--patient", "bad"], stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL, text=True, env=_env(), timeout=60,
                          preexec_fn=lambda: os.close(2))
    assert done.returncode == 2 and done.stdout == "", done.stdout
