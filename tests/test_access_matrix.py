"""The access decision on every transaction: ITI-18 (Get* by id, associations), ITI-43,
ITI-57 (status change, deletion), ITI-62, ITI-86, ITI-41 (feeding) × every reader kind
(and a caller whose VIHF names another patient) × every visibility code × access mode ×
the patient's oppositions, through the actors on every database.

The expectations are written here from the DMP's rules (tests/test_access_policy.py holds the
reading rule, `expected`), independently of security/access.py:
- a change (ITI-57 status change, new metadata version, association added by
  SubmitAssociation) touches what the caller sees, both ends of an association included;
- only the author deletes (the Deleted status), among what they see;
- removal for good of metadata (ITI-62) is for administrators or the author, among what they
  see; of bytes (ITI-86, IHE RMD: after ITI-62) for the record's administrators, the
  document's authors or its submitter (these documents are stored by the system);
- professionals, patients and their representatives feed a record, administrators do not,
  and a patient's opposition to feeding refuses professionals;
- a caller whose VIHF names another patient sees and changes nothing of this record;
- a professional the record is closed to sees what they wrote: their documents, their
  submission sets, and the associations between those.
"""

from __future__ import annotations

import copy
import itertools
import uuid

import pytest
from lxml import etree

from xds_server.consumer.metadata import (
    has_member,
    new_version,
    relationship,
    status_update,
    submit_association,
    submit_objects_request,
)
from xds_server.ebxml.decode import decode_submission
from xds_server.model import vocabulary as v
from xds_server.model.content import Attachment
from xds_server.model.errors import RegistryFailure
from xds_server.model.metadata import Author, Code, Submission
from xds_server.registry.update import DELETED
from xds_server.repository.actor import DocumentRequest
from xds_server.security.principal import SYSTEM, Principal

from .registry_data import (
    document,
    library_query,
    new_patient,
    open_patient,
    submission_set,
)
from .test_access_policy import DOCUMENTS, READERS, VISIBILITY, expected
from .test_access_policy import READER as AUTHORISED

ARCHIVED = "urn:asip:ci-sis:2010:StatusType:Archived"
GET_DOCUMENTS = "urn:uuid:5c4f972b-d56b-40ac-a5fc-c8ca9b40b9d4"
GET_ASSOCIATIONS = "urn:uuid:a7ae438b-4bc2-4642-93e9-be891f7bb155"
ELSEWHERE = "another patient's caller"
WRITE_MODES = (("normal", False), ("bris_de_glace", False), ("bris_de_glace", True))


def _urn() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


class Record:
    """One patient's record in an app, its documents stored through the repository."""

    def __init__(self, app) -> None:
        self.app = app
        self.patient = new_patient()
        self.elsewhere = new_patient()
        open_patient(app, self.patient)
        open_patient(app, self.elsewhere)
        app.records.authorize(self.patient, AUTHORISED)

    def store(self, name: str) -> dict[str, str]:
        """A document like DOCUMENTS[name] (visibility, author, deleted), with its set."""
        code, author, deleted = DOCUMENTS[name]
        person = f"{author}^AUTEUR^{name}^^^^^^&1.2.250.1.71.4.2.1&ISO"
        content = f"{name} {uuid.uuid4()}".encode()
        entry = document(self.patient, _urn(), content=content, mime_type="text/plain",
                         repository_unique_id=None, authors=[Author(person=person)],
                         confidentiality_codes=[Code("N", "2.16.840.1.113883.5.25")] + (
                             [Code(code, VISIBILITY)] if code else []))
        package = submission_set(self.patient, _urn(), authors=[Author(person=person)])
        link = has_member(package.entry_uuid, entry.entry_uuid, entry_uuid=_urn())
        self.app.repository.provide(Submission(package, [entry], associations=[link]),
                                    {entry.entry_uuid: Attachment.from_bytes(content)},
                                    SYSTEM, [])
        ids = {"entry": entry.entry_uuid, "unique": entry.unique_id,
               "set": package.entry_uuid, "link": link.entry_uuid,
               "status": v.APPROVED, "others": [], "model": entry}
        if deleted:
            change = status_update(submission_set(self.patient, _urn()), ids["entry"],
                                   v.APPROVED, DELETED)
            change.associations[0].entry_uuid = _urn()
            self.update(change, SYSTEM)
            ids["status"] = DELETED
            ids["others"] = [change.submission_set.entry_uuid, change.associations[0].entry_uuid]
        return ids

    def update(self, submission: Submission, principal: Principal) -> None:

        decoded = decode_submission(submit_objects_request(submission)).submission
        self.app.registry.update(decoded, principal)

    def set_oppositions(self, modes: list[str]) -> None:
        self.app.records.set_oppositions(self.patient, modes)


@pytest.fixture
def record(make_app) -> Record:
    return Record(make_app(profile="ihe"))


def principal_of(record: Record, reader: str, mode: str) -> Principal:
    if reader == ELSEWHERE:
        return Principal(subject_id=DOCUMENTS["plain"][1], role="professional",
                         purpose_of_use=mode, patient_id=record.elsewhere)
    kind, subject, _ = READERS[reader]
    return Principal(subject_id=subject, role=kind, purpose_of_use=mode,
                     patient_id=record.patient)


def sees(reader: str, name: str, mode: str, opposed: bool) -> bool:
    return reader != ELSEWHERE and name in expected(reader, mode, opposed)


def is_author(reader: str, name: str) -> bool:
    return reader != ELSEWHERE and READERS[reader][1] == DOCUMENTS[name][1]


def is_admin(reader: str) -> bool:
    return reader != ELSEWHERE and READERS[reader][0] == "administrator"


def record_open(reader: str, mode: str, opposed: bool) -> bool:
    kind, _, authorised = READERS[reader]
    return kind != "professional" or authorised or (mode != "normal" and not opposed)


# --- reading: ITI-18 by id and ITI-43 -----------------------------------------------------------

def test_reading_by_id_and_retrieving(record):
    stored = {name: record.store(name) for name in DOCUMENTS}
    by_uuid = {ids["entry"]: name for name, ids in stored.items()}
    by_unique = {ids["unique"]: name for name, ids in stored.items()}
    links = {ids["link"]: name for name, ids in stored.items()}
    for opposed in (False, True):
        record.set_oppositions(["bris_de_glace", "centre_15"] if opposed else [])
        for reader, mode in itertools.product([*READERS, ELSEWHERE],
                                              ("normal", "bris_de_glace", "centre_15")):
            principal = principal_of(record, reader, mode)
            want = {name for name in DOCUMENTS if sees(reader, name, mode, opposed)}
            case = (reader, mode, opposed)
            got = _query(record, GET_DOCUMENTS, {
                "$XDSDocumentEntryEntryUUID": [list(by_uuid)],
                "$XDSDocumentEntryStatus": [[v.APPROVED, DELETED]]}, principal)
            assert {by_uuid[o.get("id")] for o in got} == want, case
            got = _query(record, GET_ASSOCIATIONS, {"$uuid": [[ids["set"] for ids in
                                                               stored.values()]]}, principal)
            shown = {links[o.get("id")] for o in got}
            # a record closed to a professional: the links of what they wrote (their sets)
            assert shown == (want if reader != ELSEWHERE and record_open(reader, mode, opposed)
                             else {name for name in want if is_author(reader, name)}), case
            found, _ = record.app.repository.retrieve(
                [DocumentRequest(record.app.settings.repository_unique_id, unique_id)
                 for unique_id in by_unique], principal)
            assert {by_unique[d.request.document_unique_id] for d in found} == want, case


def _query(record: Record, query_id: str, slots: dict, principal: Principal) -> list:
    answer, _ = library_query(record.app, query_id, slots, principal)
    return [etree.fromstring(xml) for xml in answer]


# --- changing: ITI-57, ITI-62, ITI-86 -----------------------------------------------------------

def _cases():
    for reader, name in itertools.product([*READERS, ELSEWHERE], DOCUMENTS):
        for mode, opposed in WRITE_MODES:
            yield reader, name, mode, opposed


def _change(record: Record, operation: str, ids: dict, principal: Principal):
    """Runs `operation` on the stored document `ids`; its errors (an empty list: done)."""
    repository_id = record.app.settings.repository_unique_id
    if operation in ("status change", "deletion"):
        new = ARCHIVED if operation == "status change" else DELETED
        return record.update(status_update(submission_set(record.patient, _urn()),
                                           ids["entry"], ids["status"], new), principal)
    if operation == "new version":
        entry = copy.deepcopy(ids["model"])
        entry.entry_uuid, entry.title = _urn(), "Titre corrigé"
        return record.update(new_version(submission_set(record.patient, _urn()), entry,
                                         ids["entry"], "1"), principal)
    if operation == "association":
        other = record.store("plain")
        return record.update(submit_association(
            submission_set(record.patient, _urn()),
            relationship(v.APND, other["entry"], ids["entry"])), principal)
    if operation == "ITI-62":
        return record.app.registry.remove(
            [ids["entry"], ids["set"], ids["link"], *ids["others"]], principal)
    record.app.registry.remove([ids["entry"], ids["set"], ids["link"], *ids["others"]],
                               SYSTEM)                  # IHE RMD: the metadata goes first
    return record.app.repository.remove([DocumentRequest(repository_id, ids["unique"])],
                                        principal)[1]


def is_patient_side(reader: str) -> bool:
    return reader != ELSEWHERE and READERS[reader][0] in ("patient", "legal_representative")


def _wanted(operation: str, reader: str, name: str, visible: bool) -> bool:
    if operation == "status change":
        # the patient's side may archive a document
        return visible and (is_author(reader, name) or is_admin(reader)
                            or is_patient_side(reader))
    if operation == "new version":
        # a new title: the document's metadata is its author's (and an administrator's); the
        # patient's side posts versions changing its visibility codes only (outside 19e, E9)
        return visible and (is_author(reader, name) or is_admin(reader))
    if operation == "association":
        # links between documents are the professionals' (outside 19e, E9)
        return visible and not is_patient_side(reader)
    if operation == "deletion":
        return visible and is_author(reader, name)
    if operation == "ITI-86":         # on the repository's row: stored by the system, with
        # its authors (0014): whoever ITI-62 lets remove the entries may remove the bytes
        return reader != ELSEWHERE and (is_admin(reader) or is_author(reader, name))
    return visible and (is_admin(reader) or is_author(reader, name))


@pytest.mark.parametrize("operation", ["status change", "new version", "association",
                                       "deletion", "ITI-62", "ITI-86"])
def test_changes_follow_the_rules(record, operation):
    failures = []
    for reader, name, mode, opposed in _cases():
        if operation == "deletion" and DOCUMENTS[name][2]:
            continue                      # already Deleted
        record.set_oppositions(["bris_de_glace", "centre_15"] if opposed else [])
        ids = record.store(name)
        visible = sees(reader, name, mode, opposed)
        if operation == "association":       # the other end, a plain document, too; and
            visible = visible and sees(reader, "plain", mode, opposed) and \
                not DOCUMENTS[name][2]       # an added link joins Approved documents only
        want = _wanted(operation, reader, name, visible)
        try:
            done = not _change(record, operation, ids, principal_of(record, reader, mode))
        except RegistryFailure:
            done = False
        if done != want:
            failures.append((reader, name, mode, opposed, "done" if done else "refused"))
    assert not failures, failures


# --- feeding: ITI-41 ----------------------------------------------------------------------------

@pytest.mark.parametrize("opposed_feeding", [False, True])
def test_who_feeds_a_record(record, opposed_feeding):
    record.set_oppositions(["alimentation"] if opposed_feeding else [])
    failures = []
    for reader in [*READERS, ELSEWHERE]:
        principal = principal_of(record, reader, "normal")
        kind = READERS[reader][0] if reader != ELSEWHERE else None
        want = reader != ELSEWHERE and kind != "administrator" and not (
            opposed_feeding and kind == "professional")
        content = f"fed by {reader}".encode()
        entry = document(record.patient, _urn(), content=content, mime_type="text/plain",
                         repository_unique_id=None)
        package = submission_set(record.patient, _urn())
        try:
            record.app.repository.provide(Submission(package, [entry], associations=[
                has_member(package.entry_uuid, entry.entry_uuid)]),
                {entry.entry_uuid: Attachment.from_bytes(content)}, principal, [])
            done = True
        except RegistryFailure:
            done = False
        if done != want:
            failures.append((reader, "done" if done else "refused"))
    assert not failures, failures


def _with_visibility(ids: dict, codes: list[str]):
    entry = copy.deepcopy(ids["model"])
    entry.entry_uuid = _urn()
    entry.confidentiality_codes = [c for c in entry.confidentiality_codes
                                   if c.code not in v.VISIBILITY_CODES]
    entry.confidentiality_codes += [Code(code, VISIBILITY) for code in codes]
    return entry


@pytest.mark.parametrize("reader, name, codes, allowed", [
    # attacks of round 2: a reader deciding who else sees a document
    ("authorised professional", "invisible_patient", [], False),        # announce it himself
    ("authorised professional", "plain", ["MASQUE_PS"], False),         # hide it from peers
    ("authorised professional", "plain", ["INVISIBLE_PATIENT"], False),  # hide it from patient
    ("legal representative", "plain", ["INVISIBLE_PATIENT"], False),
    ("patient", "plain", ["INVISIBLE_REPRESENTANTS_LEGAUX"], False),
    ("legal representative", "invisible_representants", [], False),
    # what the rules give: the author and an administrator any code, the patient's side MASQUE_PS
    ("author A", "invisible_patient", [], True),
    ("administrator", "plain", ["MASQUE_PS"], True),
    ("patient", "plain", ["MASQUE_PS"], True),
    ("legal representative", "masque_ps", [], True),
])
def test_only_the_author_decides_who_else_sees_a_document(record, reader, name, codes,
                                                          allowed):
    ids = record.store(name)
    principal = principal_of(record, reader, "normal")
    submission = new_version(submission_set(record.patient, _urn()),
                             _with_visibility(ids, codes), ids["entry"], "1")
    try:
        record.update(submission, principal)
        done = True
    except RegistryFailure as failure:
        done = False
        assert any(said in e.context for e in failure.errors
                   for said in ("visibility code", "may update", "is not registered")), \
            failure.errors       # (a document hidden from the caller: not registered, to them)
    assert done == allowed
