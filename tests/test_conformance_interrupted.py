"""An interrupted `conformance run` says the `conformance clean` command for the test patients
it allocated (outsider 18f F9: `interrupted`, 130, and 9 XDSCONF patients left with no word)."""

from __future__ import annotations

from types import SimpleNamespace

from xds_server.conformance import preflight, runner

from .cli_run import run_in_process
from .test_conformance import TESTKIT


def test_an_interrupted_run_prints_the_clean_command(monkeypatch):
    allocated: list[str] = []

    def run(self, asked):
        allocated.append(self.patients.new())        # a test allocated its patient, then ^C
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "reachable", lambda url: None)
    monkeypatch.setattr(preflight, "preflight",
                        lambda endpoints, patients: SimpleNamespace(stop=None, note=None,
                                                                    unreachable=False))
    monkeypatch.setattr("xds_server.conformance.cleanup.snapshot", lambda e, p: {})
    monkeypatch.setattr(runner.Runner, "run", run)
    done = run_in_process("conformance", "run", "--nist-testkit", str(TESTKIT / "ITI-18"),
                          "--registry", "http://127.0.0.1:9/xds/registry",
                          "--repository", "http://127.0.0.1:9/xds/repository",
                          "--patient-feed", "none")
    assert done.returncode == 130, done.stderr
    assert allocated and allocated[0] in done.stderr, done.stderr
    assert "xds-server conformance clean" in done.stderr and "interrupted" in done.stderr
