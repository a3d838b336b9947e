"""What validation says about a document: findings with their kind, rule, place and message."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum


class Kind(StrEnum):
    NOT_CDA = "not-cda"
    SCHEMA = "schema"
    HEADER = "header"          # the CI-SIS header rules of this project
    SCHEMATRON = "schematron"  # the official ANS schematrons, when a kit is installed
    CONSISTENCY = "consistency"


@dataclass(frozen=True)
class Finding:
    kind: Kind
    rule: str          # a rule id (CI-SIS-…, the schematron's assert id) or the schema's domain
    message: str
    xpath: str = ""
    line: int | None = None
    is_error: bool = True

    def text(self) -> str:
        where = f" line {self.line}" if self.line else ""
        where += f" at {self.xpath}" if self.xpath else ""
        level = "error" if self.is_error else "warning"
        return f"{level} [{self.kind}] {self.rule}{where}: {self.message}"


@dataclass
class Report:
    """Every finding about one document; valid when none is an error."""

    source: str
    findings: list[Finding] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)   # what was run: schema, header, …

    @property
    def valid(self) -> bool:
        return not any(f.is_error for f in self.findings)

    def as_dict(self) -> dict:
        return {"file": self.source, "valid": self.valid, "checked": self.checked,
                "findings": [{**asdict(f), "kind": str(f.kind)} for f in self.findings]}
