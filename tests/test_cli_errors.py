"""Every `xds-server` command, given bad input or a broken environment, ends with one line saying
what and how to fix it, and the documented exit status (cli_errors.py): never a traceback.

The table covers every command of the tree: a new command without a row here fails
`test_every_command_has_a_bad_input_case`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from xds_server import cli_consumer
from xds_server.cli import main

from .cli_run import run_in_process
from .conftest import REFERENCE, free_port

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "cda_samples" / "VSM_synthese.xml"
HL7 = (REFERENCE / "hl7v2" / "ansforge-hl7v2-exemples" / "Vague 2" / "Trans_Doc-CDA-HL7V2" /
       "TRANSMISSION_DOCS_CDA_EN_HL7V2_V2.1" / "ORU" / "Transmission initiale ORU" /
       "message_ORU_CR_Bio_INIT_N3_SEGUR.hl7")
INS = "285067512345639^^^&1.2.250.1.213.1.4.10&ISO^NH"
TEST_PATIENT = "XDSCONF0123456789AB^^^&1.3.6.1.4.1.21367.13.20.1000&ISO"   # a run's
DOWN_DB = "postgresql+psycopg://nobody@127.0.0.1:1/none"
DOWN = f"http://127.0.0.1:{free_port()}"   # nothing listens there

# command → [(arguments, environment, exit status, words the one error line must hold)]
CASES: dict[str, list[tuple[list[str], dict[str, str], int, str]]] = {
    "mllp": [(["--port", "99999"], {}, 2, "99999 is not in the range"),
             ([], {"XDS_MLLP_PORT": "70000"}, 2, "mllp_port from XDS_MLLP_PORT: at most 65535"),
             ([], {"XDS_MLLP_MAX_CONNECTIONS": "abc"}, 2, "XDS_MLLP_MAX_CONNECTIONS")],
    "hl7 send": [(["/nonexistent/x.er7", "--to", "127.0.0.1:9"], {}, 2, "does not exist"),
                 ([str(HL7), "--to", "nohostport"], {}, 2, "HOST:PORT"),
                 ([str(HL7), "--to", "127.0.0.1:0"], {}, 2, "the port 1 to 65535"),
                 ([str(HL7), "--to", "127.0.0.1:99999"], {}, 2, "the port 1 to 65535"),
                 ([str(HL7), "--to", "bad\nhost:2575"], {}, 2,
                  "'--to': 'bad\\nhost:2575' holds the control character U+000A"),
                 ([str(HL7), "--to", DOWN.split("//")[-1].split("/")[0]], {}, 2,
                  "cannot connect")],
    "serve": [(["--client-cert", "required"], {}, 2, "needs HTTPS"),
              (["--certfile", "/nonexistent/cert.pem", "--keyfile", "/nonexistent/k"], {}, 2,
               "/nonexistent/cert.pem")],
    "config": [([], {"XDS_MAX_REQUEST_BYTES": "abc"}, 2, "max_request_bytes from "
                "XDS_MAX_REQUEST_BYTES"),
               ([], {"XDS_CONFIG": "/nonexistent/xds.toml"}, 2, "does not exist")],
    "db upgrade": [([], {"XDS_DATABASE_URL": DOWN_DB}, 2, "the database cannot be used")],
    "db fill-forms": [([], {"XDS_DATABASE_URL": DOWN_DB}, 2, "the database cannot be used"),
                      (["--seconds", "soon"], {}, 2, "'soon' is not a number of seconds")],
    "patient add": [(["not-a-cx"], {}, 2, "is not a CX identifier"),
                    ([INS, "--data-dir", "/proc"], {}, 2,
                     "the data directory /proc cannot hold this installation")],
    "patient close": [(["1^^^&1.2.3&ISO"], {}, 2, "no installation in"),
                      (["garbage"], {}, 2, "is not a CX identifier")],
    "patient forget": [(["1^^^&1.2.3&ISO"], {}, 2, "no installation in"),
                       (["1^^^&1.2.3"], {}, 2, "is not a CX identifier")],
    "patient list": [([], {"XDS_DATABASE_URL": DOWN_DB}, 2, "check XDS_DATABASE_URL"),
                     ([], {}, 2, "no installation in")],
    "submit": [([str(SAMPLE), "--patient", INS, "--repository", "notaurl"], {}, 2,
                "'notaurl' is not an http(s) URL"),
               ([str(SAMPLE), "--patient", "garbage"], {}, 2, "'garbage' is not a patient id"),
               (["/dev/null", "--patient", INS], {}, 2, "is not a regular file"),
               ([str(ROOT / "LICENSE"), "/dev/zero", "--patient", INS], {}, 2,
                "/dev/zero is not a regular file"),
               ([str(SAMPLE), "--patient", INS, "--server", DOWN], {}, 2,
                "is the server running?"),
               ([str(ROOT / "cda_samples"), "--patient", INS, "--pattern", "*.none"], {}, 2,
                "no file matching '*.none'"),
               ([str(SAMPLE), "--patient", INS, "--class", "nocode"], {}, 2,
                "is not code^^codingScheme"),
               ([str(SAMPLE), "--patient", INS, "--sign-key", str(SAMPLE)], {}, 2,
                "needs both --sign-key and --sign-cert")],
    "query": [(["--patient", INS, "--server", "http://exa mple"], {}, 2,
               "--server: 'http://exa mple': the host 'exa mple' is not a valid name"),
              (["--patient", INS, "--server", ""], {}, 2, "'--server': an empty value"),
              (["--patient", INS, "--server", "http://127.0.0.1:0"], {}, 2,
               "the port is not a number between 1 and 65535"),
              (["--patient", INS, "--server", "http://exa\nmple"], {}, 2,
               "'--server': 'http://exa\\nmple' holds the control character U+000A"),
              (["--patient", INS, "--registry", f"http://{'a' * 64}.example/"], {}, 2,
               "--registry: 'http://aaaa"),
              (["--patient", INS, "--status", "Foo"], {}, 2,
               "'Foo' is not an availability status"),
              (["--patient", "123"], {}, 2, "'123' is not a patient id"),
              (["--patient", INS], {"XDS_SERVER_URL": DOWN}, 2, f"cannot reach {DOWN}"),
              (["--patient", INS], {"XDS_CLIENT_REGISTRY_URL": "ftp://x"}, 2,
               "XDS_CLIENT_REGISTRY_URL: 'ftp://x' is not an http(s) URL"),
              # serve's remote registry is not the client's: XDS_SERVER_URL's is asked
              (["--patient", INS], {"XDS_REGISTRY_URL": "http://127.0.0.1:1/x",
                                    "XDS_SERVER_URL": DOWN}, 2, f"cannot reach {DOWN}")],
    "retrieve": [(["1.2.3", "--out", "x.xml", "--registry", "http://[::1"], {}, 2,
                  "--registry: 'http://[::1' is not a URL"),
                 (["1.2.3", "--out", "/nonexistent/x"], {}, 2,
                  "the directory /nonexistent does not exist"),
                 (["1.2.3", "--out", "/"], {}, 2, "is a directory"),
                 (["1.2.3", "--out", "x.xml", "--server", DOWN], {}, 2, "cannot reach"),
                 (["not an oid", "--out", "x.xml"], {}, 2, "is not a document uniqueId")],
    "update mask": [(["1.2.3", "--server", DOWN], {}, 2, "cannot reach"),
                    (["bad id"], {}, 2, "'bad id' is not a document uniqueId"),
                    (["1.2.3", "--code", "SECRET"], {}, 2, "'SECRET' is not one of")],
    "update unmask": [(["1.2.3", "--server", DOWN], {}, 2, "cannot reach")],
    "update archive": [(["1.2.3", "--server", DOWN], {}, 2, "cannot reach")],
    "update unarchive": [(["1.2.3", "--server", DOWN], {}, 2, "cannot reach")],
    "update delete": [(["1.2.3", "--patient", "x"], {}, 2, "'x' is not a patient id")],
    "update version": [(["1.2.3", "--confidentiality", "X"], {}, 2,
                        "'X^^2.16.840.1.113883.5.25' is not in J08")],
    "remove": [(["1.2.3", "--metadata-only", "--documents-only"], {}, 2, "exclude each other"),
               (["1.2.3", "--server", DOWN], {}, 2, "cannot reach"),
               (["1.2.3", "bad"], {}, 2, "'bad' is not a document uniqueId")],
    "backup": [(["--out", str(ROOT)], {"XDS_DATA_DIR": str(ROOT / "schemas")}, 2,
                "is not empty: give a new or empty directory"),
               (["--out", "b"], {"XDS_DATA_DIR": "/nonexistent/var"}, 2,
                "no data directory /nonexistent/var")],
    "restore": [([str(ROOT / "docs")], {}, 2, "is not a complete backup"),
                (["/nonexistent/backup"], {}, 2, "does not exist")],
    "validate": [(["/nonexistent/cda.xml"], {}, 2, "cannot read"),
                 # a readable file that is not a CDA is an invalid document (cli.md: 1)
                 ([str(ROOT / "cda_samples" / "build.py")], {}, 1, "INVALID\n  error [not-cda]"),
                 (["/dev/null"], {}, 1, "the file is empty")],
    "kit install": [(["--from", str(ROOT / "tests")], {}, 2,
                     "is not an ANS TestContenuCDA tree")],
    "audit show": [(["--patient", INS, "--since", "yesterday"], {}, 2,
                    "'yesterday' is not a date"),
                   (["--patient", INS, "--data-dir", "/nonexistent/deep"], {}, 2,
                    "no installation in /nonexistent/deep")],
    "audit export": [(["--out", "/nonexistent/audit.xml"], {}, 2,
                      "cannot write /nonexistent/audit.xml: the directory /nonexistent does not"),
                     (["--out", "audit.xml"], {}, 2, "no installation in")],
    "conformance run": [(["--nist-testkit", str(ROOT / "docs"), "--registry", DOWN], {}, 2,
                         "no toolkit test"),
                        (["--nist-testkit", str(ROOT / "tests"), "--registry", "notaurl"], {},
                         2, "notaurl"),
                        (["--nist-testkit", str(ROOT / "tests"), "--registry", DOWN,
                          "--repository", "http://exa mple/x"], {}, 2,
                         "--repository: 'http://exa mple/x': the host"),
                        (["--nist-testkit", str(ROOT / "tests"), "--registry", DOWN,
                          "--junit", "/nonexistent/junit.xml"], {}, 2,
                         "cannot write /nonexistent/junit.xml")],
    "conformance clean": [(["--registry", DOWN, "--patient", TEST_PATIENT], {}, 2,
                           "nothing was removed"),
                          (["--registry", DOWN, "--patient", INS], {}, 2,
                           "not a patient a conformance run allocates"),
                          (["--registry", DOWN, "--patient", "x"], {}, 2,
                           "'x' is not a patient id"),
                          (["--registry", "notaurl", "--patient", INS], {}, 2, "notaurl")],
    "codes": [(["nope"], {}, 2, "'nope' is not one of")],
}


def _leaves(group: click.Group, prefix: str = "") -> list[str]:
    names = []
    for name, command in group.commands.items():
        path = f"{prefix}{name}"
        names += _leaves(command, path + " ") if isinstance(command, click.Group) else [path]
    return names


def test_every_command_has_a_bad_input_case():
    missing = sorted(set(_leaves(main)) - set(CASES))
    assert missing == [], f"add a bad-input case to CASES for: {', '.join(missing)}"
    assert sorted(CASES) == sorted(_leaves(main))          # and no case for a command gone


def _one_error_line(output: str, words: str) -> None:
    assert "Traceback" not in output
    errors = [line for line in output.splitlines() if line.startswith("Error:")]
    assert len(errors) <= 1, output
    # validate reports each file (the error is its report's line); the others one Error: line
    assert words in (errors[0] if errors else output), output


IN_PROCESS = [(name, *case) for name, cases in CASES.items() if name != "serve"
              for case in cases]


@pytest.mark.parametrize(("command", "args", "env", "status", "words"), IN_PROCESS,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(IN_PROCESS)])
def test_bad_input_is_one_line_and_a_status(command, args, env, status, words, tmp_path,
                                            monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in [n for n in os.environ if n.startswith("XDS_")]:
        monkeypatch.delenv(name)
    result = CliRunner().invoke(main, [*command.split(), *args],
                                env={"XDS_DATA_DIR": str(tmp_path / "var"), **env})
    assert isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == status, result.output
    _one_error_line(result.output, words)


def _run(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None):
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("XDS_")}
    child_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "xds_server.cli", *args], capture_output=True,
                          text=True, env=child_env, timeout=120, cwd=cwd)


@pytest.mark.parametrize(("env", "words"), [
    ({"XDS_SECURITY": "vihf", "XDS_REQUIRE_SUBMISSION_SIGNATURE": "false"},
     "XDS_SECURITY=vihf needs XDS_VIHF_TRUSTED_CERTS"),
    ({}, "XDS_SECURITY=vihf needs XDS_VIHF_TRUSTED_CERTS"),      # the cisis defaults
    ({"XDS_SECURITY": "none"}, "XDS_REQUIRE_SUBMISSION_SIGNATURE=true (the default in the "
     "cisis profile) needs XDS_SIGNATURE_TRUSTED_CERTS"),
    ({"XDS_PROFILE": "fr"}, "profile from XDS_PROFILE: expected one of cisis, ihe"),
])
def test_serve_without_its_settings_says_which(env, words, tmp_path):
    """The issue's first finding: `serve` on the cisis defaults ended in a traceback."""
    done = _run("serve", "--port", str(free_port()), cwd=tmp_path,
                env={"XDS_DATA_DIR": str(tmp_path / "var"), **env})
    assert done.returncode == 2
    _one_error_line(done.stderr, words)
    assert not (tmp_path / "var").exists()          # said before anything was made


def test_audit_reads_make_no_data_directory(tmp_path):
    """`audit show`/`audit export` on a data directory that does not exist made one (issue 18,
    R4): a read says there is no installation and leaves nothing."""
    for args in (["audit", "show", "--patient", INS],
                 ["audit", "export", "--out", str(tmp_path / "a.xml")]):
        result = CliRunner().invoke(main, [*args, "--data-dir", str(tmp_path / "none" / "var")])
        assert result.exit_code == 2
        _one_error_line(result.output, "no installation in")
    assert sorted(p.name for p in tmp_path.iterdir()) == []


@pytest.mark.parametrize(("args", "words"), [
    (["--port", "99999"], "'--port': 99999 is not in the range 1<=x<=65535"),
    (["--port", "0"], "'--port': 0 is not in the range"),
    (["--mllp-port", "70000"], "'--mllp-port': 70000 is not in the range"),
    (["--workers", "0"], "'--workers': 0 is not in the range x>=1"),
])
def test_serve_says_a_number_out_of_range_as_such(args, words, tmp_path):
    """`serve --port 99999` said 'another server there?' (issue 18, R12): refused as an option
    out of range, before anything is made."""
    result = CliRunner().invoke(main, ["serve", *args],
                                env={"XDS_DATA_DIR": str(tmp_path / "var")})
    assert result.exit_code == 2
    _one_error_line(result.output, words)
    assert "another server" not in result.output and not (tmp_path / "var").exists()


def test_serve_on_a_port_in_use_says_so_at_once(tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = _run("serve", "--port", str(port), cwd=tmp_path,
                    env={"XDS_DATA_DIR": str(tmp_path / "var"), "XDS_PROFILE": "ihe"})
    assert done.returncode == 2
    _one_error_line(done.stderr, f"cannot listen on 127.0.0.1:{port}: Address already in use")


@pytest.mark.parametrize(("args", "words"), [
    (["submit", str(SAMPLE), "--patient", INS, "--repository", "notaurl"], "notaurl"),
    (["retrieve", "1.2.3", "--out", "/nonexistent/x"], "/nonexistent does not exist"),
    (["query", "--patient", INS, "--server", DOWN], "is the server running?"),
])
def test_the_issues_examples_from_a_shell(args, words, tmp_path):
    done = _run(*args, cwd=tmp_path)
    assert done.returncode == 2
    _one_error_line(done.stderr, words)


def test_an_unexpected_failure_is_one_line_unless_debugging(tmp_path, monkeypatch):
    """A bug still ends in one line (exit 2) that says how to get the details."""
    monkeypatch.chdir(tmp_path)

    def broken(*_args, **_kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(cli_consumer, "report_registry_reply", broken)
    monkeypatch.setattr("xds_server.cli_client.Connection.registry",
                        lambda self, patient=None: type("C", (), {"call": broken})())
    result = CliRunner().invoke(main, ["query", "--patient", INS], env={"XDS_DEBUG": ""})
    assert result.exit_code == 2
    _one_error_line(result.output, "internal error: RuntimeError: boom")
    assert "XDS_DEBUG=1" in result.output
    debugging = CliRunner().invoke(main, ["query", "--patient", INS], env={"XDS_DEBUG": "1"})
    assert isinstance(debugging.exception, RuntimeError)


def test_a_progress_bar_only_on_a_terminal(monkeypatch, capsys):
    """Long commands draw a bar on a terminal's stderr; piped, they print their lines only."""
    from xds_server import cli_progress

    for terminal in (True, False):
        monkeypatch.setattr(cli_progress, "_interactive", lambda on=terminal: on)
        with cli_progress.progress(3, "submitting", "document") as bar:
            for name in ("a", "b", "c"):
                bar.say(f"sent {name}")
                bar.advance()
        out, err = capsys.readouterr()
        assert out.splitlines() == ["sent a", "sent b", "sent c"]
        assert ("submitting" in err and "/3" in err) if terminal else err == ""


def test_patient_commands_open_no_database_of_their_own(tmp_path):
    """A read, or a command run from the wrong directory, made an empty database there and
    answered from it (issue 18, M6): only `patient add` on a data directory named creates one,
    and says so; on an installation, close and forget answer from its records."""
    nowhere = tmp_path / "nonexistent" / "deep"
    # from a shell once (the status and the one line a shell sees), the others in this process
    for run, args in ((_run, ["patient", "add", INS]),       # from a directory holding no var/
                      (run_in_process, ["patient", "list", "--data-dir", str(nowhere)]),
                      (run_in_process, ["patient", "close", "1^^^&1.2.3&ISO", "--data-dir",
                                        str(nowhere)])):
        done = run(*args, cwd=tmp_path)
        assert done.returncode == 2, done.stderr
        _one_error_line(done.stderr, "no installation in")
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    site = tmp_path / "site"
    created = run_in_process("patient", "add", INS, "--data-dir", str(site), cwd=tmp_path)
    assert created.returncode == 0 and "a new installation in" in created.stderr
    listed = run_in_process("patient", "list", "--data-dir", str(site), cwd=tmp_path)
    assert listed.returncode == 0 and INS.split("^")[0] in listed.stdout
    closed = run_in_process("patient", "close", "1^^^&1.2.3&ISO", "--data-dir", str(site),
                            cwd=tmp_path)
    assert closed.returncode == 1
    _one_error_line(closed.stderr, "no open record for 1^^^&1.2.3&ISO")


# Each class of unusable environment the outsider tried (issue 18, m1), given to every command
# with arguments that are otherwise fine: whatever the command, it ends with a line saying what
# to fix, never the last-resort "internal error".
BAD_ENVIRONMENTS: dict[str, dict[str, str]] = {
    "database URL garbage": {"XDS_DATABASE_URL": "garbage"},
    "database URL of another kind": {"XDS_DATABASE_URL": "mysql://x/y"},
    "database URL of a driver not installed": {"XDS_DATABASE_URL": "postgresql+psycopg2://x/y"},
    "registry URL not a URL": {"XDS_REGISTRY_URL": "notaurl"},
    "server URL unclosed IPv6": {"XDS_SERVER_URL": "http://[::1"},
    "server URL bad port": {"XDS_SERVER_URL": "http://127.0.0.1:http/"},
    "server URL host with a space": {"XDS_SERVER_URL": "http://exa mple"},
    "repository URL label too long": {"XDS_REPOSITORY_URL": f"http://{'a' * 64}.example/"},
    "client registry URL port out of range": {"XDS_CLIENT_REGISTRY_URL": "http://h:99999/"},
    "audit repository URL host with a space": {"XDS_ATNA_URL": "tls://exa mple:6514"},
    "room kept 0": {"XDS_MIN_FREE_BYTES": "0"},
    "sqlite database in a directory that does not exist":
        {"XDS_DATABASE_URL": "sqlite:////nonexistent/deep/registry.sqlite3"},
    "a limit of 0": {"XDS_MAX_DOCUMENT_BYTES": "0", "XDS_HEAD_TIMEOUT": "0"},
    "repository id not an OID": {"XDS_REPOSITORY_UNIQUE_ID": "notanoid"},
    "data dir is a file": {"XDS_DATA_DIR": "/etc/hostname"},
    "data dir not writable": {"XDS_DATA_DIR": "/proc/xds-server"},
}
RUNS_UNTIL_STOPPED = {"serve", "mllp"}          # given only environments refused at load


def _fine_arguments(tmp_path: Path) -> dict[str, list[str]]:
    return {
        "mllp": ["--port", str(free_port())],
        "hl7 send": [str(HL7), "--to", DOWN.split("//")[-1]],
        "serve": ["--port", str(free_port())],
        "config": [], "db upgrade": [], "db fill-forms": [], "patient add": [INS],
        "patient close": [INS],
        "patient forget": [INS], "patient list": [],
        "submit": [str(SAMPLE), "--patient", INS], "query": ["--patient", INS],
        "retrieve": ["1.2.3", "--out", str(tmp_path / "x.xml")],
        **{f"update {name}": ["1.2.3"] for name in ("mask", "unmask", "archive", "unarchive",
                                                    "delete", "version")},
        "remove": ["1.2.3"], "backup": ["--out", str(tmp_path / "backup")],
        "restore": [str(ROOT / "docs")], "validate": [str(SAMPLE)],
        "kit install": ["--from", str(ROOT / "tests")], "audit show": ["--patient", INS],
        "audit export": ["--out", str(tmp_path / "audit.xml")],
        "conformance run": ["--nist-testkit", str(ROOT / "tests"), "--registry", DOWN],
        "conformance clean": ["--registry", DOWN, "--patient", TEST_PATIENT],
        "codes": ["confidentiality"],
    }


REFUSED_AT_LOAD = [name for name in BAD_ENVIRONMENTS if not name.startswith("data dir")]


@pytest.mark.parametrize("environment", list(BAD_ENVIRONMENTS))
def test_no_unusable_environment_reaches_the_internal_error_line(environment, tmp_path,
                                                                 monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in [n for n in os.environ if n.startswith("XDS_")]:
        monkeypatch.delenv(name)
    arguments = _fine_arguments(tmp_path)
    assert sorted(arguments) == sorted(_leaves(main))       # every command
    env = {"XDS_DATA_DIR": str(tmp_path / "var"), "XDS_SERVER_URL": DOWN, "XDS_PROFILE": "ihe",
           **BAD_ENVIRONMENTS[environment]}
    for command, args in arguments.items():
        if command in RUNS_UNTIL_STOPPED and environment not in REFUSED_AT_LOAD:
            continue
        result = CliRunner().invoke(main, [*command.split(), *args], env=env)
        assert "internal error" not in result.output, (command, result.output)
        assert "Traceback" not in result.output, (command, result.output)
        if environment in REFUSED_AT_LOAD and command not in ("validate", "hl7 send"):
            assert result.exit_code == 2, (command, result.output)


def test_a_retrieved_document_is_written_whole_or_not_at_all(tmp_path, monkeypatch):
    """A file that cannot be written is named, and nothing is left under its name: not a
    truncated document on a full disk (issue 18, m2)."""
    import errno

    from xds_server.cli_errors import Unusable, write_whole

    with pytest.raises(Unusable, match="cannot write /proc/version"):
        write_whole(Path("/proc/version"), b"document")
    target = tmp_path / "document.xml"

    def disk_full(_fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(Unusable, match=f"cannot write {target}: No space left on device"):
        write_whole(target, b"document" * 1000)
    assert list(tmp_path.iterdir()) == []
    monkeypatch.undo()
    write_whole(target, b"document")
    assert target.read_bytes() == b"document" and list(tmp_path.iterdir()) == [target]


def test_an_interrupted_submit_says_what_was_done_and_exits_130(tmp_path):
    """Ctrl-C during a bulk submit: the count so far and the document left in doubt, exit 130
    as shells report SIGINT (issue 18, m3: 'Aborted!', exit 1, no count)."""
    import signal
    import socket
    import time

    with socket.socket() as silent:          # accepts, never answers: the send hangs
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        child = {k: v for k, v in os.environ.items() if not k.startswith("XDS_")}
        process = subprocess.Popen(
            [sys.executable, "-m", "xds_server.cli", "submit", str(ROOT / "cda_samples"),
             "--patient", INS, "--server", url], stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, env=child, cwd=tmp_path,
            # as from a terminal: a pytest-xdist worker ignores SIGINT, and a child inherits an
            # ignored signal (Python then installs no KeyboardInterrupt for it)
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        deadline = time.monotonic() + 30
        connection = None
        while connection is None and time.monotonic() < deadline:
            silent.settimeout(1)
            try:
                connection, _ = silent.accept()
            except TimeoutError:
                assert process.poll() is None, process.communicate()
        assert connection is not None
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
        connection.close()
    assert process.returncode == 130, (out, err)
    assert "0 submitted, 0 refused, interrupted at" in out
    assert "Traceback" not in err and "interrupted" in err


def test_hl7_send_sends_nothing_but_hl7_v2_messages(tmp_path):
    """`hl7 send /etc/shadow --to host:port` sent the password file in clear to the peer (issue
    18, M3): every file is checked as the listener reads a message before the connection is
    opened, and a refusal names the file and why, exit 2; nothing reaches the listener."""
    import socket

    binary, two, bad_encoding, latin = (tmp_path / n for n in ("b.hl7", "two.hl7", "enc.hl7",
                                                                "t.hl7"))
    binary.write_bytes(b"MSH|^~\\&|A\x00\x01\x02")
    message = HL7.read_bytes()
    two.write_bytes(message + b"\r" + message)
    bad_encoding.write_bytes(b"MSH|^^|A|B|C|D|20240101||ADT^A28|1|P|2.5\r")
    latin.write_text("root:*:19000:0:99999:7:::\n")
    fifo = tmp_path / "fifo.hl7"
    os.mkfifo(fifo)
    cases = {str(ROOT / "LICENSE"): "does not start with an MSH segment",
             str(latin): "does not start with an MSH segment",
             "/dev/zero": "not a regular file", str(fifo): "not a regular file",
             str(binary): "binary content", str(two): "holds 2 messages",
             str(bad_encoding): "MSH-2"}
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        listener.setblocking(False)
        port = listener.getsockname()[1]
        for name, words in cases.items():
            result = CliRunner().invoke(main, ["hl7", "send", str(HL7), name,
                                               "--to", f"127.0.0.1:{port}"])
            assert result.exit_code == 2, (name, result.output)
            assert words in result.output and name in result.output, result.output
            assert "nothing was sent" in result.output
            with pytest.raises(BlockingIOError):    # no connection was ever opened
                listener.accept()


READS = {"patient list": [], "patient close": [INS], "patient forget": [INS],
         "audit show": ["--patient", INS], "audit export": ["--out", "audit.xml"]}


def test_a_read_never_installs_a_schema_on_either_database(database_url, tmp_path, monkeypatch):
    """On PostgreSQL, `patient list` and `audit export` against an empty database installed the
    whole schema and answered empty, exit 0 (issue 18, M2): a URL with a typo got a new
    installation. One rule on both databases: no installation, exit 2, nothing made."""
    from sqlalchemy import create_engine, inspect

    monkeypatch.chdir(tmp_path)
    env = {"XDS_DATABASE_URL": database_url, "XDS_DATA_DIR": str(tmp_path / "var"),
           "XDS_PROFILE": "ihe"}
    for command, args in READS.items():
        result = CliRunner().invoke(main, [*command.split(), *args], env=env)
        assert result.exit_code == 2, (command, result.output)
        assert "no installation" in result.output, (command, result.output)
    assert not (tmp_path / "audit.xml").exists()
    if database_url.startswith("sqlite"):
        assert not (tmp_path / "var").exists()
        return
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            assert inspect(connection).get_table_names() == []
    finally:
        engine.dispose()
    # the command that makes an installation still does, on the database its URL names
    result = CliRunner().invoke(main, ["patient", "add", INS], env=env)
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(main, ["patient", "list"], env=env)
    assert result.exit_code == 0 and "285067512345639" in result.output, result.output


def test_connection_options_are_checked_before_anything_is_sent(tmp_path):
    """retrieve and remove checked --repository only after their ITI-18 had gone to the
    registry; --vihf-purpose, a --vihf-key that is not --vihf-cert's, --cert without --key and
    an endpoint given as --server reached the server or the TLS library (issue 18, m6, m7,
    m16): each is one line naming the option, exit 2, and no connection is opened."""
    import socket

    from xds_server.cli_client import PURPOSES
    from xds_server.security.vihf_reading import PURPOSES as ACCEPTED

    from .dsig_data import SealAuthority

    assert PURPOSES == ACCEPTED
    pki = SealAuthority.create(tmp_path / "pki")
    key, cert = (str(p) for p in pki.files("seal"))
    _, impostor = (str(p) for p in pki.files("impostor"))
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        listener.setblocking(False)
        server = f"http://127.0.0.1:{listener.getsockname()[1]}"
        cases = [
            (["--repository", ""], "--repository"),
            (["--repository", "http://127.0.0.1:0/"], "between 1 and 65535"),
            (["--vihf-purpose", "urgence"], "'urgence' is not one of"),
            (["--vihf-key", key, "--vihf-cert", impostor], "the key does not match the"),
            (["--vihf-key", str(pki.trusted), "--vihf-cert", cert], "not a PEM private key"),
            (["--cert", cert], "holds no private key: give it with --key"),
            (["--cert", cert, "--key", str(pki.files("impostor")[0])], "--cert must be a PEM"),
            (["--server", server + "/xds/registry"], "is an endpoint: --server takes the"),
        ]
        for options, words in cases:
            for command in (["retrieve", "1.2.3", "--out", str(tmp_path / "x")],
                            ["remove", "1.2.3"]):
                arguments = [*command, *options]
                if "--server" not in options:
                    arguments += ["--server", server]
                result = CliRunner().invoke(main, arguments)
                assert result.exit_code == 2, (arguments, result.output)
                assert words in result.output, (arguments, result.output)
                assert "(1, '" not in result.output and "PEM lib" not in result.output
                with pytest.raises(BlockingIOError):    # nothing was sent
                    listener.accept()
    assert not (tmp_path / "x").exists()


def test_plain_http_to_a_server_that_hangs_up_hints_at_https(tmp_path):
    """`--server http://…` against an HTTPS server said only 'Remote end closed connection
    without response; is the server running?' (issue 18, m7): the hint names https://."""
    import socket
    import threading

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)

        def hang_up() -> None:          # what an HTTPS server does with plain HTTP
            for _ in range(2):
                try:
                    connection, _ = listener.accept()
                except OSError:
                    return
                with connection:
                    connection.recv(65536)

        threading.Thread(target=hang_up, daemon=True).start()
        result = CliRunner().invoke(main, ["query", "--patient", INS, "--server",
                                           f"http://127.0.0.1:{listener.getsockname()[1]}"])
    assert result.exit_code == 2, result.output
    assert "if the server speaks HTTPS, give its URL with https://" in result.output


def test_audit_export_is_written_whole_or_names_the_file(tmp_path, monkeypatch):
    """`audit export --out` on a full disk said 'No space left on device' and left a 0-byte
    file under the name; on /proc/version 'Input/output error' (issue 18, m2): retrieve's rule,
    the file named and nothing left under it."""
    import errno

    env = {"XDS_DATA_DIR": str(tmp_path / "var"), "XDS_PROFILE": "ihe"}
    assert CliRunner().invoke(main, ["patient", "add", INS, "--data-dir",
                                     str(tmp_path / "var")], env=env).exit_code == 0
    out = tmp_path / "out"
    out.mkdir()
    target = out / "audit.xml"

    def disk_full(_fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", disk_full)
    result = CliRunner().invoke(main, ["audit", "export", "--out", str(target)], env=env)
    monkeypatch.undo()
    assert result.exit_code == 2, result.output
    assert f"cannot write {target}: No space left on device; nothing was written there" \
        in result.output
    assert list(out.iterdir()) == []
    result = CliRunner().invoke(main, ["audit", "export", "--out", "/proc/version"], env=env)
    assert result.exit_code == 2 and "cannot write /proc/version" in result.output


def test_restore_names_its_target_and_keeps_the_servers_room(tmp_path, monkeypatch):
    """restore on a full disk named the backup's file ('bk/database/registry.sqlite3: No space
    left on device'); with a few hundred KiB free it succeeded and `serve` then refused to
    start for want of XDS_MIN_FREE_BYTES (issue 18, m3)."""
    import collections
    import errno
    import shutil

    from xds_server.store import restore as store_restore

    used, backup, target = tmp_path / "var", tmp_path / "backup", tmp_path / "new"
    env = {"XDS_DATA_DIR": str(used), "XDS_PROFILE": "ihe"}
    assert CliRunner().invoke(main, ["db", "upgrade"], env=env).exit_code == 0
    assert CliRunner().invoke(main, ["backup", "--out", str(backup)], env=env).exit_code == 0
    env["XDS_DATA_DIR"] = str(target)
    usage = collections.namedtuple("usage", "total used free")
    real = shutil.disk_usage
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(1 << 30, 0, 300 * 1024))
    result = CliRunner().invoke(main, ["restore", str(backup)], env=env)
    monkeypatch.setattr(shutil, "disk_usage", real)
    assert result.exit_code == 2, result.output
    assert f"cannot restore into {target}: the backup holds" in result.output
    assert "XDS_MIN_FREE_BYTES" in result.output and not target.exists()

    def disk_full(source, *_args, **_kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC),
                      str(source / "database" / "registry.sqlite3"))

    monkeypatch.setattr(store_restore, "restore", disk_full)
    result = CliRunner().invoke(main, ["restore", str(backup)], env=env)
    assert result.exit_code == 2, result.output
    assert f"cannot restore into {target}: No space left on device; nothing was left there" \
        in result.output
    assert str(backup) not in result.output.split("Error:")[-1] and not target.exists()


def test_a_full_database_disk_is_said_as_such():
    """`patient add` on a full disk said 'the database cannot be used … (check XDS_DATABASE_URL
    and that the database is running)': the wrong hint (issue 18, m3)."""
    import sqlite3

    from sqlalchemy.exc import OperationalError

    from xds_server.cli_errors import describe
    from xds_server.store.database import StoreFull

    full = OperationalError("INSERT …", {}, sqlite3.OperationalError("database or disk is full"))
    for exc in (full, StoreFull("database or disk is full")):
        said = describe(exc)
        assert said.startswith("the database's disk is full") and "free space" in said
        assert "XDS_DATABASE_URL" not in said
    down = OperationalError("SELECT 1", {}, sqlite3.OperationalError("unable to open database"))
    assert "check XDS_DATABASE_URL" in describe(down)


def test_the_client_timeout_is_a_setting_and_an_option(tmp_path):
    """A silent server kept a client command waiting about 122 s, neither documented nor
    settable (issue 18, m8): --timeout, else XDS_CLIENT_TIMEOUT (60 s)."""
    import socket
    import time

    from xds_server.config import load_settings

    assert load_settings({}, environ={}).client_timeout == 60.0
    with socket.socket() as silent:          # accepts, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        server = f"http://127.0.0.1:{silent.getsockname()[1]}"
        for options, env in ((["--timeout", "0.5"], {}), ([], {"XDS_CLIENT_TIMEOUT": "0.5"})):
            started = time.monotonic()
            result = CliRunner().invoke(main, ["query", "--patient", INS, "--server", server,
                                               *options], env=env)
            assert result.exit_code == 2 and "no answer in time" in result.output, result.output
            assert time.monotonic() - started < 10
    result = CliRunner().invoke(main, ["query", "--patient", INS, "--timeout", "0"])
    assert result.exit_code == 2 and "--timeout" in result.output
