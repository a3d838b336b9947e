"""Runs NIST XDS Toolkit tests as shipped against any XDS.b registry (and repository).

Tests run in the order asked, each after the tests it reads from (its dependencies, found among
the tests given or beside them). Each test has its own patient ($patientid$), unless one of its
steps names the toolkit's patient-feed test for it (`UseReport test="15817" reportName=
"$patientid$"`): all tests naming that feed share its patient, as under the toolkit's
orchestration. A feed test that is not in the kit is played by the runner: a new patient, fed
as --patient-feed says.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from .exchange import Endpoints, Unreachable
from .log import RunLog
from .patients import Patients
from .scope import PATIENT, Scope, TestState
from .steps import ERROR, Row, play
from .testkit import KitTest, dependencies, find_test, neighbours


@dataclass
class Outcome:
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    tests: list[KitTest] = field(default_factory=list)
    seconds: float = 0.0
    aborted: str = ""


def reachable(url: str, timeout: float = 5.0) -> str:
    """'' when something listens at the URL's host and port, else why not."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname or "", port), timeout=timeout):
            return ""
    except OSError as exc:
        return f"cannot reach {url}: {exc.strerror or exc}"


class Runner:
    def __init__(self, kit: dict[str, KitTest], endpoints: Endpoints, patients: Patients,
                 params: dict[str, str] | None = None) -> None:
        """`params`: the toolkit's test parameters the user gives (its UI fields, e.g.
        `$repuid$`), filled in every test's messages."""
        self.kit = dict(kit)
        self.endpoints = endpoints
        self.patients = patients
        self.params = dict(params or {})
        self.last_write = 0.0             # when the last submission, update or removal answered
        self.runlog = RunLog()
        self.outcome = Outcome()
        self._done: set[str] = set()
        self._running: list[str] = []
        self._feed_tests: dict[str, str] = {}
        self.provided: set[str] = set()     # uniqueIds of the documents sent (for cleanup)
        self.on_row: Callable[[Row], None] = lambda row: None   # each step's row, as it ends

    # --- the Run protocol (scope.py) -----------------------------------------------------------

    def known(self, test_id: str) -> bool:
        return test_id in self.kit

    def feed_test_patient(self, test_id: str) -> str:
        """The patient of a toolkit patient-feed test that is not in the kit."""
        if test_id not in self._feed_tests:
            patient = self.patients.new()
            self._feed_tests[test_id] = patient
            fed = self.patients.ensure_fed(patient)
            self.outcome.notes.append(
                f"test {test_id} (a toolkit patient feed) is not in the kit: patient {patient} "
                + ("fed by the runner" if fed else "not fed (--patient-feed none)"))
        return self._feed_tests[test_id]

    def after_last_write(self) -> None:
        """Wait, if need be, until the clock's second is past the last write's. A `$now$` is
        to the second, as the toolkit's; filled in the second an earlier step registered
        something, it would not come after it (NIST 11899 in_updatetime asks for the folders
        updated before $now$, an exclusive bound, expecting those its data test loaded; the
        toolkit loads that data long before)."""
        if int(time.time()) == int(self.last_write):
            time.sleep(1.0 - time.time() % 1.0 + 0.01)

    # --- running -------------------------------------------------------------------------------

    def run(self, asked: list[str]) -> Outcome:
        started = time.monotonic()
        try:
            for test_id in asked:
                self._run_test(test_id, requester=None)
        except Unreachable as exc:
            self.outcome.aborted = f"the endpoint stopped answering: {exc}"
        self.outcome.seconds = time.monotonic() - started
        return self.outcome

    def _locate(self, test_id: str, requester: KitTest | None) -> KitTest | None:
        if test_id in self.kit:
            return self.kit[test_id]
        if requester is None:
            return None
        found = find_test(test_id, neighbours(requester))
        if found is not None:
            self.kit[test_id] = found
            self.outcome.notes.append(f"test {test_id} (needed by {requester.id}) found in "
                                      f"{found.directory}")
        return found

    def _run_test(self, test_id: str, requester: KitTest | None) -> None:
        if test_id in self._done or test_id in self._running:
            return
        test = self._locate(test_id, requester)
        if test is None:
            return          # a feed test played by the runner, or missing: steps will say
        self._running.append(test_id)
        for needed in dependencies(test):
            self._run_test(needed, requester=test)
        self._running.remove(test_id)
        self._done.add(test_id)
        self.outcome.tests.append(test)
        self.outcome.notes += [f"{test.id}: {note}" for note in test.notes]
        state = TestState(self._test_patient(test), dict(self.params))
        for section in test.sections:
            scope = Scope(self, test, section, state)
            if section.problem:
                self.outcome.rows.append(Row(test.id, test.group, section.name, "-", "-", "",
                                             "", ERROR, section.problem))
                continue
            for step in section.steps:
                row = play(scope, step)
                if row is not None:
                    self.outcome.rows.append(row)
                    self.on_row(row)

    def _test_patient(self, test: KitTest) -> str:
        """The test's $patientid$: that of the feed test its steps name for it, else new."""
        for section in test.sections:
            for step in section.steps:
                for use in step.transaction.use_reports if step.transaction else []:
                    if use.test and use.report == PATIENT and use.use_as == PATIENT:
                        if use.test in self.kit:
                            try:
                                return Scope(self, test, section, TestState("")).use_report(use)
                            except LookupError:
                                continue
                        return self.feed_test_patient(use.test)
        return self.patients.new()
