"""Shared fixtures: the databases the suite runs on, settings, a live gunicorn server, WSGI calls.

The databases are SQLite always, plus PostgreSQL when `make test` found one (XDS_TEST_POSTGRES_URL,
set by tests/postgres.sh). The header and the summary of every run name them, so nothing is
skipped silently.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from xds_server.config import Settings, load_settings

# The shared reference material (IHE examples, NIST cases, CDA samples), beside the checkout.
REFERENCE = Path(os.environ.get("XDS_REFERENCE_DIR") or
                 Path(__file__).resolve().parents[1].parent / "shared" / "reference")
POSTGRES_URL = os.environ.get("XDS_TEST_POSTGRES_URL", "").strip()
DATABASES = ["sqlite"] + (["postgresql"] if POSTGRES_URL else [])


def _databases_line() -> str:
    if POSTGRES_URL:
        return f"databases: sqlite, postgresql ({POSTGRES_URL})"
    return ("databases: sqlite ONLY - PostgreSQL not available (XDS_TEST_POSTGRES_URL unset; "
            "see tests/postgres.sh output above)")


# The test being run: a server started outside an `http`-marked test is a mistake (make
# test-fast leaves those out, and must stay in-process), caught by start_server.
_RUNNING: list[pytest.Item] = []


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test on the live server fixture talks to a real server."""
    for item in items:
        if "live_server" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.http)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    _RUNNING[:] = [item]


def pytest_report_header(config: pytest.Config) -> str:
    return f"{_databases_line()}\nreference material: {REFERENCE}"


def pytest_sessionstart(session: pytest.Session) -> None:
    if not (REFERENCE / "MANIFEST.md").is_file():
        pytest.exit(f"the reference material is not at {REFERENCE}: check out next to ../shared "
                    "or set XDS_REFERENCE_DIR", returncode=3)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    terminalreporter.write_line(_databases_line())


def _postgres_schema_url(schema: str) -> str:
    """The test database with its own schema first on the search path: isolation per test."""
    separator = "&" if "?" in POSTGRES_URL else "?"
    return f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}"


def _postgres_admin(statement: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(statement))
    engine.dispose()


@contextlib.contextmanager
def database_for(kind: str, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database URL of `kind`, removed afterwards."""
    if kind == "sqlite":
        tmp_path.mkdir(parents=True, exist_ok=True)   # serve refuses a SQLite URL in no directory
        yield f"sqlite:///{tmp_path / 'registry.sqlite3'}"
        return
    schema = f"t_{uuid.uuid4().hex[:16]}"
    _postgres_admin(f"CREATE SCHEMA {schema}")
    try:
        yield _postgres_schema_url(schema)
    finally:
        _postgres_admin(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with database_for(request.param, tmp_path) as url:
        yield url


# The migrated empty database, made once per process and copied into each fresh test database:
# migrating costs 0.3-2 s (Alembic loads its revisions, SQLite recreates tables) and about
# 1,000 tests start on one. A copy holds the same tables, indexes, sequences and
# alembic_version row; test_store_migration_*.py test the migrations themselves.
_MIGRATED: dict[str, Any] = {}


def _migrated_sqlite(directory: Path) -> Path:
    from xds_server.store.database import make_engine
    from xds_server.store.schema import migrate

    if "sqlite" not in _MIGRATED:
        engine = make_engine(f"sqlite:///{directory / 'registry.sqlite3'}")
        migrate(engine)
        with engine.connect() as connection:     # everything in the file, none in its WAL
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        engine.dispose()
        _MIGRATED["sqlite"] = directory / "registry.sqlite3"
    return _MIGRATED["sqlite"]


def _migrated_postgres_script() -> str:
    """The SQL (pg_dump) of a schema migrated once, with TEMPLATE_SCHEMA for its name."""
    from xds_server.store.database import make_engine
    from xds_server.store.schema import migrate

    if "postgresql" not in _MIGRATED:
        schema = f"t_migrated_{uuid.uuid4().hex[:16]}"
        _postgres_admin(f"CREATE SCHEMA {schema}")
        try:
            engine = make_engine(_postgres_schema_url(schema))
            migrate(engine)
            engine.dispose()
            dump = subprocess.run(
                ["pg_dump", "--schema", schema, "--inserts", "--no-owner", "--no-privileges",
                 POSTGRES_URL.replace("postgresql+psycopg:", "postgresql:", 1)],
                check=True, capture_output=True, text=True).stdout
        finally:
            _postgres_admin(f"DROP SCHEMA {schema} CASCADE")
        lines = [line for line in dump.splitlines()
                 if not line.startswith("\\") and line != f"CREATE SCHEMA {schema};"]
        _MIGRATED["postgresql"] = "\n".join(lines).replace(schema, "TEMPLATE_SCHEMA")
    return _MIGRATED["postgresql"]


def _copy_migrated(database_url: str, directory: Path) -> bool:
    """Give a fresh, empty test database the migrated schema; False if it is not empty."""
    if database_url.startswith("sqlite:///"):
        path = Path(database_url.removeprefix("sqlite:///"))
        if path.exists():
            return False
        import shutil

        shutil.copyfile(_migrated_sqlite(directory), path)
        return True
    schema = database_url.rsplit("search_path%3D", 1)[-1]
    from sqlalchemy import create_engine, text

    engine = create_engine(POSTGRES_URL)
    try:
        with engine.begin() as connection:
            if connection.execute(text("SELECT count(*) FROM pg_tables WHERE schemaname = :s"),
                                  {"s": schema}).scalar():
                return False
            connection.exec_driver_sql(
                _migrated_postgres_script().replace("TEMPLATE_SCHEMA", schema))
    finally:
        engine.dispose()
    return True


@pytest.fixture(scope="session")
def migrated_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the process's migrated SQLite database is kept (pytest removes old runs')."""
    return tmp_path_factory.mktemp("migrated")


@pytest.fixture
def make_app(make_settings, database_url, migrated_dir):
    """An in-process application on a migrated database (each database in turn)."""
    from xds_server.app import create_app
    from xds_server.store.schema import migrate

    made = []

    def make(**overrides: Any):
        settings = make_settings(database_url=database_url, **overrides)
        copied = not made and _copy_migrated(database_url, migrated_dir)
        app = create_app(settings)
        if not copied:
            migrate(app.database.engine)
        made.append(app)
        return app

    yield make
    for app in made:     # write the queued read audits while the test's database still exists,
        app.close()      # and give the connections back now (suites share PostgreSQL's limit)


@pytest.fixture
def app(make_app):
    """An in-process application in the IHE profile (modules that need another override it)."""
    return make_app(profile="ihe")


@pytest.fixture
def patient(app) -> str:
    """A patient whose record is open in `app`."""
    from .registry_data import new_patient, open_patient

    patient_id = new_patient()
    open_patient(app, patient_id)
    return patient_id


@pytest.fixture
def make_settings(tmp_path: Path):
    """Settings isolated from the developer's environment, under tmp_path."""

    def make(**overrides: Any) -> Settings:
        # security off unless a test asks for VIHF (it then brings its trusted authority)
        values = {"data_dir": str(tmp_path / "var"), "profile": "ihe", "security": "none",
                  **overrides}
        return load_settings(values, environ={})

    return make


@dataclass
class WsgiResult:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")


def call_wsgi(app: Any, method: str, path: str, body: bytes | io.RawIOBase = b"",
              content_type: str = "", headers: dict[str, str] | None = None,
              content_length: int | None = None) -> WsgiResult:
    """Call a WSGI app in-process the way gunicorn would, collecting the whole response."""
    path, _, query = path.partition("?")
    stream = io.BytesIO(body) if isinstance(body, bytes) else body
    length = len(body) if isinstance(body, bytes) else content_length
    environ = {
        "REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query,
        "SERVER_NAME": "testserver", "SERVER_PORT": "80", "wsgi.url_scheme": "http",
        "wsgi.input": stream, "CONTENT_TYPE": content_type, "HTTP_HOST": "testserver",
    }
    if length is not None:
        environ["CONTENT_LENGTH"] = str(length)
    for name, value in (headers or {}).items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    captured: dict[str, Any] = {}

    def start_response(status: str, response_headers: list[tuple[str, str]]) -> None:
        captured["status"] = int(status.split()[0])
        captured["headers"] = {k.lower(): v for k, v in response_headers}

    iterable = app(environ, start_response)
    try:
        data = b"".join(iterable)
    finally:
        if hasattr(iterable, "close"):
            iterable.close()
    return WsgiResult(captured["status"], captured["headers"], data)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LiveServer:
    url: str
    pid: int
    data_dir: Path
    log_path: Path
    database: str
    database_url: str

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_server(data_dir: Path, env: dict[str, str], workers: int = 2,
                 tls: Any = None) -> tuple[subprocess.Popen, str, Path]:
    """Start `xds-server serve` on a free loopback port; wait until /health answers.
    With `tls` (the client's ssl.SSLContext), the server is given XDS_CERTFILE… in `env` and
    is probed over https."""
    test = _RUNNING[0] if _RUNNING else None
    if test is not None and test.get_closest_marker("http") is None:
        raise RuntimeError(f"{test.nodeid} starts a server: mark it pytest.mark.http "
                           "(make test-fast leaves such tests out)")
    port = free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / "server.log"
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("XDS_")}
    child_env.update(env)
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "xds_server.cli", "serve", "--host", "127.0.0.1",
             "--port", str(port), "--workers", str(workers), "--data-dir", str(data_dir)],
            stdout=log, stderr=subprocess.STDOUT, env=child_env, start_new_session=True)
    url = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{log_path.read_text()}")
        try:
            with urllib.request.urlopen(url + "/health", timeout=2, context=tls) as response:
                if response.status == 200:
                    return process, url, log_path
        except OSError:
            time.sleep(0.1)
    stop_server(process)
    raise RuntimeError(f"server did not answer /health in 30 s:\n{log_path.read_text()}")


def stop_server(process: subprocess.Popen) -> None:
    """Stop the server by its pid: SIGTERM to the gunicorn master, SIGKILL if it lingers."""
    if process.poll() is not None:
        return
    os.kill(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


@pytest.fixture(scope="session")
def ans_kit_schematrons(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The ANS kit installed once and its schematrons compiled once (seconds each), for the
    tests that only read them."""
    from xds_server.cda.kit import install_kit
    from xds_server.cda.schematron import KitSchematrons

    from .cda_data import ANS_KIT

    kit = tmp_path_factory.mktemp("ans-kit") / "kit"
    install_kit(ANS_KIT, kit)
    return KitSchematrons(kit)


LIVE_MAX_REQUEST_BYTES = 16 * 1024 * 1024


@pytest.fixture(scope="module", params=DATABASES)
def live_server(request: pytest.FixtureRequest,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    data_dir = tmp_path_factory.mktemp(f"live-{request.param}")
    with database_for(request.param, data_dir) as database_url:
        env = {"XDS_MAX_REQUEST_BYTES": str(LIVE_MAX_REQUEST_BYTES),
               "XDS_SPOOL_THRESHOLD_BYTES": str(256 * 1024),
               "XDS_PROFILE": "ihe",
               "XDS_DATABASE_URL": database_url}
        process, url, log_path = start_server(data_dir, env)
        try:
            yield LiveServer(url, process.pid, data_dir, log_path, request.param, database_url)
        finally:
            stop_server(process)


@pytest.fixture(scope="session")
def trust_server(tmp_path_factory: pytest.TempPathFactory):
    """A VIHF-secured server with two patients' documents (tests/trust_data.py)."""
    from .cli_run import run_in_process as run_cli  # shells: test_cli_client.py
    from .trust_data import start_trust_server

    server, process = start_trust_server(tmp_path_factory.mktemp("trust"), run_cli)
    yield server
    stop_server(process)


@pytest.fixture(scope="module")
def authority(tmp_path_factory: pytest.TempPathFactory):
    """A seal PKI of the module's own (tests/dsig_data.py: a CA, seal certificates, an
    impostor with the same name) for the signed-set tests; the VIHF tests define their own
    `authority` (a SAML signing authority), which takes precedence in their modules."""
    from .dsig_data import SealAuthority

    return SealAuthority.create(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def verifier(authority):
    """The submission-set signature verifier trusting `authority`."""
    from xds_server.dsig.trust import TrustStore
    from xds_server.dsig.verify import SubmissionSignatureVerifier

    return SubmissionSignatureVerifier(TrustStore.from_path(authority.trusted))
