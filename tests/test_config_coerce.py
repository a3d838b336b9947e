"""Settings' types and bounds (config_coerce.py; outside test 19c, N7): a TOML boolean setting
takes only a TOML boolean, every number has a bound, numbers are ASCII digits; each refusal is
one `Error: configuration:` line naming the setting, status 2, from every command."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from xds_server.cli import main
from xds_server.config import SETTINGS, ConfigError, load_settings
from xds_server.config_coerce import MAX_SIZE, MAXIMA, kind_of

BOOLEANS = [spec.name for spec in SETTINGS if kind_of(spec.parse) == "bool"]
NUMBERS = [spec for spec in SETTINGS if kind_of(spec.parse) in ("int", "float")]
CONFIGURATION = Path(__file__).parents[1] / "docs" / "configuration.md"


def toml(tmp_path, text: str) -> Path:
    path = tmp_path / "s.toml"
    path.write_text(text + "\n")
    return path


@pytest.mark.parametrize("name", BOOLEANS)
@pytest.mark.parametrize("value", ["0", "1", "2", '"yes"', '"true"'])
def test_a_toml_boolean_setting_takes_only_a_toml_boolean(tmp_path, name, value):
    """`require_submission_signature = 0` started a cisis server with the requirement off."""
    with pytest.raises(ConfigError, match=rf"^{name} from .*s.toml: expected true or false "
                                          r"\(a TOML boolean, unquoted\), got "):
        load_settings(config_file=toml(tmp_path, f"{name} = {value}"), environ={})


@pytest.mark.parametrize("name", BOOLEANS)
def test_toml_booleans_and_the_environments_words_still_work(tmp_path, name):
    for value in (True, False):
        got = load_settings(config_file=toml(tmp_path, f"{name} = {str(value).lower()}"),
                            environ={"XDS_DATA_DIR": str(tmp_path)})
        assert getattr(got, name) is value
    for word, value in (("yes", True), (" On ", True), ("0", False), ("FALSE", False)):
        got = load_settings(environ={f"XDS_{name.upper()}": word,
                                     "XDS_DATA_DIR": str(tmp_path)})
        assert getattr(got, name) is value


@pytest.mark.parametrize("line", ['signature_trusted_certs = ["a.pem"]', "mllp_host = 127",
                                  "[signature_trusted_certs]\na = 1"])
def test_a_toml_text_setting_takes_only_a_string(tmp_path, line):
    with pytest.raises(ConfigError, match=r"expected a string \(in quotes\)"):
        load_settings(config_file=toml(tmp_path, line), environ={})


def test_every_number_setting_has_a_bound():
    assert sorted(MAXIMA) == sorted(spec.name for spec in NUMBERS)


@pytest.mark.parametrize("spec", NUMBERS, ids=lambda spec: spec.name)
def test_a_number_past_its_bound_is_refused_naming_setting_and_bound(tmp_path, spec):
    most, _ = MAXIMA[spec.name]
    with pytest.raises(ConfigError, match=rf"^{spec.name} from {spec.env_var}: at most {most} "):
        load_settings(environ={spec.env_var: str(most + 1)})
    with pytest.raises(ConfigError, match=rf"^{spec.name} from .*s.toml: at most {most} "):
        load_settings(config_file=toml(tmp_path, f"{spec.name} = {2 ** 63 - 1}"), environ={})


@pytest.mark.parametrize("value", ["٥", "５", "1_000", "+5", "5 5", "0x10"])
@pytest.mark.parametrize("name", ["signature_max_age", "head_timeout"])
def test_numbers_are_ascii_digits(name, value):
    """Python's int('٥') is 5; the OIDs refuse such digits, and so do the numbers now."""
    with pytest.raises(ConfigError, match=r"expected a (whole|finite) number \(ASCII digits\)"):
        load_settings(environ={f"XDS_{name.upper()}": value})


def test_numbers_within_bounds_still_work(tmp_path):
    got = load_settings(config_file=toml(tmp_path, 'signature_max_age = "600"\n'
                                                   "head_timeout = 2"),
                        environ={"XDS_DATA_DIR": str(tmp_path), "XDS_MLLP_PORT": " 2575 ",
                                 "XDS_BODY_TIMEOUT": "1.5e1"})
    assert (got.signature_max_age, got.head_timeout, got.mllp_port, got.body_timeout) == \
        (600, 2.0, 2575, 15.0)


def test_the_documented_bounds_are_the_checked_ones():
    """docs/configuration.md's bounds table names each number setting with its bound."""
    text = CONFIGURATION.read_text()
    documented = {name: int(most) for most, names in
                  re.findall(r"^- at most ([0-9]+) \([^)]*\): (.*)$", text, re.M)
                  for name in re.findall(r"`(XDS_[A-Z0-9_]+)`", names)}
    assert documented == {spec.env_var: MAXIMA[spec.name][0] for spec in NUMBERS}
    assert str(MAX_SIZE) in text


PATIENT = "285067512345639^^^&1.2.250.1.213.1.4.10&ISO^NH"


@pytest.mark.parametrize("command", [["config"], ["serve", "--port", "18996"],
                                     ["query", "--patient", PATIENT], ["db", "upgrade"]])
@pytest.mark.parametrize("env, says", [
    ({"XDS_SIGNATURE_MAX_AGE": "99999999999999999999"},
     "signature_max_age from XDS_SIGNATURE_MAX_AGE: at most 315360000"),
    ({"XDS_SIGNATURE_MAX_AGE": "٥"}, "signature_max_age from XDS_SIGNATURE_MAX_AGE: expected"),
    ({"XDS_MLLP_PORT": "70000"}, "mllp_port from XDS_MLLP_PORT: at most 65535"),
    ("require_submission_signature = 0", "require_submission_signature from"),
    ("signature_max_age = 9223372036854775807", "signature_max_age from"),
])
def test_every_command_says_it_in_one_line(tmp_path, command, env, says):
    if isinstance(env, str):
        env = {"XDS_CONFIG": str(toml(tmp_path, env))}
    result = CliRunner().invoke(main, command, env={"XDS_DATA_DIR": str(tmp_path / "var"),
                                                    **env})
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "internal error" not in result.output
    [line] = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert line.startswith("Error: configuration:") and says in line, line
