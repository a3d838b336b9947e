"""Settings: defaults < TOML < XDS_* environment < command line; errors name the setting."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from xds_server.cli import main
from xds_server.config import SETTINGS, ConfigError, load_settings


def test_defaults_are_the_embedded_setup(tmp_path):
    settings = load_settings({"data_dir": str(tmp_path)}, environ={})
    assert settings.database_url == f"sqlite:///{tmp_path.resolve() / 'registry.sqlite3'}"
    assert settings.profile == "cisis"
    assert settings.max_request_bytes == 64 * 1024 * 1024
    assert settings.repository_unique_id.startswith("2.25.")
    assert settings.home_community_id.startswith("urn:oid:2.25.")
    again = load_settings({"data_dir": str(tmp_path)}, environ={})
    assert again.repository_unique_id == settings.repository_unique_id  # stable per data dir


def test_precedence_toml_then_environment_then_command_line(tmp_path):
    toml = tmp_path / "xds.toml"
    toml.write_text('[xds-server]\nprofile = "ihe"\nmax_request_bytes = 1000\n'
                    'repository_unique_id = "1.2.3"\nlog_level = "DEBUG"\n')
    settings = load_settings({"log_level": "ERROR"}, config_file=toml,
                             environ={"XDS_MAX_REQUEST_BYTES": "2000", "XDS_LOG_LEVEL": "INFO"})
    assert settings.profile == "ihe"
    assert settings.repository_unique_id == "1.2.3"
    assert settings.max_request_bytes == 2000
    assert settings.log_level == "ERROR"
    assert settings.sources["profile"] == str(toml)
    assert settings.sources["max_request_bytes"] == "XDS_MAX_REQUEST_BYTES"
    assert settings.sources["log_level"] == "command line"


def test_config_file_from_environment(tmp_path):
    toml = tmp_path / "x.toml"
    toml.write_text('registry_url = "http://registry.example/xds"\n')
    settings = load_settings(environ={"XDS_CONFIG": str(toml)})
    assert settings.registry_url == "http://registry.example/xds"


@pytest.mark.parametrize("environ, message", [
    ({"XDS_PROFILE": "french"}, "profile from XDS_PROFILE: expected one of cisis, ihe"),
    ({"XDS_MAX_REQUEST_BYTES": "lots"}, "max_request_bytes from XDS_MAX_REQUEST_BYTES"),
    ({"XDS_MAX_REQUEST_BYTES": "-1"}, "expected a number of bytes"),
    ({"XDS_REQUEST_TIMEOUT": "-1"}, "must not be negative"),
    ({"XDS_DIAGNOSTICS": "maybe"}, "expected true or false"),
    ({"XDS_TRUSTED_PROXIES": "10.0.0.1, proxy.example"},
     "trusted_proxies from XDS_TRUSTED_PROXIES: not an IP address or network: 'proxy.example'"),
    ({"XDS_MAX_CONNECTIONS": "100"}, r"max_connections_per_client \(128\) must be below "
                                     r"max_connections \(100\)"),
    # nonsense that started a server answering nothing (issue 18, m9)
    ({"XDS_MAX_HEAD_BYTES": "1"}, "max_head_bytes from XDS_MAX_HEAD_BYTES: must be at least "
                                  "1024"),
    ({"XDS_MAX_RESPONSE_BYTES": "1"}, "max_response_bytes from XDS_MAX_RESPONSE_BYTES: must be "
                                      "at least"),
    ({"XDS_MIN_RATE_BYTES": "0"}, "min_rate_bytes from XDS_MIN_RATE_BYTES: must be at least 1 "
                                  r"\(0 lets a client hold a connection forever"),
    ({"XDS_MIN_SEND_RATE_BYTES": "0"}, "min_send_rate_bytes from XDS_MIN_SEND_RATE_BYTES"),
    ({"XDS_MAX_SPOOL_BYTES": "99999999999999999999999GiB"},
     "max_spool_bytes from XDS_MAX_SPOOL_BYTES: .* more than any disk"),
    ({"XDS_MAX_DOCUMENT_BYTES": "2PiB"}, "expected a number of bytes"),
    ({"XDS_MAX_DOCUMENT_BYTES": "2000TiB"}, "at most 1125899906842624, 1024TiB"),
])
def test_bad_values_name_the_setting_and_its_source(environ, message):
    with pytest.raises(ConfigError, match=message):
        load_settings(environ=environ)


def test_a_toml_fraction_of_bytes_says_a_whole_number_is_expected(tmp_path):
    toml = tmp_path / "x.toml"
    toml.write_text("max_spool_bytes = 1.5\n")
    with pytest.raises(ConfigError, match=r"max_spool_bytes from .*x.toml: expected a whole "
                                          r"number of bytes .*got 1.5"):
        load_settings(config_file=toml, environ={})


def test_an_unknown_xds_variable_is_named_with_the_closest_setting(tmp_path):
    """XDS_MAX_REQUST_BYTES (a typo) was silently ignored and the default kept (issue 18, m9):
    every command warns at start, naming the closest known variable; known ones are quiet."""
    from xds_server.config import unknown_variables

    assert unknown_variables({"XDS_MAX_REQUST_BYTES": "1", "XDS_DEBUG": "1",
                              "XDS_MAX_REQUEST_BYTES": "5", "HOME": "/"}) == [
        "XDS_MAX_REQUST_BYTES is not a setting and is ignored; did you mean "
        "XDS_MAX_REQUEST_BYTES?"]
    result = CliRunner().invoke(main, ["config", "--data-dir", str(tmp_path)],
                                env={"XDS_SECURTY": "none"})
    assert result.exit_code == 0
    assert "warning: XDS_SECURTY is not a setting and is ignored; did you mean XDS_SECURITY?" \
        in result.stderr


def test_unknown_toml_key_is_refused(tmp_path):
    toml = tmp_path / "x.toml"
    toml.write_text("max_request_size = 5\n")
    with pytest.raises(ConfigError, match=r"unknown setting.*max_request_size"):
        load_settings(config_file=toml, environ={})


def test_config_command_prints_every_setting_with_source_and_hides_passwords(tmp_path):
    runner = CliRunner()
    result = runner.invoke(main, ["config", "--data-dir", str(tmp_path)],
                           env={"XDS_DATABASE_URL": "postgresql+psycopg://xds:s3cret@db/xds"})
    assert result.exit_code == 0, result.output
    for spec in SETTINGS:
        assert spec.name in result.output and spec.env_var in result.output
    assert "s3cret" not in result.output
    assert "postgresql+psycopg://xds:***@db/xds" in result.output
    assert "XDS_DATABASE_URL" in result.output


def test_config_command_reports_bad_settings_without_traceback():
    result = CliRunner().invoke(main, ["config"], env={"XDS_PROFILE": "nope"})
    assert result.exit_code != 0
    assert "profile from XDS_PROFILE" in result.output
    assert "Traceback" not in result.output


CONFIGURATION = Path(__file__).parents[1] / "docs" / "configuration.md"


def test_example_file_in_the_documentation_is_valid(tmp_path):
    block = CONFIGURATION.read_text().split("```toml\n", 1)[1].split("```", 1)[0]
    (tmp_path / "x.toml").write_text(block)
    load_settings(config_file=tmp_path / "x.toml", environ={})


def test_every_setting_is_a_row_of_the_settings_table():
    """docs/configuration.md's table has one row per setting, and no row for a setting that
    does not exist."""
    from xds_server.config import SETTINGS

    rows = re.findall(r"^\| `(XDS_[A-Z0-9_]+)` \|", CONFIGURATION.read_text(), re.M)
    assert sorted(rows) == sorted(s.env_var for s in SETTINGS)


def test_trusted_proxies_are_normalised_networks():
    settings = load_settings(environ={"XDS_TRUSTED_PROXIES": " 10.0.0.5 ,192.168.1.7/24,::1"})
    assert settings.trusted_proxies == "10.0.0.5/32,192.168.1.0/24,::1/128"


def test_every_unusable_setting_is_said_at_once():
    """Nonsense values are refused at load (issue 18, m6), all of them in one message, each
    naming its setting and source: a limit of 0, an id that is not an OID, URLs and database
    URLs that cannot work."""
    from xds_server.config import ConfigError, load_settings

    bad = {"XDS_HEAD_TIMEOUT": "0", "XDS_MAX_DOCUMENT_BYTES": "0", "XDS_MAX_MIME_PARTS": "0",
           "XDS_REPOSITORY_UNIQUE_ID": "notanoid", "XDS_HOME_COMMUNITY_ID": "1.2.3",
           "XDS_REGISTRY_URL": "notaurl", "XDS_SERVER_URL": "http://[::1",
           "XDS_REPOSITORY_URL": "http://h:port/", "XDS_DATABASE_URL": "mysql://x/y"}
    with pytest.raises(ConfigError) as refused:
        load_settings({}, environ=bad)
    for name in bad:
        assert f"from {name}:" in str(refused.value), name
    fine = load_settings({}, environ={"XDS_DATABASE_URL": "postgresql://u@h/db",
                                      "XDS_THREADS": "0", "XDS_MIN_FREE_BYTES": "4MiB",
                                      "XDS_REPOSITORY_UNIQUE_ID": "1.2.250.1.999.1"})
    assert fine.database_url == "postgresql+psycopg://u@h/db"     # the driver installed


def test_byte_sizes_take_units_and_the_room_kept_has_a_floor():
    """Every *_bytes setting takes the sizes operators write (64MiB, 1 GiB, 512kB) and says the
    form it expects; XDS_MIN_FREE_BYTES=0 let a full tmpfs kill every worker (SIGBUS on the
    metrics' maps) in a loop, so the room kept has a floor (issue 18, R2)."""
    from xds_server.config import SETTINGS, ConfigError, load_settings

    sizes = [s for s in SETTINGS if s.name.endswith("_bytes")]
    assert len(sizes) > 10
    settings = load_settings({}, environ={s.env_var: "64MiB" for s in sizes})
    assert {getattr(settings, s.name) for s in sizes} == {64 * 1024 * 1024}
    assert load_settings({}, environ={"XDS_MAX_DOCUMENT_BYTES": "1 GiB", "XDS_MIN_FREE_BYTES":
                                      "5MB"}).max_document_bytes == 1024 ** 3
    for bad in ("64 MiBs", "-5", "1.5GiB", "MiB"):
        with pytest.raises(ConfigError, match=r"max_buffer_bytes from XDS_MAX_BUFFER_BYTES: "
                                              r"expected a number of bytes.*64MiB"):
            load_settings({}, environ={"XDS_MAX_BUFFER_BYTES": bad})
    for floor in ("0", "1000"):
        with pytest.raises(ConfigError, match="min_free_bytes from XDS_MIN_FREE_BYTES: must "
                                              "be at least"):
            load_settings({}, environ={"XDS_MIN_FREE_BYTES": floor})


@pytest.mark.parametrize("url", ["http://exa mple", f"http://{'a' * 64}.example/x",
                                 "http://[::1", "http://h:99999/", "http://-bad-.example/",
                                 "http://h..example/",
                                 # port 0 and a line break (issue 18, m5)
                                 "http://127.0.0.1:0/", "http://exa\nmple:8080/",
                                 "http://example:8080/\txds"])
def test_every_url_setting_refuses_a_host_no_request_could_reach(url):
    """An invalid host was accepted and became 'internal error' at the first request (an
    encoder's error deep in the HTTP client): said at load, naming the setting (issue 18, R5)."""
    from xds_server.config import ConfigError, load_settings

    names = ["XDS_REGISTRY_URL", "XDS_CLIENT_REGISTRY_URL", "XDS_REPOSITORY_URL",
             "XDS_SERVER_URL"]
    with pytest.raises(ConfigError) as refused:
        load_settings({}, environ=dict.fromkeys(names, url))
    for name in names:
        assert f"from {name}: " in str(refused.value), name
    syslog = url.replace("http://", "tls://")
    with pytest.raises(ConfigError, match="from XDS_ATNA_URL: "):
        load_settings({}, environ={"XDS_ATNA_URL": syslog if ":" in syslog[6:] else
                                   syslog + ":6514"})
    fine = load_settings({}, environ={"XDS_SERVER_URL": "http://xds_registry:8080",
                                      "XDS_ATNA_URL": "tls://[::1]:6514"})
    assert fine.server_url == "http://xds_registry:8080"


def test_an_audit_repository_that_does_not_resolve_is_a_warning_at_start():
    """XDS_ATNA_URL naming a host that does not resolve let serve start silently (issue 18,
    R10): it starts (the records queue) and says so; a bad scheme or port is refused at load."""
    import logging

    from xds_server.config import ConfigError, load_settings
    from xds_server.server import peers

    unresolved = load_settings({}, environ={"XDS_ATNA_URL": "tls://atna.invalid:6514"})
    [(level, line)] = peers(unresolved)
    assert level == logging.WARNING and "atna.invalid" in line and "queued" in line
    assert peers(load_settings({}, environ={"XDS_ATNA_URL": "udp://127.0.0.1:514"})) == []
    for bad in ("http://127.0.0.1:514", "tls://127.0.0.1:99999", "tls://127.0.0.1"):
        with pytest.raises(ConfigError, match="XDS_ATNA_URL"):
            load_settings({}, environ={"XDS_ATNA_URL": bad})


def test_gunicorns_listening_line_says_https_on_an_https_server(caplog):
    """gunicorn logged 'Listening at: http://127.0.0.1:18443' on the HTTPS server (the workers
    speak TLS themselves): the line says the scheme served (issue 18, m12)."""
    import logging

    from gunicorn.config import Config

    from xds_server.server import RootLogger

    logger = RootLogger(Config())
    caplog.set_level(logging.INFO)
    try:
        RootLogger.scheme = "https"
        logger.info("Listening at: %s (%s)", "http://127.0.0.1:8443", 42)
        RootLogger.scheme = "http"
        logger.info("Listening at: %s (%s)", "http://127.0.0.1:8080", 43)
    finally:
        RootLogger.scheme = "http"
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Listening")]
    assert lines == ["Listening at: https://127.0.0.1:8443 (42)",
                     "Listening at: http://127.0.0.1:8080 (43)"]
