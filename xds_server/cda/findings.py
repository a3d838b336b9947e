"""What validation says about a document: findings with their kind, rule, place and message."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum


class Kind(StrEnum):
    NOT_CDA = "not-cda"            # the file is no CDA (or cannot be read): nothing was checked
    NOT_CHECKED = "not-checked"    # a check could not be made (a schematron that fails to run)
    SCHEMA = "schema"
    HEADER = "header"          # the CI-SIS header rules of this project
    SCHEMATRON = "schematron"  # the official ANS schematrons, when a kit is installed
    CONSISTENCY = "consistency"
    SIGNATURE = "signature"    # the document's own signature (dsig/cda.py)


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


UNCHECKED = frozenset({Kind.NOT_CDA, Kind.NOT_CHECKED})


@dataclass
class Report:
    """Every finding about one document; valid when none is an error."""

    source: str
    findings: list[Finding] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)   # what was run: schema, header, …

    @property
    def valid(self) -> bool:
        return not any(f.is_error for f in self.findings)

    @property
    def fully_checked(self) -> bool:
        """False when a check could not be made: the verdict is not known, which is not
        "invalid" (`xds-server validate` exits 2, not 1)."""
        return not any(f.kind in UNCHECKED for f in self.findings)

    @property
    def verdict(self) -> str:
        """What `validate` prints, in step with its exit status: 'not checked' (2) only when a
        check could not be made; a readable file that is no CDA is an invalid one (1): it was
        printed 'NOT CHECKED' and exited 1."""
        if any(f.kind is Kind.NOT_CHECKED for f in self.findings):
            return "not checked"
        return "valid" if self.valid else "invalid"

    def as_dict(self) -> dict:
        return {"file": self.source, "valid": self.valid, "verdict": self.verdict,
                "checked": self.checked,
                "findings": [{**asdict(f), "kind": str(f.kind)} for f in self.findings]}
