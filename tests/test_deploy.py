"""deploy/xds-server.service is a unit systemd accepts: `systemd-analyze verify` on it, its
install prefix pointed at this installation (the one path the host decides), says nothing."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parents[1] / "deploy" / "xds-server.service"
PREFIX = "/opt/xds-server/venv"


def _verify(text: str, tmp_path: Path) -> subprocess.CompletedProcess:
    unit = tmp_path / "xds-server.service"
    unit.write_text(text.replace(PREFIX, sys.prefix))
    return subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True,
                          text=True, timeout=60)


@pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                    reason="systemd-analyze is not installed on this host")
def test_the_systemd_unit_verifies(tmp_path):
    text = UNIT.read_text()
    assert f"ExecStart={PREFIX}/bin/xds-server serve" in text
    done = _verify(text, tmp_path)
    assert done.returncode == 0 and (done.stdout + done.stderr).strip() == "", done.stderr
    # the check can fail: a mistyped key and a bad value are reported
    broken = _verify(text.replace("Restart=on-failure", "Restart=sometimes"), tmp_path)
    assert "Failed to parse service restart specifier" in broken.stderr


# the confinement the unit promises (issue 18, m13): each line is one thing the service cannot do
HARDENING = ("NoNewPrivileges=yes", "ProtectSystem=strict", "UMask=0027",
             "CapabilityBoundingSet=\n", "RestrictSUIDSGID=yes", "ProtectKernelLogs=yes",
             "SystemCallFilter=@system-service", "SystemCallArchitectures=native",
             "ReadWritePaths=/var/lib/xds-server")


def test_the_unit_confines_the_service():
    text = UNIT.read_text()
    assert [line for line in HARDENING if line not in text] == []
