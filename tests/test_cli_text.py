"""One rule for every text and path option of the tree (cli_text.py, outsider 18f F4, F6):
given empty, or a text holding a control character, it is a usage error naming it, exit 2,
before anything is done; never taken for the current directory, the default, or an internal
error."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from xds_server.cli import main
from xds_server.cli_text import MULTI_LINE, bad_character

from .test_cli_errors import INS, RUNS_UNTIL_STOPPED, SAMPLE, _fine_arguments, _leaves


def _command(path: str) -> click.Command:
    command: click.Command = main
    for name in path.split():
        assert isinstance(command, click.Group)
        command = command.commands[name]
    return command


def _text_options(command: click.Command) -> list[click.Option]:
    return [p for p in command.params if isinstance(p, click.Option) and not p.is_flag
            and isinstance(p.type, click.types.StringParamType | click.Path)]


def _invoke(args: list[str], tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return CliRunner().invoke(main, args, env={"XDS_DATA_DIR": str(tmp_path / "var")})


@pytest.mark.parametrize("command", sorted(set(_leaves(main)) - RUNS_UNTIL_STOPPED))
def test_every_text_option_refuses_empty_and_control_characters(command, tmp_path,
                                                                 monkeypatch):
    fine = _fine_arguments(tmp_path)[command]
    for option in _text_options(_command(command)):
        flag = option.opts[0]
        for value in ("", " ", "a\x1b[31mb", "a\nb"):
            if value == "a\nb" and option.name in MULTI_LINE:
                continue
            if isinstance(option.type, click.Path) and value.strip():
                continue                            # a file name may hold them
            result = _invoke([*command.split(), *fine, flag, value], tmp_path, monkeypatch)
            assert result.exit_code == 2, (command, flag, value, result.output)
            assert f"'{flag}'" in result.output, (command, flag, value, result.output)
            assert "internal error" not in result.output
            assert not (tmp_path / "var").exists(), (command, flag, value)


@pytest.mark.parametrize("args", [
    ["--config", "", "codes"], ["validate", ""], ["restore", "x", "--data-dir", ""],
    ["patient", "add", INS, "--data-dir", ""], ["update", "version", "1.2.3"],
    ["submit", str(SAMPLE.parent), "--patient", INS, "--pattern", "/etc/*"],
    ["submit", str(SAMPLE.parent), "--patient", INS, "--pattern", "../*"],
    ["submit", str(SAMPLE), "--patient", INS, "--title", "Note\nforged row"],
    ["submit", str(SAMPLE), "--patient", INS, "--author", "1^A\x7fB"],
])
def test_the_outsiders_cases_are_usage_errors(args, tmp_path, monkeypatch):
    (tmp_path / "x").mkdir()
    result = _invoke(args, tmp_path, monkeypatch)
    assert result.exit_code == 2, result.output
    assert "Usage:" in result.output and "internal error" not in result.output
    assert not list(tmp_path.glob("var*")) and not (tmp_path / "registry.sqlite3").exists()


def test_free_text_keeps_its_line_breaks_but_not_escapes():
    assert bad_character("line one\nline two\ttab", multi_line=True) is None
    assert bad_character("line one\nline two") == "\n"
    assert bad_character("a\x1bb", multi_line=True) == "\x1b"
    assert bad_character("Compte rendu — éàü") is None
    assert bad_character("a\x85b") == "\x85"      # C1: NEL
