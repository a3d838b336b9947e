"""Register Document Set-b (ITI-42): check a submission against the registry, then store it in
one database transaction; a rejected submission changes nothing.

Lifecycle (ITI TF-2 §3.42.4.1.3.5): a RPLC or XFRM_RPLC deprecates its target and the target's
addenda and transforms, and the replacement joins the folders of the original.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from lxml import etree
from sqlalchemy import Connection, Engine

from ..ebxml.encode import (
    encode_association,
    encode_document,
    encode_folder,
    encode_submission_set,
)
from ..model import vocabulary as v
from ..model.hl7 import dtm_key
from ..model.ids import urn_uuid
from ..model.metadata import Association, DocumentEntry, Submission, SubmissionSet
from ..security.access import VISIBILITY_SYSTEM, check_scope
from ..security.principal import Principal
from ..store import access_store
from ..store import registry_store as store
from ..store.xml_packing import pack
from ..validation.errors import ErrorCode, RegistryError, RegistryFailure, error
from ..validation.profiles import IHE, MetadataProfile
from .feeding import check_feeding
from .query_policy import hidden_objects

META = ErrorCode.REGISTRY_METADATA_ERROR


@dataclass
class _Plan:
    """What the transaction will write, built while the checks run."""

    patient: str
    deprecate: set[str] = field(default_factory=set)
    deprecate_folders: set[str] = field(default_factory=set)
    touched_folders: set[str] = field(default_factory=set)
    extra_associations: list[Association] = field(default_factory=list)


@contextlib.contextmanager
def pipelined(connection: Connection) -> Iterator[None]:
    """On PostgreSQL (psycopg 3), send the writes of a submission without waiting for each
    answer: one round trip instead of one per table. Elsewhere, nothing changes."""
    driver = connection.connection.driver_connection
    pipeline = getattr(driver, "pipeline", None)
    if connection.dialect.name != "postgresql" or pipeline is None:
        yield
        return
    with pipeline():
        yield


def now_dtm() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y%m%d%H%M%S")


class RegistryWriter:
    """The write side of the registry actor."""

    def __init__(self, engine: Engine, profile: MetadataProfile = IHE) -> None:
        self.engine = engine
        self.profile = profile

    def register(self, submission: Submission, principal: Principal,
                 decode_errors: list[RegistryError] | None = None,
                 within: Callable[[Connection], None] | None = None) -> list[RegistryError]:
        """Store `submission` or raise RegistryFailure; returns the warnings on success.

        `within` runs inside the same database transaction (the repository records its
        documents there, so registration and storage commit together)."""
        findings = list(decode_errors or [])
        findings += self.profile.check(submission)
        if any(f.is_error for f in findings):
            raise RegistryFailure(findings)
        check_scope(principal, [submission.submission_set.patient_id], "the submission")
        warnings = findings
        with self.engine.begin() as connection:
            plan = self._check_against_registry(connection, submission, principal)
            with pipelined(connection):
                self._write(connection, submission, plan)
                if within is not None:
                    within(connection)
                access_store.audit(connection, principal, "C", "success", plan.patient,
                                   [d.unique_id for d in submission.documents], "ITI-42",
                                   f"submission_set={submission.submission_set.unique_id}")
        return warnings

    # --- checks that need the registry ---------------------------------------------------------

    def _check_against_registry(self, connection: Connection, submission: Submission,
                                principal: Principal) -> _Plan:
        submission_set = submission.submission_set
        assert submission_set is not None
        name = submission.source_name
        patient = store.patient_key(submission_set.patient_id)
        errors: list[RegistryError] = []
        if store.patient_status(connection, patient) != store.OPEN:
            raise RegistryFailure([error(
                ErrorCode.UNKNOWN_PATIENT_ID,
                f"SubmissionSet {name(submission_set.entry_uuid)}: patientId "
                f"'{submission_set.patient_id}' is not a patient known to this registry "
                "(or the record is closed)", "SubmissionSet.patientId")])
        check_feeding(connection, principal, patient)
        plan = _Plan(patient)

        new_ids = {o.entry_uuid for o in (submission_set, *submission.documents,
                                          *submission.folders, *submission.associations)}
        unique_ids = [o.unique_id for o in (submission_set, *submission.documents,
                                            *submission.folders)]
        existing = store.find_existing(connection, new_ids, unique_ids)
        for entry in existing:
            if entry.entry_uuid in new_ids:
                errors.append(error(META, f"entryUUID {entry.entry_uuid} "
                                          f"({name(entry.entry_uuid)}) is already registered; "
                                          "UUIDs must be new", "entryUUID"))
        errors += self._check_unique_ids(connection, submission,
                                         [e for e in existing if e.unique_id in unique_ids],
                                         principal, patient)
        errors += self._check_references(connection, submission, plan, principal)
        if errors:
            raise RegistryFailure(errors)
        return plan

    def _check_unique_ids(self, connection: Connection, submission: Submission,
                          existing_entries: list[store.IndexEntry], principal: Principal,
                          patient: str) -> list[RegistryError]:
        """A uniqueId names one object of one record. A document submitted again (the same
        uniqueId, the same bytes) is accepted only into its own record and only from a caller
        who sees it: a copy in another record, or one made by someone it is hidden from, would
        give them a claim on bytes that are not theirs (ITI-86 removes by uniqueId)."""
        errors: list[RegistryError] = []
        name = submission.source_name
        documents = {d.unique_id: d for d in submission.documents}
        packages = {p.unique_id: p for p in (submission.submission_set, *submission.folders)
                    if p is not None}
        seen: set[str | None] = set()
        for existing in existing_entries:
            if existing.unique_id in seen:
                continue  # the same document registered several times: one verdict
            seen.add(existing.unique_id)
            if existing.unique_id in packages:
                obj = packages[existing.unique_id]
                errors.append(error(ErrorCode.DUPLICATE_UNIQUE_ID_IN_REGISTRY,
                                    f"{type(obj).__name__} {name(obj.entry_uuid)}: uniqueId "
                                    f"'{obj.unique_id}' is already registered",
                                    f"{type(obj).__name__}.uniqueId"))
                continue
            document = documents.get(existing.unique_id or "")
            if document is None or existing.kind != "document":
                errors.append(error(ErrorCode.DUPLICATE_UNIQUE_ID_IN_REGISTRY,
                                    f"uniqueId '{existing.unique_id}' is already registered for "
                                    f"a {existing.kind}", "uniqueId"))
                continue
            if existing.patient_id != patient or hidden_objects(
                    connection, principal, patient, [existing.entry_uuid]):
                errors.append(error(ErrorCode.DUPLICATE_UNIQUE_ID_IN_REGISTRY,
                                    f"DocumentEntry {name(document.entry_uuid)}: uniqueId "
                                    f"'{document.unique_id}' is already registered",
                                    "DocumentEntry.uniqueId"))
                continue
            # The same document submitted again (same uniqueId) must be the same bytes.
            for row in store.documents_by_unique_id(connection, existing.patient_id,
                                                    document.unique_id):
                if (row.hash or "").lower() != (document.hash or "").lower():
                    errors.append(error(
                        ErrorCode.NON_IDENTICAL_HASH,
                        f"DocumentEntry {name(document.entry_uuid)}: uniqueId "
                        f"'{document.unique_id}' is already registered with hash {row.hash}, "
                        f"this submission says {document.hash}", "DocumentEntry.hash"))
                    break
        return errors

    def _check_references(self, connection: Connection, submission: Submission,
                          plan: _Plan, principal: Principal) -> list[RegistryError]:
        """Targets outside the submission must exist, belong to the patient, be Approved. To
        a caller under the access policy, another patient's object and a document hidden from
        them do not exist."""
        errors: list[RegistryError] = []
        name = submission.source_name
        local = {o.entry_uuid for o in (*submission.documents, *submission.folders,
                                        *submission.associations)}
        if submission.submission_set:
            local.add(submission.submission_set.entry_uuid)
        outside = {ref for a in submission.associations for ref in (a.source, a.target)
                   if ref not in local}
        known = store.find_by_uuids(connection, outside)
        if not principal.is_system:
            known = {ref: entry for ref, entry in known.items()
                     if entry.patient_id == plan.patient}
            hidden = hidden_objects(connection, principal, plan.patient, sorted(known))
            known = {ref: entry for ref, entry in known.items() if ref not in hidden}
        statuses = self._statuses(connection, plan.patient, known.values())
        for association in submission.associations:
            label = f"Association {name(association.entry_uuid)}"
            for side in ("source", "target"):
                ref = getattr(association, side)
                if ref in local:
                    continue
                entry = known.get(ref)
                if entry is None:
                    errors.append(error(META, f"{label}: {side}Object {ref} is neither in this "
                                              "submission nor in the registry",
                                        f"Association.{side}Object"))
                elif entry.patient_id != plan.patient:
                    errors.append(error(ErrorCode.PATIENT_ID_DOES_NOT_MATCH,
                                        f"{label}: {side}Object {ref} belongs to another patient",
                                        f"Association.{side}Object"))
                elif _needs_approved(association, entry.kind) and \
                        statuses.get(ref) != v.APPROVED:
                    errors.append(error(META, f"{label}: {side}Object {ref} is "
                                              f"{_short(statuses.get(ref, '?'))}, not Approved",
                                        f"Association.{side}Object"))
            if association.type in v.DOCUMENT_RELATIONSHIPS and association.target in known \
                    and association.type != v.SIGNS:
                if known[association.target].kind != "document":
                    errors.append(error(META, f"{label}: target of {_short(association.type)} "
                                              "must be a DocumentEntry",
                                        "Association.targetObject"))
                elif association.type in v.REPLACING:
                    plan.deprecate.add(association.target)
            if association.type == v.HAS_MEMBER:
                entry = known.get(association.source)
                if entry is not None and entry.kind == "folder":
                    plan.touched_folders.add(association.source)
        if plan.deprecate and not errors:
            self._plan_replacements(connection, submission, plan)
        return errors

    def _statuses(self, connection: Connection, patient: str, entries) -> dict[str, str]:
        statuses: dict[str, str] = {}
        by_kind: dict[str, list[str]] = {}
        for entry in entries:
            if entry.patient_id == patient:
                by_kind.setdefault(entry.kind, []).append(entry.entry_uuid)
        for kind, uuids in by_kind.items():
            for row in store.object_rows(connection, kind, patient, uuids):
                statuses[row.entry_uuid] = row.status
        return statuses

    def _plan_replacements(self, connection: Connection, submission: Submission,
                           plan: _Plan) -> None:
        replaced = sorted(plan.deprecate)
        for row in store.associations_touching(connection, plan.patient, replaced, "target"):
            if row.type in (v.APND, v.XFRM) and row.status == v.APPROVED:
                plan.deprecate.add(row.source)  # addenda and transforms go with the original
        replacement_of = {a.target: a.source for a in submission.associations
                          if a.type in v.REPLACING}
        for row in store.associations_touching(connection, plan.patient, replaced, "target"):
            if row.type == v.HAS_MEMBER and row.target in replacement_of:
                folder = store.find_by_uuids(connection, [row.source]).get(row.source)
                if folder is not None and folder.kind == "folder":
                    plan.extra_associations.append(Association(
                        entry_uuid=urn_uuid(), type=v.HAS_MEMBER,
                        source=row.source, target=replacement_of[row.target]))
                    plan.touched_folders.add(row.source)

    # --- writing -------------------------------------------------------------------------------

    def _write(self, connection: Connection, submission: Submission, plan: _Plan) -> None:
        submission_set = submission.submission_set
        assert submission_set is not None
        clock = store.SequenceClock()
        timestamp = now_dtm()
        patient = plan.patient
        documents, sets, folder_rows, association_rows, values, index = [], [], [], [], [], []

        for obj in (submission_set, *submission.documents, *submission.folders):
            obj.extra_slots = {}  # reported as XDSExtraMetadataNotSaved, not stored
        sets.append(self._set_row(submission_set, patient, clock()))
        values += _author_values(submission_set, patient)
        index.append(_index(submission_set.entry_uuid, submission_set.unique_id,
                            "submission_set", patient))
        for document in submission.documents:
            document.logical_id = document.logical_id or document.entry_uuid
            document.version = document.version or "1"
            documents.append(self._document_row(document, patient, submission_set.entry_uuid,
                                                clock()))
            values += _document_values(document, patient)
            index.append(_index(document.entry_uuid, document.unique_id, "document", patient))
        for folder in submission.folders:
            folder.logical_id = folder.logical_id or folder.entry_uuid
            folder.version = folder.version or "1"
            folder.last_update_time = timestamp
            folder_rows.append({"patient_id": patient, "entry_uuid": folder.entry_uuid,
                                "unique_id": folder.unique_id, "logical_id": folder.logical_id,
                                "version": folder.version,
                                "last_update_time": timestamp, "status": v.APPROVED,
                                "registered_seq": clock(), "xml": _xml(encode_folder(folder))})
            values += [_value(patient, folder.entry_uuid, "folder_code", c.code, c.scheme)
                       for c in folder.codes]
            index.append(_index(folder.entry_uuid, folder.unique_id, "folder", patient))
        for association in (*submission.associations, *plan.extra_associations):
            association_rows.append({
                "patient_id": patient, "entry_uuid": association.entry_uuid,
                "type": association.type, "source": association.source,
                "target": association.target, "status": v.APPROVED,
                "registered_seq": clock(), "xml": _xml(encode_association(association))})
            index.append(_index(association.entry_uuid, None, "association", patient))

        store.insert_rows(connection, documents=documents, sets=sets, folder_rows=folder_rows,
                          association_rows=association_rows, values=values, index=index)
        if plan.deprecate:
            store.set_status(connection, "document", patient, sorted(plan.deprecate),
                             v.DEPRECATED)
        if plan.deprecate_folders:
            store.set_status(connection, "folder", patient, sorted(plan.deprecate_folders),
                             v.DEPRECATED)
        if plan.touched_folders:
            store.touch_folders(connection, patient, sorted(plan.touched_folders), timestamp)

    @staticmethod
    def _set_row(submission_set: SubmissionSet, patient: str, seq: int) -> dict:
        code = submission_set.content_type_code
        return {"patient_id": patient, "entry_uuid": submission_set.entry_uuid,
                "unique_id": submission_set.unique_id, "source_id": submission_set.source_id,
                "submission_time": dtm_key(submission_set.submission_time or ""),
                "content_type_code": code.code if code else None,
                "content_type_scheme": code.scheme if code else None,
                "status": v.APPROVED, "registered_seq": seq,
                "xml": _xml(encode_submission_set(submission_set))}

    @staticmethod
    def _document_row(document: DocumentEntry, patient: str, set_uuid: str, seq: int) -> dict:
        row = {"patient_id": patient, "entry_uuid": document.entry_uuid,
               "unique_id": document.unique_id, "logical_id": document.logical_id,
               "version": document.version, "status": v.APPROVED,
               "object_type": document.object_type,
               "creation_time": _key(document.creation_time),
               "service_start_time": _key(document.service_start_time),
               "service_stop_time": _key(document.service_stop_time),
               "repository_unique_id": document.repository_unique_id,
               "hash": (document.hash or "").lower() or None,
               "size": int(document.size) if document.size else None,
               "mime_type": document.mime_type, "submission_set": set_uuid,
               "registered_seq": seq, "xml": _xml(encode_document(document)),
               "visibility_codes": " ".join(c.code for c in document.confidentiality_codes
                                            if c.scheme == VISIBILITY_SYSTEM),
               "author_ids": " ".join(a.person.split("^", 1)[0] for a in document.authors
                                      if a.person)}
        for column, code in (("class", document.class_code), ("type", document.type_code),
                             ("format", document.format_code),
                             ("facility", document.healthcare_facility_type_code),
                             ("practice", document.practice_setting_code)):
            row[f"{column}_code"] = code.code if code else None
            row[f"{column}_scheme"] = code.scheme if code else None
        return row


def _key(value: str | None) -> str | None:
    return dtm_key(value) if value else None


# The largest object the registry keeps, as its LeafClass XML. A DocumentEntry is a few KB;
# the cap stops an object that grows when stored (a Description of 2.5 MB of '"' is 15 MB of
# '&quot;') from making every later answer about its record huge, or unreadable.
MAX_STORED_OBJECT_BYTES = 512 * 1024


def _xml(element: etree._Element) -> bytes:
    xml = etree.tostring(element, encoding="UTF-8", xml_declaration=False)
    if len(xml) > MAX_STORED_OBJECT_BYTES:
        kind = etree.QName(element).localname
        raise RegistryFailure([error(META, f"{kind} {element.get('id')}: its metadata is "
                                           f"{len(xml)} bytes as stored, over the "
                                           f"{MAX_STORED_OBJECT_BYTES} an object may have",
                                     kind)])
    return pack(xml)


def _index(entry_uuid: str, unique_id: str | None, kind: str, patient: str) -> dict:
    return {"entry_uuid": entry_uuid, "unique_id": unique_id, "kind": kind, "patient_id": patient}


def _value(patient: str, entry_uuid: str, kind: str, value: str, scheme: str = "") -> dict:
    return {"patient_id": patient, "entry_uuid": entry_uuid, "kind": kind, "value": value[:512],
            "scheme": scheme or ""}


def _unique(rows: list[dict]) -> list[dict]:
    return list({(r["kind"], r["value"], r["scheme"]): r for r in rows}.values())


def _author_values(obj: DocumentEntry | SubmissionSet, patient: str) -> list[dict]:
    return _unique([_value(patient, obj.entry_uuid, "author_person", a.person)
                    for a in obj.authors if a.person])


def _document_values(document: DocumentEntry, patient: str) -> list[dict]:
    rows = _author_values(document, patient)
    rows += [_value(patient, document.entry_uuid, "event_code", c.code, c.scheme)
             for c in document.event_codes]
    rows += [_value(patient, document.entry_uuid, "confidentiality_code", c.code, c.scheme)
             for c in document.confidentiality_codes]
    rows += [_value(patient, document.entry_uuid, "reference_id", r)
             for r in document.reference_ids]
    return _unique(rows)


def _needs_approved(association: Association, kind: str) -> bool:
    """Relationships and folder additions need an Approved target; a set may reference any."""
    return association.type != v.HAS_MEMBER or kind == "folder"


def _short(urn: str) -> str:
    return urn.rsplit(":", 1)[-1]
