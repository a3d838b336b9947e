"""A non-editable install serves: the wheel is built from the source tree, compared with it file
by file, installed into a fresh virtual environment, and every module imported and the server run
from there. An editable install (make test's) reads the source tree, so it hides a package or a
data file the wheel leaves out: this is the test that sees them (issue 18, B1: the wheel lacked
xds_server/serving, a directory with no __init__.py, and `serve` died at start)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

from .conftest import free_port

ROOT = Path(__file__).resolve().parents[1]
# what setup.cfg builds the distribution from
DISTRIBUTION_INPUTS = ("setup.cfg", "pyproject.toml", "README.md", "LICENSE", "xds_server",
                       "schemas")
SKIPPED = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The wheel pip builds from a copy of the source tree (the checkout is left untouched:
    no build/ or egg-info in it), and pip's output."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "src"
    source.mkdir()
    for name in DISTRIBUTION_INPUTS:
        origin = ROOT / name
        if origin.is_dir():
            shutil.copytree(origin, source / name, ignore=SKIPPED)
        else:
            shutil.copy2(origin, source / name)
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet",
                            "--verbose", "-w", str(work / "dist"), str(source)],
                           capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr[-3000:]
    (found,) = (work / "dist").glob("xds_server-*.whl")
    return found, built.stdout + built.stderr


def _source_files(top: str) -> set[str]:
    base = ROOT / top
    return {path.relative_to(ROOT).as_posix() for path in base.rglob("*")
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"}


def test_the_wheel_holds_every_module_and_data_file_of_the_source_tree(wheel):
    path, output = wheel
    names = set(zipfile.ZipFile(path).namelist())
    assert _source_files("xds_server") - names == set()
    data = {name.split("/data/", 1)[1] for name in names if ".data/data/" in name}
    assert {f"share/xds-server/{name}" for name in _source_files("schemas")
            if name.endswith(".xsd")} - data == set()
    # setuptools' warning for a data directory it would leave out of a stricter build
    assert "would be ignored" not in output


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment holding the wheel, its dependencies seen from the test
    environment's site-packages by a plain path line (which, unlike `site.addsitedir`, runs no
    .pth of that directory: the editable install's finder stays out)."""
    venv = tmp_path_factory.mktemp("fresh") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=120)
    python = venv / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; "
                              "print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    (Path(purelib) / "test-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    done = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install",
                           "--no-deps", "--no-index", "--quiet", str(wheel[0])],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return venv


def _run(venv: Path, *args: str, cwd: Path, env: dict[str, str] | None = None,
         timeout: float = 120) -> subprocess.CompletedProcess:
    child = {k: v for k, v in os.environ.items()
             if not k.startswith(("XDS_", "PYTHON", "VIRTUAL_ENV"))}
    child.update(env or {})
    return subprocess.run(list(args), cwd=cwd, env=child, capture_output=True, text=True,
                          timeout=timeout)


# scripts alembic runs itself (they need its running context), present by the file comparison
RUN_BY_ALEMBIC = "xds_server.store.migrations."


def test_every_module_imports_from_the_installed_wheel(installed, tmp_path):
    modules = sorted(
        module for module in (name[:-3].replace("/", ".").removesuffix(".__init__")
                              for name in _source_files("xds_server") if name.endswith(".py"))
        if not module.startswith(RUN_BY_ALEMBIC))
    script = ("import importlib, sys\n"
              f"for name in {modules!r}:\n"
              "    module = importlib.import_module(name)\n"
              f"    assert module.__file__.startswith({str(installed)!r}), module.__file__\n"
              "print(len(sys.modules))\n")
    done = _run(installed, str(installed / "bin" / "python"), "-c", script, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    version = _run(installed, str(installed / "bin" / "xds-server"), "--version", cwd=tmp_path)
    assert version.returncode == 0 and "xds-server" in version.stdout.lower(), version


@pytest.mark.http
def test_the_installed_console_script_serves_submits_and_retrieves(installed, tmp_path):
    """serve (gunicorn loads the worker by name), the CDA schema from share/, the packing
    dictionary and the ebXML schemas from the package, all from the installed copy."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    script = installed / "bin" / "xds-server"
    settings = {"XDS_SECURITY": "none", "XDS_REQUIRE_SUBMISSION_SIGNATURE": "false",
                "XDS_ACCEPT_TEST_INS": "true", "XDS_SERVER_URL": url}
    log_path = tmp_path / "server.log"
    child = {k: v for k, v in os.environ.items() if not k.startswith(("XDS_", "PYTHON"))}
    child.update(settings)
    with open(log_path, "wb") as log:
        server = subprocess.Popen([str(script), "serve", "--host", "127.0.0.1", "--port",
                                   str(port), "--workers", "1", "--data-dir",
                                   str(tmp_path / "var")], cwd=tmp_path, env=child,
                                  stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert server.poll() is None, log_path.read_text()
            try:
                with urllib.request.urlopen(url + "/health", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                assert time.monotonic() < deadline, log_path.read_text()
                time.sleep(0.1)
        patient = "285067512345639^^^&1.2.250.1.213.1.4.10&ISO^NH"
        sample = ROOT / "cda_samples" / "CR-BIO_glycemie-creatinine.xml"
        steps = [("patient", "add", patient, "--data-dir", str(tmp_path / "var")),
                 ("validate", str(sample)),
                 ("submit", str(sample), "--patient", patient),
                 ("retrieve", "1.2.250.1.999.7.1.1", "--out", str(tmp_path / "back.xml"))]
        for step in steps:
            done = _run(installed, str(script), *step, cwd=tmp_path, env=settings)
            assert done.returncode == 0, (step, done.stdout, done.stderr, log_path.read_text())
        assert (tmp_path / "back.xml").read_bytes() == sample.read_bytes()
    finally:
        if server.poll() is None:
            os.kill(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait(timeout=5)
