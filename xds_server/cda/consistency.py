"""A DocumentEntry must say what its CDA says (CI-SIS, profile `cisis`): patient, typeCode,
creationTime, confidentiality, language, service times, legal authenticator, authors, uniqueId
and title. Each rule names both values when they differ."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from ..model import hl7
from ..model.errors import ErrorCode
from ..model.metadata import DocumentEntry
from .header import CdaHeader, to_dtm
from .mapping import xcn_of

MISMATCH = ErrorCode.REPOSITORY_METADATA_ERROR


@dataclass(frozen=True)
class Mismatch:
    code: ErrorCode
    field: str
    message: str


Rule = Callable[[DocumentEntry, CdaHeader], Iterator[Mismatch]]


def _same_time(xds: str | None, cda: str | None) -> bool:
    """Equal at the precision of the less precise of the two (XDS DTM may be truncated)."""
    if not xds or not cda:
        return True
    length = min(len(xds), len(cda))
    return xds[:length] == cda[:length]


def _patient(entry: DocumentEntry, header: CdaHeader) -> Iterator[Mismatch]:
    cx = hl7.Cx.parse(entry.patient_id) if entry.patient_id else None
    if cx is None:
        return
    if not any(i.root == cx.authority_oid and i.extension == cx.id for i in header.patient_ids):
        ids = ", ".join(f"{i.extension}@{i.root}" for i in header.patient_ids) or "none"
        yield Mismatch(ErrorCode.PATIENT_ID_DOES_NOT_MATCH, "patientId",
                       f"patientId '{entry.patient_id}' is not the document's patient "
                       f"(recordTarget/patientRole/id: {ids})")


def _type_code(entry: DocumentEntry, header: CdaHeader) -> Iterator[Mismatch]:
    code = entry.type_code
    if code is not None and header.code is not None \
            and (code.code, code.scheme) != (header.code.code, header.code.system):
        yield Mismatch(MISMATCH, "typeCode",
                       f"typeCode '{code.code}^^{code.scheme}' but the document's code is "
                       f"'{header.code.code}^^{header.code.system}'")


def _creation_time(entry: DocumentEntry, header: CdaHeader) -> Iterator[Mismatch]:
    cda = to_dtm(header.effective_time)
    if not _same_time(entry.creation_time, cda):
        yield Mismatch(MISMATCH, "creationTime",
                       f"creationTime '{entry.creation_time}' but the document's effectiveTime "
                       f"'{header.effective_time}' is {cda} in UTC")


def _confidentiality(entry: DocumentEntry, header: CdaHeader) -> Iterator[Mismatch]:
    cda = header.confidentiality
    if cda is None or not entry.confidentiality_codes:
        return
    if not any((c.code, c.scheme) == (cda.code, cda.system) for c in entry.confidentiality_codes):
        given = ", ".join(f"{c.code}^^{c.scheme}" for c in entry.confidentiality_codes)
        yield Mismatch(MISMATCH, "confidentialityCode",
                       f"confidentialityCode {given} does not include the document's "
                       f"'{cda.code}^^{cda.system}'")


def _service_times(entry: DocumentEntry, header: CdaHeader) -> Iterator[Mismatch]:
    pairs = (("serviceStartTime", entry.service_start_time, header.service_start, "low"),
             ("serviceStopTime", entry.service_stop_time, header.service_stop, "high"))
    for name, given, cda, bound in pairs:
        if given and cda is None:
            yield Mismatch(MISMATCH, name, f"{name} '{given}' but no documentationOf/serviceEvent"
                                           f"/effectiveTime/{bound} in the document")
        elif not _same_time(given, cda):
            yield Mismatch(MISMATCH, name,
                           f"{name} '{given}' but the document's serviceEvent/effectiveTime/"
                           f"{bound} is {cda} in UTC")


def _person_id(xcn: str | None) -> tuple[str, str] | None:
    if not xcn:
        return None
    parts = xcn.split("^")
    authority = parts[8].split("&") if len(parts) > 8 else []
    return (parts[0], authority[1] if len(authority) > 1 else "") if parts[0] else None


def _legal_authenticator(entry: DocumentEntry, header: CdaHeader) -> Iterator[Mismatch]:
    given = _person_id(entry.legal_authenticator)
    if given is None or header.legal_authenticator is None:
        return
    cda_ids = {(i.extension, i.root) for i in header.legal_authenticator.ids}
    if given not in cda_ids:
        yield Mismatch(MISMATCH, "legalAuthenticator",
                       f"legalAuthenticator '{entry.legal_authenticator}' but the document's "
                       f"legalAuthenticator is "
                       f"'{xcn_of(header.legal_authenticator) or 'without an id'}'")


def _authors(entry: DocumentEntry, header: CdaHeader) -> Iterator[Mismatch]:
    cda_ids = {(i.extension, i.root) for p in header.authors for i in p.ids}
    for author in entry.authors:
        given = _person_id(author.person)
        if given is not None and given not in cda_ids:
            listed = ", ".join(f"{e}@{r}" for e, r in sorted(cda_ids)) or "none"
            yield Mismatch(MISMATCH, "author",
                           f"authorPerson '{author.person}' is not an author of the document "
                           f"(author/assignedAuthor/id: {listed})")


def _same_text(field: str, given: Callable[[DocumentEntry], str | None],
               cda: Callable[[CdaHeader], str], cda_name: str) -> Rule:
    """A value the entry must repeat exactly (whitespace runs count as one space)."""

    def rule(entry: DocumentEntry, header: CdaHeader) -> Iterator[Mismatch]:
        ours, theirs = " ".join((given(entry) or "").split()), cda(header)
        if ours and theirs and ours != theirs:
            yield Mismatch(MISMATCH, field,
                           f"{field} '{ours}' but the document's {cda_name} is '{theirs}'")

    return rule


CONSISTENCY_RULES: tuple[Rule, ...] = (
    _patient, _type_code, _creation_time, _confidentiality, _service_times,
    _legal_authenticator, _authors,
    _same_text("languageCode", lambda e: e.language_code, lambda h: h.language, "languageCode"),
    _same_text("uniqueId", lambda e: e.unique_id, lambda h: h.unique_id, "id"),
    _same_text("title", lambda e: e.title, lambda h: h.title, "title"))


def check_consistency(entry: DocumentEntry, header: CdaHeader) -> list[Mismatch]:
    return [m for rule in CONSISTENCY_RULES for m in rule(entry, header)]
