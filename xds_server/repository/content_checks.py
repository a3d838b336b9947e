"""What the repository checks in a document's content before storing it (profile `cisis`):
each text/xml document must be a valid CI-SIS CDA, and its DocumentEntry must agree with its
header. Findings become registry errors naming the document, the rule and the place."""

from __future__ import annotations

from dataclasses import dataclass

from ..cda.consistency import check_consistency
from ..cda.validator import CdaValidator
from ..model.content import Attachment
from ..model.errors import ErrorCode, RegistryError, error
from ..model.metadata import DocumentEntry
from ..model.signature_entry import claims_to_be_signature

CDA_MIME_TYPES = frozenset({"text/xml", "application/xml", "application/hl7-v3+xml"})
MAX_REPORTED = 10


@dataclass
class CdaContentCheck:
    validator: CdaValidator

    def __call__(self, entry: DocumentEntry, name: str,
                 attachment: Attachment) -> list[RegistryError]:
        if (entry.mime_type or "").split(";")[0].strip() not in CDA_MIME_TYPES \
                or claims_to_be_signature(entry):      # XML, but a signature (dsig/)
            return []
        checked = self.validator.validate(attachment.read_bytes(), name)
        problems = [f for f in checked.report.findings if f.is_error]
        errors = [error(ErrorCode.REPOSITORY_ERROR,
                        f"DocumentEntry {name}: the document is not a valid CI-SIS CDA: "
                        f"{finding.text()}", "Document")
                  for finding in problems[:MAX_REPORTED]]
        if len(problems) > MAX_REPORTED:
            errors.append(error(ErrorCode.REPOSITORY_ERROR,
                                f"DocumentEntry {name}: {len(problems) - MAX_REPORTED} more "
                                "findings (run `xds-server validate` on the document)",
                                "Document"))
        if checked.header is not None:
            errors += [error(m.code, f"DocumentEntry {name}: {m.message}",
                             f"DocumentEntry.{m.field}")
                       for m in check_consistency(entry, checked.header)]
        return errors
