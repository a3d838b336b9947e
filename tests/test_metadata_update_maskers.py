"""The patient and a legal representative change, in a document they did not write, its
visibility codes and its status only (security/access.py MASKERS, registry/update_rights.py;
outside round 19e, E9): a new version changing any other field, and any association their
ITI-57 carries but its new versions' HasMember and status changes of documents, are refused,
by field and by association; the author and an administrator still change them."""

from __future__ import annotations

import copy

import pytest

from xds_server.consumer.metadata import (
    has_member,
    new_version,
    relationship,
    status_update,
    submit_association,
)
from xds_server.model import vocabulary as v
from xds_server.model.errors import RegistryFailure
from xds_server.model.metadata import Author, Code, Submission
from xds_server.security.principal import SYSTEM

from .registry_data import folder, submission_set
from .test_access_matrix import VISIBILITY, Record, _urn, principal_of

ARCHIVED = "urn:asip:ci-sis:2010:StatusType:Archived"
MASKERS = ["patient", "legal representative"]


@pytest.fixture
def record(make_app) -> Record:
    return Record(make_app(profile="ihe"))


def _title(entry):
    entry.title = "by the patient"


def _comments(entry):
    entry.comments = "comment by the patient"


def _type_code(entry):
    entry.type_code = Code("11490-0", "2.16.840.1.113883.6.1", "Lettre de sortie")


def _event_codes(entry):
    entry.event_codes = [*entry.event_codes, Code("E1", "1.2.250.1.999", "added")]


def _author_institution(entry):
    entry.authors = [Author(person=a.person, institutions=["Autre^^^^^^^^^1.2.3"])
                     for a in entry.authors]


def _confidentiality(entry):
    entry.confidentiality_codes = [Code("R", "2.16.840.1.113883.5.25")] + [
        c for c in entry.confidentiality_codes if c.code in v.VISIBILITY_CODES]


CHANGES = {"title": _title, "comments": _comments, "typeCode": _type_code,
           "eventCodeList": _event_codes, "author": _author_institution,
           "confidentialityCode": _confidentiality}


def _version(record: Record, ids: dict, change=None, codes: list[str] | None = None):
    entry = copy.deepcopy(ids["model"])
    entry.entry_uuid = _urn()
    if change is not None:
        change(entry)
    if codes is not None:
        entry.confidentiality_codes = [c for c in entry.confidentiality_codes
                                       if c.code not in v.VISIBILITY_CODES] + \
            [Code(code, VISIBILITY) for code in codes]
    return new_version(submission_set(record.patient, _urn()), entry, ids["entry"], "1")


def _refused(record: Record, submission: Submission, reader: str) -> list:
    with pytest.raises(RegistryFailure) as failure:
        record.update(submission, principal_of(record, reader, "normal"))
    return failure.value.errors


@pytest.mark.parametrize("reader", MASKERS)
@pytest.mark.parametrize("field", list(CHANGES))
def test_a_masker_changes_no_other_field(record, reader, field):
    ids = record.store("plain")
    errors = _refused(record, _version(record, ids, CHANGES[field]), reader)
    assert [e.location for e in errors] == [f"DocumentEntry.{field}"], errors
    assert errors[0].code == "XDSMetadataUpdateError"
    assert "only the author or an administrator" in errors[0].context


@pytest.mark.parametrize("reader", MASKERS)
def test_a_masker_cannot_rename_the_author(record, reader):
    ids = record.store("plain")
    errors = _refused(record, _version(record, ids, lambda e: setattr(
        e, "authors", [Author(person="285067512345639^PATIENT^Moi")])), reader)
    assert [e.location for e in errors] == ["DocumentEntry.author"], errors


@pytest.mark.parametrize("reader", ["author A", "administrator"])
@pytest.mark.parametrize("field", ["title", "comments", "typeCode", "eventCodeList"])
def test_the_author_and_an_administrator_still_change_them(record, reader, field):
    ids = record.store("plain")
    record.update(_version(record, ids, CHANGES[field]), principal_of(record, reader,
                                                                      "normal"))


@pytest.mark.parametrize("reader", MASKERS)
def test_a_masker_masks_unmasks_and_archives(record, reader):
    """The workflows the rules give them: MASQUE_PS added, removed; Archived and back."""
    ids = record.store("plain")
    principal = principal_of(record, reader, "normal")
    masked = _version(record, ids, codes=["MASQUE_PS"])
    record.update(masked, principal)
    second = masked.documents[0]
    ids2 = {**ids, "entry": second.entry_uuid, "model": second}
    unmasked = new_version(submission_set(record.patient, _urn()),
                           _version(record, ids2, codes=[]).documents[0], ids["entry"], "2")
    record.update(unmasked, principal)
    latest = unmasked.documents[0].entry_uuid
    for old, new in ((v.APPROVED, ARCHIVED), (ARCHIVED, v.APPROVED)):
        record.update(status_update(submission_set(record.patient, _urn()), latest, old, new),
                      principal)


@pytest.mark.parametrize("reader", MASKERS)
def test_a_masker_adds_no_association(record, reader):
    first, second = record.store("plain"), record.store("plain")
    errors = _refused(record, submit_association(
        submission_set(record.patient, _urn()),
        relationship(v.APND, first["entry"], second["entry"])), reader)
    assert [e.location for e in errors] == ["Association.associationType"], errors
    assert "SubmitAssociation" in errors[0].context


@pytest.mark.parametrize("reader", MASKERS)
def test_a_masker_adds_no_association_beside_a_masking(record, reader):
    """The masking itself is allowed; the HasMember riding beside it is not."""
    first, second = record.store("plain"), record.store("plain")
    masking = _version(record, first, codes=["MASQUE_PS"])
    masking.associations.append(has_member(masking.submission_set.entry_uuid,
                                           second["entry"], "Reference", _urn()))
    masking.associations.append(relationship(v.APND, masking.documents[0].entry_uuid,
                                             second["entry"]))
    errors = _refused(record, masking, reader)
    assert [e.location for e in errors] == ["Association.associationType"] * 2, errors
    assert "HasMember" in errors[0].context and "APND" in errors[1].context


def test_the_author_still_links(record):
    first, second = record.store("plain"), record.store("plain")
    record.update(submit_association(submission_set(record.patient, _urn()),
                                     relationship(v.APND, first["entry"], second["entry"])),
                  principal_of(record, "author A", "normal"))


@pytest.mark.parametrize("reader, allowed", [("patient", False),
                                             ("legal representative", False),
                                             ("authorised professional", True),
                                             ("administrator", True)])
def test_only_a_professional_or_an_administrator_versions_a_folder(record, reader, allowed):
    package, group = submission_set(record.patient, _urn()), folder(record.patient, _urn())
    record.app.registry.register(Submission(package, [], [group], associations=[
        has_member(package.entry_uuid, group.entry_uuid, entry_uuid=_urn())]), SYSTEM)
    second = folder(record.patient, _urn(), title="renamed", unique_id=group.unique_id,
                    logical_id=group.entry_uuid)
    update = submission_set(record.patient, _urn())
    link = has_member(update.entry_uuid, second.entry_uuid, entry_uuid=_urn())
    link.slots[v.PREVIOUS_VERSION] = ["1"]
    submission = Submission(update, [], [second], associations=[link])
    if allowed:
        record.update(submission, principal_of(record, reader, "normal"))
        return
    errors = _refused(record, submission, reader)
    assert [e.location for e in errors] == ["Folder"], errors


@pytest.mark.parametrize("reader", MASKERS)
def test_a_masker_changes_no_association_status(record, reader):
    """An author's APND, deprecated by the patient: the link is the professionals'."""
    first, second = record.store("plain"), record.store("plain")
    link = relationship(v.APND, first["entry"], second["entry"])
    link.entry_uuid = _urn()
    record.update(submit_association(submission_set(record.patient, _urn()), link),
                  principal_of(record, "author A", "normal"))
    errors = _refused(record, status_update(submission_set(record.patient, _urn()),
                                            link.entry_uuid, v.APPROVED, v.DEPRECATED), reader)
    assert [e.location for e in errors] == ["Association.NewStatus"], errors


def test_a_lid_naming_a_version_hidden_from_the_caller_is_an_unknown_id(record):
    """Outside round 19k, 19k-1: after the patient masked a document (v2, MASQUE_PS) and
    unmasked it (v3), a professional naming v2 as the lid was told "a later version of
    logicalId …": that the hidden version belongs to this document. Now: as any unknown id."""
    ids = record.store("plain")
    patient = principal_of(record, "patient", "normal")
    masked = _version(record, ids, codes=["MASQUE_PS"])
    record.update(masked, patient)
    second = masked.documents[0]
    ids2 = {**ids, "entry": second.entry_uuid, "model": second}
    record.update(new_version(submission_set(record.patient, _urn()),
                              _version(record, ids2, codes=[]).documents[0], ids["entry"],
                              "2"), patient)
    errors = _refused(record, new_version(submission_set(record.patient, _urn()),
                                          _version(record, ids2).documents[0],
                                          second.entry_uuid, "3"), "authorised professional")
    said = " ".join(e.context for e in errors)
    assert "is not registered" in said and "later version" not in said, errors
    assert ids["entry"] not in said, errors
