"""Where a step runs (its test, section and log) and how it finds what earlier steps left:
UseId, UseReport, UseRepositoryUniqueId and UseObjectRef resolved the toolkit's way."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from lxml import etree

from .exchange import Endpoints
from .log import Missing, RunLog, SectionLog, StepRecord, assigned
from .patients import Patients
from .plan import UseId, UseReport, UseResult
from .testkit import KitTest, Section, log_path, resolve

RIM = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"
PATIENT = "$patientid$"


class Run(Protocol):
    runlog: RunLog
    endpoints: Endpoints
    patients: Patients
    provided: set[str]
    last_write: float

    def known(self, test_id: str) -> bool: ...

    def after_last_write(self) -> None: ...

    def feed_test_patient(self, test_id: str) -> str: ...


@dataclass
class TestState:
    """What a test's steps share: its parameters ($patientid$), as the toolkit's extra linkage."""

    patient: str
    params: dict[str, str] = field(default_factory=dict)


@dataclass
class Scope:
    run: Run
    test: KitTest
    section: Section
    state: TestState

    @property
    def path(self) -> str:
        return log_path(self.test.id, self.section.name)

    @property
    def log(self) -> SectionLog:
        return self.run.runlog.section(self.path)

    def params(self) -> dict[str, str]:
        return {PATIENT: self.state.patient, **self.state.params}

    def other_log(self, testdir: str | None) -> SectionLog | None:
        """The log `testdir` names (None: this section's own log)."""
        if not testdir:
            return None
        test, section = resolve(self.test.id, self.section.name, testdir)
        return self.run.runlog.existing(log_path(test, section))

    def record(self, testdir: str | None, step: str, current: str) -> StepRecord:
        other = self.other_log(testdir)
        if other is None:
            return self.log.record(step, before=current)
        return other.record(step)

    def use_id(self, use: UseId, current: str) -> str:
        if use.value:
            return use.value
        # Ids a refused submission was given are read too (the toolkit logs them before it
        # sends): a test checks that the refusal left nothing behind.
        record = self.record(use.testdir, use.step, current)
        return assigned(record, use.section, use.id)

    def use_report(self, use: UseReport) -> str:
        if use.test and use.test != self.test.id and not self.run.known(use.test):
            if use.report == PATIENT:
                return self.run.feed_test_patient(use.test)
            raise Missing(f"report {use.report} of test {use.test}, which is not in the kit")
        if use.section == "THIS":
            log = self.log
        else:
            log = self.run.runlog.existing(log_path(use.test or self.test.id, use.section))
        record = log.record(use.step)
        if use.report not in record.reports:
            state = f" (it {record.verdict})" if record.verdict and record.verdict != "passed" \
                else ""
            raise Missing(f"step {use.step} of {log.path} reported no {use.report}{state}")
        return record.reports[use.report]

    def use_result(self, use: UseResult, current: str) -> str:
        record = self.record(use.testdir, use.step, current)
        payload = record.result()
        if payload is None:
            raise Missing(f"step {use.step} has no query answer")
        if use.kind == "object_ref":
            refs = [e.get("id") for e in payload.iter(f"{{{RIM}}}ObjectRef")]
            if use.index >= len(refs):
                raise Missing(f"step {use.step} returned {len(refs)} ObjectRefs, not "
                              f"{use.index + 1}")
            return refs[use.index] or ""
        values = {v for v in (_slot(e, "repositoryUniqueId")
                              for e in payload.iter(f"{{{RIM}}}ExtrinsicObject")) if v}
        if len(values) != 1:
            raise Missing(f"step {use.step} returned {len(values)} repositoryUniqueIds, "
                          "not one")
        return values.pop()


def _slot(element: etree._Element, name: str) -> str | None:
    for slot in element.findall(f"{{{RIM}}}Slot"):
        if slot.get("name") == name:
            return (slot.findtext(f"{{{RIM}}}ValueList/{{{RIM}}}Value") or "").strip()
    return None
