"""`submit`'s header options are checked against the file before anything is sent (outsider
F6): given with a CDA, whose header holds them, they are a usage error (the server refused
their contradiction after the upload); a service date in the future is a usage error."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from .cli_run import run_in_process
from .conftest import free_port

ROOT = Path(__file__).resolve().parents[1]
CDA = ROOT / "cda_samples" / "VSM_synthese.xml"
INS = "285067512345639^^^&1.2.250.1.213.1.4.10&ISO^NH"
DOWN = f"http://127.0.0.1:{free_port()}"          # nothing listens: a send would say so
LEGAL = "810000000001^MARTIN^PAUL^^^^^^&1.2.250.1.71.4.2.1&ISO"
LETTER = ["--type", "11490-0^^2.16.840.1.113883.6.1", "--legal-authenticator", LEGAL]


def _submit(*args: str, profile: str = "cisis"):
    return run_in_process("submit", *args, "--patient", INS,
                          env={"XDS_SERVER_URL": DOWN, "XDS_PROFILE": profile})


@pytest.mark.parametrize("option", [["--service-start", "2025-03-14"],
                                    ["--service-stop", "2025-03-14"],
                                    ["--legal-authenticator", LEGAL]])
@pytest.mark.parametrize("profile", ["cisis", "ihe"])
def test_a_header_option_with_a_cda_is_a_usage_error(option, profile):
    done = _submit(str(CDA), *option, profile=profile)
    assert done.returncode == 2, done.stderr
    assert "is a CDA: its header gives" in done.stderr and option[0] in done.stderr
    assert "cannot reach" not in done.stderr


@pytest.mark.parametrize("option", ["--service-start", "--service-stop"])
def test_a_service_date_in_the_future_is_a_usage_error(tmp_path, option):
    pdf = tmp_path / "letter.pdf"
    pdf.write_bytes(b"%PDF-1.4\n%%EOF\n")
    start = [] if option == "--service-start" else ["--service-start", "2025-03-14"]
    for future in ("2999-01-01", (dt.date.today() + dt.timedelta(days=3)).isoformat()):
        done = _submit(str(pdf), *LETTER, *start, option, future)
        assert done.returncode == 2, done.stderr
        assert "is in the future" in done.stderr and option in done.stderr, done.stderr


def test_today_and_the_past_are_sent(tmp_path):
    pdf = tmp_path / "letter.pdf"
    pdf.write_bytes(b"%PDF-1.4\n%%EOF\n")
    done = _submit(str(pdf), *LETTER, "--service-start", "2025-03-14", "--service-stop",
                   dt.date.today().isoformat())
    assert done.returncode == 2 and "cannot reach" in done.stderr, done.stderr    # it sent
