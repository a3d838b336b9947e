"""A password in any URL setting is never shown, whether in `user:pw@` or in a query's
`password=` (libpq takes it there: outsider 18f F8): not in `xds-server config`, nor in serve's
first log line (both say it through redact_url), nor in a refusal of the setting."""

from __future__ import annotations

import pytest

from xds_server.config import redact_url

from .cli_run import run_in_process

SECRET = "S3kretPW"


@pytest.mark.parametrize(("url", "shown"), [
    (f"postgresql+psycopg:///x?password={SECRET}&sslmode=require",
     "postgresql+psycopg:///x?password=***&sslmode=require"),
    (f"postgresql+psycopg:///x?sslmode=require&PassWord={SECRET}",
     "postgresql+psycopg:///x?sslmode=require&PassWord=***"),
    ("postgresql://x:x@xhost/db", "postgresql://x:***@xhost/db"),     # only the password
    (f"tls://u:{SECRET}@127.0.0.1:6514", "tls://u:***@127.0.0.1:6514"),
    ("postgresql://u@h/d", "postgresql://u@h/d"),
    ("sqlite:///var/registry.sqlite3", "sqlite:///var/registry.sqlite3"),
])
def test_redact_url(url, shown):
    assert redact_url(url) == shown


def test_config_hides_a_query_password():
    done = run_in_process("config", env={
        "XDS_DATABASE_URL": f"postgresql+psycopg:///xds_none?password={SECRET}"})
    assert done.returncode == 0, done.stderr
    assert SECRET not in done.stdout and "password=***" in done.stdout


def test_a_refused_atna_url_does_not_echo_its_password():
    done = run_in_process("config", env={"XDS_ATNA_URL": f"tls://u:{SECRET}@127.0.0.1:6514"})
    assert done.returncode == 2
    assert SECRET not in done.stderr and "tls://u:***@127.0.0.1:6514" in done.stderr

