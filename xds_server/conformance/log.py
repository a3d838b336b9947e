"""The run's memory, in the toolkit's log.xml shape: one log per test section, one TestStep per
step, under it the transaction's output (AssignedPatientId, AssignedUids, AssignedUuids,
InputMetadata, Result) and the reports. UseId, UseReport, Report, UseRepositoryUniqueId and the
assertions (DataRef file="THIS") read it as the toolkit reads its logs."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field

from lxml import etree


class Missing(LookupError):
    """A value a step needs that the run has not recorded (why, in the message)."""


@dataclass
class StepRecord:
    step: str
    element: etree._Element          # <TestStep id=…><XxxTransaction>…
    reports: dict[str, str] = field(default_factory=dict)
    verdict: str = ""                # the step's verdict, once known

    @property
    def output(self) -> etree._Element:
        return self.element[0]

    def part(self, name: str) -> etree._Element | None:
        return self.output.find(name)

    def result(self) -> etree._Element | None:
        """The answer's payload (first element under Result)."""
        result = self.part("Result")
        return result[0] if result is not None and len(result) else None


class SectionLog:
    def __init__(self, path: str) -> None:
        self.path = path
        self.root = etree.Element("TestResults", path=path)
        self.steps: dict[str, StepRecord] = {}

    def start(self, step: str, transaction: str) -> StepRecord:
        element = etree.SubElement(self.root, "TestStep", id=step)
        etree.SubElement(element, transaction or "NoTransaction")
        record = StepRecord(step, element)
        self.steps[step] = record
        return record

    def record(self, step: str, before: str | None = None) -> StepRecord:
        """A step of this log; with `before`, only one logged before that step (the toolkit's
        find_previous_instruction_output)."""
        record = self.steps.get(step)
        if record is None:
            raise Missing(f"step {step} of {self.path} has not run")
        if before is not None and before in self.steps:
            order = list(self.steps)
            if order.index(step) >= order.index(before):
                raise Missing(f"step {step} of {self.path} comes after step {before}")
        return record


def add_assignments(record: StepRecord, name: str, values: Mapping[str, str]) -> None:
    """An Assigned* part: <Assign symbol="object id" id="value"/> per object."""
    part = etree.SubElement(record.output, name)
    for symbol, value in values.items():
        etree.SubElement(part, "Assign", symbol=symbol, id=value)


def add_xml(record: StepRecord, name: str, payload: etree._Element | None) -> None:
    part = etree.SubElement(record.output, name)
    if payload is not None:
        part.append(copy.deepcopy(payload))


def assigned(record: StepRecord, part_name: str, object_id: str) -> str:
    part = record.part(part_name)
    if part is None:
        raise Missing(f"step {record.step} has no {part_name}")
    for assign in part.findall("Assign"):
        if assign.get("symbol") == object_id and assign.get("id"):
            return assign.get("id") or ""
    raise Missing(f"step {record.step} assigned no {part_name} value to {object_id}")


def evaluate_report(record: StepRecord, section: str, xpath: str) -> str:
    """A Report's value: its XPath's string value, the context being the first element of the
    step output named `section` (an XPath starting with // searches the whole output, as in the
    toolkit, whose ReportManager evaluates on a copy of the step output)."""
    output = copy.deepcopy(record.output)
    context = next(iter(output.xpath(f"//*[local-name()='{section}']")), None)
    if context is None:
        raise Missing(f"step {record.step} has no {section} to report from")
    value = context.xpath(f"string({xpath})")
    return str(value)


class RunLog:
    """All section logs of the run, by the toolkit's log path (`test/section`)."""

    def __init__(self) -> None:
        self.sections: dict[str, SectionLog] = {}

    def section(self, path: str) -> SectionLog:
        if path not in self.sections:
            self.sections[path] = SectionLog(path)
        return self.sections[path]

    def existing(self, path: str) -> SectionLog:
        log = self.sections.get(path)
        if log is None:
            raise Missing(f"{path} has not run")
        return log
