"""The README's PDF example, run as written against the platform `make run` serves (issue 18
m10): a file that is not a CDA, given the options for what its header would have carried, is
registered and retrieved unchanged."""

from __future__ import annotations

import re

import pytest

from .conftest import start_server, stop_server
from .test_readme_walkthrough import (
    _shell,
    block,
    make_run_settings,
    scratch,  # noqa: F401 (the scratch checkout fixture)
)

pytestmark = pytest.mark.http


def test_the_readme_pdf_example_runs_as_written(scratch):  # noqa: F811
    process, url, _ = start_server(scratch / "var", make_run_settings(), workers=1)
    try:
        done = _shell(block("pdf"), scratch, {"XDS_SERVER_URL": url})
        assert done.returncode == 0, done.stderr[-3000:]
        unique_id = re.search(r"^(\S+)\s+letter\s+\(application/pdf\)", done.stdout, re.M)
        assert unique_id, done.stdout
        back = _shell(f". .venv/bin/activate\nxds-server retrieve {unique_id.group(1)} "
                      "--out back.pdf", scratch, {"XDS_SERVER_URL": url})
        assert back.returncode == 0, back.stderr[-2000:]
        assert (scratch / "back.pdf").read_bytes() == (scratch / "letter.pdf").read_bytes()
        # without them nothing is sent (the README says so), and the options are named
        bare = _shell(". .venv/bin/activate\nxds-server submit letter.pdf --patient "
                      "'285067512345639^^^&1.2.250.1.213.1.4.10&ISO^NH'", scratch,
                      {"XDS_SERVER_URL": url})
        assert bare.returncode == 2, bare.stderr[-2000:]
        assert "give --legal-authenticator, --service-start, --type" in bare.stderr, \
            bare.stderr[-2000:]
    finally:
        stop_server(process)
