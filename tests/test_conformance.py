"""The NIST registry cases, converted into conformance/, played over HTTP by the runner CLI against
a running server (once per database); plus checks that the converted messages are valid ebRS 3.0
and in step with the converter."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from lxml import etree

from .conftest import REFERENCE

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "conformance" / "scenarios"
EBRS = REFERENCE / "schemas" / "ebxml" / "ebRS"


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("XDS_")}
    child_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "xds_server.cli", *args], capture_output=True,
                          text=True, env=child_env, timeout=600)


def test_every_nist_registry_and_repository_case_passes(live_server):
    result = run_cli("conformance", "run", "--registry", live_server.url + "/xds/registry",
                     "--repository", live_server.url + "/xds/repository",
                     "--data-dir", str(live_server.data_dir),
                     env={"XDS_DATABASE_URL": live_server.database_url})
    print(result.stdout[-3000:])
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
    summary = result.stdout.strip().splitlines()[-1]
    passed = int(summary.split()[0])
    steps = sum(1 for path in SCENARIOS.glob("*/scenario.json")
                for step in json.loads(path.read_text())["steps"]
                if step["transaction"] not in ("none", "new-patient"))
    assert summary == f"{steps} passed, 0 failed"
    assert passed >= 110


def test_repository_scenarios_need_a_repository(live_server):
    """Without --repository the ITI-41/43 scenarios are not selected (nor failed)."""
    result = run_cli("conformance", "run", "--registry", live_server.url + "/xds/registry",
                     "--only", "ITI-41", "--no-patient-feed")
    assert result.returncode != 0 and "no scenario matches" in result.stderr


def test_runner_reports_failures_and_exits_1(live_server):
    """Against a registry that does not know the test patients, registrations fail."""
    result = run_cli("conformance", "run", "--registry", live_server.url + "/xds/registry",
                     "--only", "11990", "--no-patient-feed")
    assert result.returncode == 1
    assert "FAIL" in result.stdout and "XDSUnknownPatientId" in result.stdout


def test_only_selects_by_id_or_group(live_server):
    result = run_cli("conformance", "run", "--registry", live_server.url + "/xds/registry",
                     "--only", "no-such-scenario", "--no-patient-feed")
    assert result.returncode != 0 and "no scenario matches" in result.stderr


@pytest.mark.parametrize("path", sorted(SCENARIOS.rglob("*.xml")), ids=lambda p: str(
    p.relative_to(SCENARIOS)))
def test_converted_messages_are_valid_ebrs30(path):
    root = etree.parse(str(path)).getroot()
    schema = _schema({"SubmitObjectsRequest": "lcm.xsd", "AdhocQueryRequest": "query.xsd"}.get(
        etree.QName(root).localname, "../IHE/XDS.b_DocumentRepository.xsd"))
    assert schema.validate(root), schema.error_log.last_error


_SCHEMAS: dict[str, etree.XMLSchema] = {}


def _schema(name: str) -> etree.XMLSchema:
    if name not in _SCHEMAS:
        _SCHEMAS[name] = etree.XMLSchema(etree.parse(str(EBRS / name)))
    return _SCHEMAS[name]


def test_committed_scenarios_match_the_converter(tmp_path):
    subprocess.run([sys.executable, str(ROOT / "conformance" / "tools" / "convert_nist.py"),
                    "--reference", str(REFERENCE), "--out", str(tmp_path)], check=True,
                   capture_output=True)
    generated = {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.rglob("*")
                 if p.is_file()}
    committed = {p.relative_to(SCENARIOS): p.read_bytes() for p in SCENARIOS.rglob("*")
                 if p.is_file()}
    assert generated.keys() == committed.keys()
    assert [k for k in generated if generated[k] != committed[k]] == []
