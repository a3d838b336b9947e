"""A step's message as the toolkit builds it from the template, in the toolkit's order
(BasicTransaction.prepareMetadata): test parameters, UseReport values, then for a submission
$now$/$lastyear$, the patient, UseId values, new uniqueIds and UUIDs; then UseId,
UseRepositoryUniqueId/UseObjectRef values (not in a Retrieve, which the toolkit fills from
UseReport only) and $now$/$lastyear$ once more."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

from . import ebrs21, linkage
from . import metadata as md
from .log import StepRecord, add_assignments
from .plan import PARSER, Step, Transaction
from .scope import PATIENT, Scope


class TemplateError(Exception):
    """The testplan or its files cannot be used as they are (an error of the run)."""


@dataclass
class Prepared:
    message: etree._Element
    uuids: dict[str, str] = field(default_factory=dict)
    values: dict[str, str] = field(default_factory=dict)    # every symbol filled, its value
    reports: dict[str, str] = field(default_factory=dict)   # <id>_uid, <id>_uuid


def load_message(directory: Path, name: str | None) -> etree._Element:
    if not name:
        raise TemplateError("the transaction names no MetadataFile")
    path = directory / name
    try:
        root = etree.parse(str(path), PARSER).getroot()
    except (OSError, ValueError) as exc:
        raise TemplateError(f"cannot read {path}: {exc}") from None
    return root


def _submission_of(root: etree._Element) -> etree._Element:
    """The SubmitObjectsRequest of a template (some wrap it in the ProvideAndRegister request:
    the toolkit parses out the metadata and builds the request anew)."""
    if etree.QName(root).localname == "SubmitObjectsRequest":
        return root
    inner = [e for e in root.iter() if isinstance(e.tag, str)
             and etree.QName(e).localname == "SubmitObjectsRequest"]
    if len(inner) != 1:
        raise TemplateError(f"the {etree.QName(root).localname} template holds "
                            f"{len(inner)} SubmitObjectsRequest")
    return inner[0]


def _patient_for(scope: Scope, step: Step, alt_patient: str | None) -> str:
    if step.alt_patient_id and alt_patient:
        return alt_patient
    scope.run.patients.ensure_fed(scope.state.patient)
    return scope.state.patient


def prepare(scope: Scope, step: Step, t: Transaction, record: StepRecord,
            alt_patient: str | None) -> Prepared:
    root = load_message(scope.section.directory, t.metadata_file)
    if t.parse_metadata and t.iti in ("ITI-41", "ITI-42", "ITI-57"):
        root = _submission_of(root)
    if ebrs21.is_ebrs21(root) and t.convert:
        root = ebrs21.translate(root)
    prepared = Prepared(root)

    params = scope.params()
    text = etree.tostring(root, encoding="unicode")
    if "$now$" in text:
        scope.run.after_last_write()
    if PATIENT in text:
        scope.run.patients.ensure_fed(scope.state.patient)
    fill(prepared, {k: v for k, v in params.items() if k in text})
    fill(prepared, {use.use_as: scope.use_report(use) for use in t.use_reports})
    uid_reports = prepared.reports
    if md.is_submission(root) and t.parse_metadata:
        fill(prepared, linkage.standard_values())
        if t.assign_patient_id:
            patient = _patient_for(scope, step, alt_patient)
            add_assignments(record, "AssignedPatientId", md.assign_patient(root, patient))
        fill(prepared, {use.symbol: scope.use_id(use, step.id) for use in t.use_ids})
        if t.assign_uids:
            uids = md.assign_unique_ids(root, t.no_assign_uid_to, t.uuid_exclusions)
            add_assignments(record, "AssignedUids", uids)
            uid_reports.update({f"{k}_uid": v for k, v in uids.items()})
        if t.assign_uuids:
            try:
                prepared.uuids = md.assign_uuids(root)
            except ValueError as exc:
                raise TemplateError(str(exc)) from None
            add_assignments(record, "AssignedUuids", prepared.uuids)
            uid_reports.update({f"{k}_uuid": v for k, v in prepared.uuids.items()})
    if t.applies_use_ids:
        fill(prepared, {use.symbol: scope.use_id(use, step.id) for use in t.use_ids})
        fill(prepared, {use.symbol: scope.use_result(use, step.id) for use in t.use_results})
    fill(prepared, {symbol: f"urn:uuid:{uuid.uuid4()}" for symbol in t.new_uuid_symbols})
    fill(prepared, linkage.standard_values())
    return prepared


def fill(prepared: Prepared, values: dict[str, str]) -> None:
    values = {k: v for k, v in values.items() if k and v}
    linkage.replace(prepared.message, values)
    prepared.values.update(values)
