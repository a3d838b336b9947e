"""What a conformance run tells an operator to run to remove what it left (issue 18 R16) is
one exact command, run here as printed, in a shell, from a scratch directory with only the
checkout's virtual environment: after it, the run's test patients hold nothing and their
records are gone."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import REFERENCE, start_server, stop_server
from .test_conformance import run_cli

pytestmark = pytest.mark.http

TESTKIT = REFERENCE / "xds-messages" / "nist-testkit"
IHE_PLATFORM = {"XDS_PROFILE": "ihe", "XDS_SECURITY": "none",
                "XDS_REQUIRE_SUBMISSION_SIGNATURE": "false"}


def _printed_command(output: str) -> str:
    found = re.search(r"(xds-server conformance clean .*?)(?:\n|$)", output)
    assert found, output[-3000:]
    return found.group(1).strip()


def _shell(line: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("XDS_")}
    return subprocess.run(["bash", "-e", "-c", f". {Path(sys.prefix)}/bin/activate\n{line}"],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_the_printed_cleanup_runs_as_written_and_removes_everything(tmp_path):
    data = tmp_path / "var"
    process, url, _ = start_server(data, IHE_PLATFORM, workers=1)
    try:
        kept = run_cli("conformance", "run", "--nist-testkit", str(TESTKIT / "ITI-41"),
                       "--registry", url + "/xds/registry", "--repository",
                       url + "/xds/repository", "--patient-feed", "cli", "--data-dir",
                       str(data), "--keep", env=IHE_PLATFORM)
        output = kept.stdout + kept.stderr
        command = _printed_command(output)
        patients = re.findall(r"--patient ('[^']+'|\S+)", command)
        assert patients, command
        listed = run_cli("patient", "list", "--data-dir", str(data)).stdout
        ids = [p.strip("'").split("^")[0] for p in patients]
        fed = re.findall(r"(XDSCONF\w+)\^", listed)
        assert fed and set(fed) <= set(ids), (fed, ids)       # every record it opened
        scratch = tmp_path / "elsewhere"
        scratch.mkdir()
        done = _shell(command, scratch)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "refused" not in done.stdout and "kept" not in done.stdout, done.stdout
        listed = run_cli("patient", "list", "--data-dir", str(data)).stdout
        assert not any(i in listed for i in ids), listed
        for patient in patients:
            query = _shell(f"xds-server query --registry {url}/xds/registry --patient "
                           f"{patient} --status Approved --status Deprecated", scratch)
            assert query.returncode == 0 and "0 document(s)" in query.stdout, query.stdout
    finally:
        stop_server(process)


def test_clean_says_what_it_could_not_do():
    done = run_cli("conformance", "clean", "--registry", "http://127.0.0.1:1/xds/registry",
                   "--patient", "XDSCONF0123456789AB^^^&1.2.3&ISO")
    assert done.returncode != 0 and "nothing was removed" in done.stderr, done.stderr
    bad = run_cli("conformance", "clean", "--registry", "http://127.0.0.1:1/xds/registry",
                  "--patient", "not-a-cx")
    assert bad.returncode == 2 and "is not a patient id" in bad.stderr, bad.stderr


def test_clean_takes_test_patients_only_and_creates_no_database(tmp_path):
    """`conformance clean --patient <a real patient>` removed every document of that record
    (outsider 18e, F1): only the ids a run allocates are taken, before anything is sent; and
    --forget on a directory with no installation made an empty database there."""
    real = "285067512345639^^^&1.2.250.1.213.1.4.10&ISO^NH"
    refused = run_cli("conformance", "clean", "--registry", "http://127.0.0.1:1/xds/registry",
                      "--patient", real)
    assert refused.returncode == 2, refused.stderr
    assert "not a patient a conformance run allocates" in refused.stderr
    assert "Traceback" not in refused.stderr
    empty = tmp_path / "nothing-here"
    forget = run_cli("conformance", "clean", "--registry", "http://127.0.0.1:1/xds/registry",
                     "--patient", "XDSCONF0123456789AB^^^&1.2.3&ISO", "--forget",
                     "--data-dir", str(empty))
    assert forget.returncode == 2, forget.stderr
    assert not empty.exists()
