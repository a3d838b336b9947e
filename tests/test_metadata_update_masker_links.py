"""A masking by the patient or a legal representative keeps the document's links (outside round
19f, 19f-4; registry/update_rights.py): the new current version of a signed CDA filed in a
folder and APNDed by another CDA is still in the folder, still the APND's target and still
what the DSG signature `signs`, whichever front wrote the update (ITI-57, the CLI's builder,
the FHIR PATCH). `AssociationPropagation=no` on a masker's HasMember dropped all three from the
current version (Success) although E9 refuses them every other way to drop a link: refused now,
named. The rest of the class, each refused for a masker: a second HasMember for one version, a
replaced (Deprecated) document revived by a status change or by a new version."""

from __future__ import annotations

import copy
import uuid

import pytest

from xds_server.consumer.changes import next_version
from xds_server.consumer.metadata import (
    has_member,
    new_version,
    relationship,
    status_update,
    submit_association,
    submit_objects_request,
)
from xds_server.ebxml.decode import decode_submission
from xds_server.ebxml.stored import model_object
from xds_server.model import vocabulary as v
from xds_server.model.errors import RegistryFailure
from xds_server.model.metadata import Code, Submission
from xds_server.model.stored_queries import (
    GetAssociations,
    GetDocuments,
    GetFolderAndContents,
    GetRelatedDocuments,
)
from xds_server.security.acting_author import acting_author
from xds_server.security.principal import SYSTEM, Principal

from . import test_fhir_matrix as matrix
from .cda_data import LEVEL1, TEST_INS
from .dsig_data import fresh, signed_submission, with_uuids
from .fhir_data import fhir
from .registry_data import folder, open_patient, submission_set

keys = matrix.keys          # the IUA issuer of the FHIR matrix
ARCHIVED = "urn:asip:ci-sis:2010:StatusType:Archived"
MASKERS = {"patient": Principal(TEST_INS.split("^")[0], "patient", patient_id=TEST_INS),
           "legal representative": Principal("LR-1", "legal_representative",
                                             patient_id=TEST_INS)}
PATCH = "application/json-patch+json"
VISIBILITY = ("https://mos.esante.gouv.fr/NOS/TRE_A07-StatutVisibiliteDocument/FHIR/"
              "TRE-A07-StatutVisibiliteDocument")


def _urn() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


@pytest.fixture
def app(make_app, authority, keys):
    _, issuer = keys
    app = make_app(profile="ihe", accept_test_ins=True,
                   signature_trusted_certs=str(authority.trusted),
                   vihf_trusted_certs=str(keys[0].trusted), **issuer.settings())
    open_patient(app, TEST_INS)
    return app


def _update(app, submission: Submission, principal: Principal) -> None:
    """As the SOAP front hands an ITI-57 to the registry (ebXML written and decoded)."""
    app.registry.update(decode_submission(submit_objects_request(submission)).submission,
                        principal)


def _signed_cda(app, authority, tmp_path) -> tuple[str, str]:
    """A signed set registered by ITI-41: (its CDA's entryUUID, its signature's)."""
    submission, documents, signature = signed_submission(authority, [fresh(LEVEL1, tmp_path)],
                                                         TEST_INS)
    with_uuids(submission, documents)
    app.repository.provide(submission, documents, SYSTEM, [])
    cda = next(d for d in submission.documents if d is not signature)
    return cda.entry_uuid, signature.entry_uuid


@pytest.fixture
def linked(app, authority, tmp_path) -> dict[str, str]:
    """A signed CDA filed in a folder and APNDed by another CDA: its links are a HasMember from
    its set, a HasMember from the folder, the APND to it and the signature's `signs`."""
    cda, signature = _signed_cda(app, authority, tmp_path)
    other, _ = _signed_cda(app, authority, tmp_path)
    package, group = submission_set(TEST_INS, _urn()), folder(TEST_INS, _urn())
    app.registry.register(Submission(package, [], [group], associations=[
        has_member(package.entry_uuid, group.entry_uuid, entry_uuid=_urn())]), SYSTEM)
    for link in (has_member(group.entry_uuid, cda, status=None), relationship(v.APND, other,
                                                                               cda)):
        link.entry_uuid = _urn()
        _update(app, submit_association(submission_set(TEST_INS, _urn()), link), SYSTEM)
    return {"cda": cda, "signature": signature, "other": other, "folder": group.entry_uuid}


def _registered(app, entry_uuid: str):
    [found] = app.registry.query(GetDocuments(entry_uuids=(entry_uuid,)),
                                 SYSTEM).result.documents
    return model_object(found)


def _current(app, linked) -> str:
    found = app.registry.query(GetDocuments(logical_ids=(linked["cda"],), metadata_level=2),
                               SYSTEM).result.documents
    [current] = [d for d in found if d.status != v.DEPRECATED]
    return current.entry_uuid


def assert_links_kept(app, linked) -> None:
    """The current version is in the folder, the APND's target and what the signature signs,
    through Approved associations, and the queries that read them find it."""
    current = _current(app, linked)
    assert current != linked["cda"]
    links = {(a.type, a.source) for a in app.registry.query(GetAssociations(uuids=(current,)),
                                                            SYSTEM).result.associations
             if a.target == current and a.status == v.APPROVED}
    assert {(v.HAS_MEMBER, linked["folder"]), (v.APND, linked["other"]),
            (v.SIGNS, linked["signature"])} <= links, links
    contents = app.registry.query(GetFolderAndContents(entry_uuids=(linked["folder"],)),
                                  SYSTEM).result.documents
    assert current in {d.entry_uuid for d in contents}
    related = app.registry.query(GetRelatedDocuments(entry_uuids=(current,),
                                                     association_types=(v.APND,)),
                                 SYSTEM).result.documents
    assert linked["other"] in {d.entry_uuid for d in related}


def _masking(app, linked, principal: Principal, target: str = "cda") -> Submission:
    """The masking `xds-server update mask` builds (consumer/changes.py next_version), the
    caller as the set's author."""
    return next_version(_registered(app, linked[target]), add_visibility="MASQUE_PS",
                        author=acting_author(principal))


def _refused(app, submission: Submission, principal: Principal) -> list:
    with pytest.raises(RegistryFailure) as failure:
        _update(app, submission, principal)
    return failure.value.errors


# --- the masking keeps the links, whichever front wrote it ----------------------------------


@pytest.mark.parametrize("reader", list(MASKERS))
def test_a_masking_keeps_folder_relationship_and_signature(app, linked, reader):
    """ITI-57 as `xds-server update mask` writes it (no AssociationPropagation: yes)."""
    _update(app, _masking(app, linked, MASKERS[reader]), MASKERS[reader])
    assert_links_kept(app, linked)


@pytest.mark.parametrize("kind", ["patient", "legal_representative"])
def test_a_fhir_patch_masking_keeps_the_links(app, keys, linked, kind):
    _, issuer = keys
    subject = TEST_INS.split("^")[0] if kind == "patient" else "LR-1"
    rid = linked["cda"].removeprefix("urn:uuid:")
    answer = fhir(app, "PATCH", f"/DocumentReference/{rid}", [
        {"op": "add", "path": "/securityLabel/-",
         "value": {"coding": [{"system": VISIBILITY, "code": "MASQUE_PS"}]}}], PATCH,
        headers=issuer.header(TEST_INS, kind=kind, subject=subject))
    assert answer.status == 200, answer.body
    assert_links_kept(app, linked)


# --- AssociationPropagation=no -----------------------------------------------------------------


@pytest.mark.parametrize("target, value", [("cda", "no"), ("cda", "NO"), ("signature", "no")])
@pytest.mark.parametrize("reader", list(MASKERS))
def test_a_masker_may_not_drop_the_links(app, linked, reader, target, value):
    """19f-4: Success before, and the current version had lost its folder, its APND and its
    `signs` (the signature's version, its `signs`); E9 refuses a masker every other way to
    change a link."""
    masking = _masking(app, linked, MASKERS[reader], target)
    masking.associations[0].slots["AssociationPropagation"] = [value]
    errors = _refused(app, masking, MASKERS[reader])
    assert [(e.code, e.location) for e in errors] == [
        ("XDSMetadataUpdateError", "Association.AssociationPropagation")], errors
    said = errors[0].context
    for words in (f"Association {masking.associations[0].entry_uuid} ",
                  f"AssociationPropagation '{value}'", "folder memberships and relationships",
                  "health professionals with access to the record",
                  "omit the slot or set it to 'yes'", MASKERS[reader].role):
        assert words in said, said
    assert _current(app, linked) == linked["cda"]           # nothing written


@pytest.mark.parametrize("reader", list(MASKERS))
def test_nor_by_a_second_hasmember(app, linked, reader):
    """One HasMember per new version: a second one (here with propagation=no) rode along."""
    masking = _masking(app, linked, MASKERS[reader])
    document = masking.documents[0]
    extra = has_member(masking.submission_set.entry_uuid, document.entry_uuid, entry_uuid=_urn())
    masking.associations.append(extra)
    errors = _refused(app, masking, MASKERS[reader])
    assert [e.location for e in errors] == ["Association.associationType"], errors
    assert f"Association {extra.entry_uuid} " in errors[0].context
    assert "a second HasMember of the new version" in errors[0].context


def test_the_author_still_versions_without_propagation(app, linked):
    """The professional's route is unchanged (CP-ITI-1029: links made by hand)."""
    version = copy.deepcopy(_registered(app, linked["cda"]))
    author = Principal(version.authors[0].person.split("^")[0], "professional",
                       patient_id=TEST_INS)
    logical_id, version.entry_uuid = version.entry_uuid, "Document01"
    version.title = "Corrigé"
    update = new_version(submission_set(TEST_INS, _urn()), version, logical_id, "1")
    update.associations[0].slots["AssociationPropagation"] = ["no"]
    _update(app, update, author)
    current = _current(app, linked)
    kept = {a.type for a in app.registry.query(GetAssociations(uuids=(current,)),
                                               SYSTEM).result.associations}
    assert kept == {v.HAS_MEMBER}           # its update set's only, as the source asked


# --- a replaced document stays replaced ----------------------------------------------------------


def _replaced(app, authority, tmp_path) -> str:
    """A CDA replaced (RPLC) by a professional's ITI-41: its entryUUID, Deprecated."""
    cda, _ = _signed_cda(app, authority, tmp_path)
    submission, documents, signature = signed_submission(
        authority, [fresh(LEVEL1, tmp_path)], TEST_INS)
    with_uuids(submission, documents)
    replacement = next(d for d in submission.documents if d is not signature)
    rplc = relationship(v.RPLC, replacement.entry_uuid, cda)
    rplc.entry_uuid = _urn()
    submission.associations.append(rplc)
    app.repository.provide(submission, documents, SYSTEM, [])
    assert _registered(app, cda).status == v.DEPRECATED
    return cda


@pytest.mark.parametrize("new", [v.APPROVED, ARCHIVED])
@pytest.mark.parametrize("reader", list(MASKERS))
def test_a_masker_may_not_revive_a_replaced_document(app, authority, tmp_path, reader, new):
    """Deprecated -> Approved (or Archived, then Approved) was accepted: the replaced report
    and its replacement both current, by the patient's word."""
    replaced = _replaced(app, authority, tmp_path)
    errors = _refused(app, status_update(submission_set(TEST_INS, _urn()), replaced,
                                         v.DEPRECATED, new), MASKERS[reader])
    assert [(e.code, e.location) for e in errors] == [
        ("XDSMetadataUpdateError", "Association.NewStatus")], errors
    assert "from Deprecated" in errors[0].context, errors[0].context
    assert _registered(app, replaced).status == v.DEPRECATED


@pytest.mark.parametrize("reader", list(MASKERS))
def test_nor_by_a_new_version(app, authority, tmp_path, reader):
    """A masking of the replaced document made its new version Approved (inherited status)."""
    replaced = _replaced(app, authority, tmp_path)
    version = copy.deepcopy(_registered(app, replaced))
    version.entry_uuid = "Document01"
    version.confidentiality_codes = [*version.confidentiality_codes,
                                     Code("MASQUE_PS", v.VISIBILITY_SYSTEM)]
    masking = new_version(submission_set(TEST_INS, _urn()), version, replaced, "1")
    errors = _refused(app, masking, MASKERS[reader])
    assert [e.location for e in errors] == ["DocumentEntry.availabilityStatus"], errors
    assert "Deprecated" in errors[0].context


def test_a_masker_still_archives_and_unarchives(app, linked):
    """The moves a masker keeps: Approved <-> Archived (the patient's own workflow)."""
    principal = MASKERS["patient"]
    for old, new in ((v.APPROVED, ARCHIVED), (ARCHIVED, v.APPROVED)):
        for target in (linked["cda"], linked["signature"]) if new == ARCHIVED else \
                (linked["signature"], linked["cda"]):
            _update(app, status_update(submission_set(TEST_INS, _urn()), target, old, new),
                    principal)
