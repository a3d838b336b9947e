"""One CDA document through every check that applies: is it a CDA, the schema, the CI-SIS
header rules, and (when a kit is installed and asked for) the official ANS schematrons."""

from __future__ import annotations

from copy import deepcopy
from dataclasses import dataclass, field
from typing import Protocol

from lxml import etree

from .document import NotCda, parse_cda
from .findings import Finding, Kind, Report
from .header import CdaHeader, read_header
from .header_rules import RuleContext, check_header
from .schema import CdaSchema

DS_SIGNATURE = "{http://www.w3.org/2000/09/xmldsig#}Signature"


class SchematronRunner(Protocol):
    def check(self, root: etree._Element, source: str) -> tuple[list[str], list[Finding]]:
        """The schematrons it ran, and their findings."""


def unsigned(root: etree._Element) -> etree._Element:
    """The document without its enveloped signature: the CI-SIS allows a signed CDA, whose
    `ds:Signature` (last child of ClinicalDocument) the CDA schema does not know; the schema
    checks the document it signs (dsig/cda.py verifies the signature)."""
    signatures = [child for child in root if child.tag == DS_SIGNATURE]
    if not signatures:
        return root
    copy = deepcopy(root)
    for child in [c for c in copy if c.tag == DS_SIGNATURE]:
        copy.remove(child)
    return copy


@dataclass
class Checked:
    """A validated document: its report, and its header when it was a CDA."""

    report: Report
    root: etree._Element | None = None
    header: CdaHeader | None = None


@dataclass
class CdaValidator:
    schema: CdaSchema | None
    context: RuleContext = field(default_factory=RuleContext)
    schematrons: SchematronRunner | None = None

    def validate(self, data: bytes, source: str = "document") -> Checked:
        report = Report(source)
        try:
            root = parse_cda(data)
        except NotCda as exc:
            report.findings.append(Finding(Kind.NOT_CDA, "CDA", str(exc), line=exc.line))
            return Checked(report)
        if self.schema is not None:
            report.checked.append(f"schema: {self.schema.label}")
            report.findings += self.schema.check(unsigned(root))
        else:
            report.findings.append(Finding(
                Kind.SCHEMA, "XSD", "the CDA schema was not checked: no schema is available "
                "(install the ANS kit with `xds-server kit install --from DIR`)",
                is_error=False))
        header = read_header(root)
        report.checked.append("CI-SIS header rules")
        report.findings += check_header(root, header, self.context)
        if self.schematrons is not None:
            names, findings = self.schematrons.check(root, source)
            report.checked += [f"schematron: {name}" for name in names]
            report.findings += findings
        return Checked(report, root, header)
