"""The DMP's updates over FHIR keep ITI-57's rules (findings 11, 12): an Archived document is
deleted as an Approved one is, status and isArchived together are one status change, and the
update's submission set names the caller who made the change, not the document's author."""

from __future__ import annotations

import pytest

from xds_server.ebxml.stored import model_object
from xds_server.model import vocabulary as v
from xds_server.model.stored_queries import GetDocuments, GetSubmissionSets
from xds_server.security.acting_author import acting_author
from xds_server.security.principal import SYSTEM, Principal

from . import test_fhir_matrix as matrix
from .fhir_data import fhir
from .test_fhir_matrix import AUTHOR, _store

keys, secured = matrix.keys, matrix.secured         # the matrix's fixtures

ARCHIVED = "https://interop.esante.gouv.fr/ig/fhir/pdsm/StructureDefinition/pdsm-ext-is-archived"
PATCH = "application/json-patch+json"
VISIBILITY = ("https://mos.esante.gouv.fr/NOS/TRE_A07-StatutVisibiliteDocument/FHIR/"
              "TRE-A07-StatutVisibiliteDocument")


def _status(app, entry_uuid):
    [record] = app.registry.query(GetDocuments(entry_uuids=(entry_uuid,)),
                                  SYSTEM).result.documents
    return record.status


def _archive(app, header, rid, value=True):
    patch = [{"op": "replace", "path": f"/extension[url:'{ARCHIVED}']/valueBoolean",
              "value": value}]
    return fhir(app, "PATCH", f"/DocumentReference/{rid}", patch, PATCH, headers=header)


def test_an_archived_document_is_deleted_by_its_author(secured):
    app, _, issuer, patient = secured
    author = issuer.header(patient, subject=AUTHOR)
    for extra in ([], [{"op": "remove", "path": "/extension"}]):
        entry_uuid, _ = _store(app, patient)
        rid = entry_uuid.removeprefix("urn:uuid:")
        assert _archive(app, author, rid).status == 200
        assert _status(app, entry_uuid) == v.CISIS_ARCHIVED
        delete = [{"op": "replace", "path": "/status", "value": "entered-in-error"}, *extra]
        answer = fhir(app, "PATCH", f"/DocumentReference/{rid}", delete, PATCH, headers=author)
        assert answer.status == 200, answer.body
        assert _status(app, entry_uuid) == v.CISIS_DELETED


def test_status_and_isarchived_name_one_status(secured):
    app, _, issuer, patient = secured
    author = issuer.header(patient, subject=AUTHOR)
    entry_uuid, _ = _store(app, patient)
    rid = entry_uuid.removeprefix("urn:uuid:")
    assert _archive(app, author, rid).status == 200
    restore = [{"op": "remove", "path": "/extension"}]
    assert fhir(app, "PATCH", f"/DocumentReference/{rid}", restore, PATCH,
                headers=author).status == 200
    assert _status(app, entry_uuid) == v.APPROVED
    for patch, where in (
            ([{"op": "replace", "path": "/status", "value": "superseded"}],
             "DocumentReference.status"),
            ([{"op": "add", "path": "/extension/-", "value": {"url": "http://x.org/e",
                                                              "valueString": "x"}}],
             "DocumentReference.extension"),
            ([{"op": "replace", "path": "/status", "value": "entered-in-error"},
              {"op": "add", "path": "/securityLabel/-", "value": {"coding": [
                  {"system": VISIBILITY, "code": "MASQUE_PS"}]}}], "DocumentReference")):
        answer = fhir(app, "PATCH", f"/DocumentReference/{rid}", patch, PATCH, headers=author)
        assert answer.status == 422, (patch, answer.body)
        assert answer.expressions == [where]
    assert _status(app, entry_uuid) == v.APPROVED


def test_the_update_set_is_authored_by_the_caller(secured):
    """A patient masking their document: the set of that update names the patient."""
    app, _, issuer, patient = secured
    entry_uuid, _ = _store(app, patient)
    rid = entry_uuid.removeprefix("urn:uuid:")
    patient_id = patient.split("^")[0]
    mask = [{"op": "add", "path": "/securityLabel/-", "value": {"coding": [
        {"system": VISIBILITY, "code": "MASQUE_PS"}]}}]
    answer = fhir(app, "PATCH", f"/DocumentReference/{rid}", mask, PATCH,
                  headers=issuer.header(patient, kind="patient", subject=patient_id))
    assert answer.status == 200, answer.body
    new_uuid = f"urn:uuid:{answer.json['id']}"
    [package] = app.registry.query(GetSubmissionSets(uuids=(new_uuid,)),
                                   SYSTEM).result.submission_sets
    [author] = model_object(package).authors
    assert author.person.split("^")[0] == patient_id
    assert AUTHOR not in author.person
    assert author.person.endswith(f"&{patient.split('&')[1]}&ISO^D^^^NH")


def test_acting_author_of_each_kind_of_caller():
    professional = Principal("810101234567", "professional", patient_id="1^^^&1.2.3&ISO",
                             attributes={"name": "DR^TEST", "profession": "10^1.2.250.1.71"
                                                                          ".1.2.7"})
    author = acting_author(professional)
    assert author.person == "810101234567^DRTEST^^^^^^^&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS"
    assert author.roles == ["10^^^&1.2.250.1.71.1.2.7&ISO"]
    patient = Principal("2770", "patient", patient_id="2770^^^&1.2.250.1.213.1.4.8&ISO^NH")
    assert acting_author(patient).person == "2770^^^^^^^^&1.2.250.1.213.1.4.8&ISO^D^^^NH"
    assert acting_author(SYSTEM) is None


def test_the_cli_update_set_is_authored_by_who_signs_its_vihf():
    """The SOAP side's client (`xds-server update`) keeps the same rule, and signs a
    PATIENT role in its own system (TRE_A00), not as a profession (finding 29)."""
    from xds_server.cli_client import Connection
    from xds_server.consumer.changes import next_version, status_change
    from xds_server.consumer.vihf import claims_principal

    from .registry_data import document

    patient = "2770^^^&1.2.250.1.213.1.4.8&ISO^NH"
    connection = Connection(None, None, None, None, None, None, None, None, "key.pem", "cert.pem",
                            "2770", "PATIENT", "", "normal")
    claims = connection.vihf_claims(patient)
    assert claims.role_system == "1.2.250.1.213.1.1.4.6"
    principal = claims_principal(claims)
    assert principal.role == "patient"
    author = acting_author(principal)
    entry = document(patient, "urn:uuid:00000000-0000-4000-8000-000000000001")
    entry.status = v.CISIS_ARCHIVED
    for submission in (status_change(entry, "delete", author),
                       next_version(entry, add_visibility="MASQUE_PS", author=author)):
        assert submission.submission_set.authors == [author]
        assert submission.submission_set.authors[0].person.startswith("2770^")
    professional = Connection(None, None, None, None, None, None, None, None, "k", "c", "8101",
                              "10", "", "normal").vihf_claims(patient)
    assert claims_principal(professional).role == "professional"


# each actor's kind and subject; each toggles MASQUE_PS, a change any of them may make
ACTORS = {"author": ("professional", AUTHOR), "patient": ("patient", None),
          "legal representative": ("legal_representative", "LR-1")}


def _toggle(resource: dict) -> list[dict]:
    labels = [label["coding"][0]["code"] for label in resource.get("securityLabel", [])]
    if "MASQUE_PS" in labels:
        return [{"op": "remove", "path": f"/securityLabel/{labels.index('MASQUE_PS')}"}]
    return [{"op": "add", "path": "/securityLabel/-", "value": {"coding": [
        {"system": VISIBILITY, "code": "MASQUE_PS"}]}}]


@pytest.mark.parametrize("first, then", [(a, b) for a in ACTORS for b in ACTORS if a != b])
def test_each_update_set_is_its_callers_whoever_updated_before(secured, first, then):
    """Issue 16 re-test, M1: once the patient (or a representative) had masked a document,
    its author's every PATCH failed (the set of the last update, the patient's, is hidden from
    the author, and the new set copied its sourceId from it). Each PATCH's set is the
    caller's: authored by them, this installation's sourceId, the first set's activity."""
    app, _, issuer, patient = secured
    entry_uuid, _ = _store(app, patient)
    resource = fhir(app, "GET", f"/DocumentReference/{entry_uuid.removeprefix('urn:uuid:')}",
                    headers=issuer.header(patient, subject=AUTHOR)).json
    made = []
    for actor in (first, then):
        kind, subject = ACTORS[actor]
        subject = subject or patient.split("^")[0]
        answer = fhir(app, "PATCH", f"/DocumentReference/{resource['id']}", _toggle(resource),
                      PATCH, headers=issuer.header(patient, kind=kind, subject=subject))
        assert answer.status == 200, (actor, answer.body)
        resource = answer.json
        made.append((actor, resource["id"]))
    for actor, rid in made:
        [package] = app.registry.query(GetSubmissionSets(uuids=(f"urn:uuid:{rid}",)),
                                       SYSTEM).result.submission_sets
        package = model_object(package)
        assert (package.authors[0].person.split("^")[0] == AUTHOR) == (actor == "author")
        assert package.source_id == app.settings.repository_unique_id
        assert package.content_type_code.code == "26"     # registry_data's submission set


def _label(code: str, system: str = VISIBILITY) -> dict:
    return {"coding": [{"system": system, "code": code}]}


def test_the_patient_patches_visibility_codes_only(secured):
    """Outside 19e, E9, on the FHIR front: the patient's PATCH of a professional's document may
    add MASQUE_PS, not an HL7 confidentiality code (R), which is its author's to change."""
    app, _, issuer, patient = secured
    entry_uuid, _ = _store(app, patient)
    rid = entry_uuid.removeprefix("urn:uuid:")
    hl7 = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
    headers = issuer.header(patient, kind="patient", subject=patient.split("^")[0])
    restricted = fhir(app, "PATCH", f"/DocumentReference/{rid}", [
        {"op": "add", "path": "/securityLabel/-", "value": _label("R", hl7)}], PATCH,
        headers=headers)
    assert restricted.status == 422, restricted.body
    assert restricted.expressions == ["DocumentReference.securityLabel"], restricted.body
    assert "only the author or an administrator" in restricted.body.decode()
    masked = fhir(app, "PATCH", f"/DocumentReference/{rid}", [
        {"op": "add", "path": "/securityLabel/-", "value": _label("MASQUE_PS")}], PATCH,
        headers=headers)
    assert masked.status == 200, masked.body
    author = issuer.header(patient, subject=AUTHOR)
    assert fhir(app, "PATCH", f"/DocumentReference/{masked.json['id']}", [
        {"op": "add", "path": "/securityLabel/-", "value": _label("R", hl7)}], PATCH,
        headers=author).status == 200


def test_a_patch_that_changes_nothing_makes_no_version(secured):
    """Issue 16 re-test m2: a code added again, N again, an empty securityLabel on a document
    without visibility codes each made a new version (a new id) with codes duplicated. Each
    is a 422 now, and the document keeps its id and its one version."""
    app, _, issuer, patient = secured
    author = issuer.header(patient, subject=AUTHOR)
    entry_uuid, _ = _store(app, patient)
    rid = entry_uuid.removeprefix("urn:uuid:")
    hl7 = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
    for patch in ([{"op": "replace", "path": "/securityLabel", "value": []}],
                  [{"op": "add", "path": "/securityLabel/-", "value": _label("N", hl7)}],
                  [{"op": "add", "path": "/securityLabel/-", "value": _label("MASQUE_PS")},
                   {"op": "add", "path": "/securityLabel/-", "value": _label("MASQUE_PS")}]):
        answer = fhir(app, "PATCH", f"/DocumentReference/{rid}", patch, PATCH, headers=author)
        assert answer.status == 422, (patch, answer.body)
        assert answer.expressions[0].startswith("DocumentReference.securityLabel"), patch
    masked = fhir(app, "PATCH", f"/DocumentReference/{rid}", [
        {"op": "add", "path": "/securityLabel/-", "value": _label("MASQUE_PS")}], PATCH,
        headers=author)
    assert masked.status == 200
    again = fhir(app, "PATCH", f"/DocumentReference/{masked.json['id']}", [
        {"op": "add", "path": "/securityLabel/-", "value": _label("MASQUE_PS")}], PATCH,
        headers=author)
    assert again.status == 422, again.body
    versions = app.registry.query(GetDocuments(logical_ids=(entry_uuid,), metadata_level=2),
                                  SYSTEM).result.documents
    assert len(versions) == 2
    codes = [c.code for c in model_object(versions[-1]).confidentiality_codes]
    assert sorted(codes) == ["MASQUE_PS", "N"]


def test_the_id_a_patch_leaves_behind_reads_as_superseded(secured):
    """Issue 16 re-test m3: after a PATCH (a new version, a new id) the old id was a 404; it
    reads as the superseded version, to those who may see the document as it now is."""
    app, _, issuer, patient = secured
    entry_uuid, _ = _store(app, patient)
    rid = entry_uuid.removeprefix("urn:uuid:")
    answer = fhir(app, "PATCH", f"/DocumentReference/{rid}", [
        {"op": "add", "path": "/securityLabel/-", "value": _label("INVISIBLE_PATIENT")}],
        PATCH, headers=issuer.header(patient, subject=AUTHOR))
    assert answer.status == 200 and answer.json["id"] != rid
    old = fhir(app, "GET", f"/DocumentReference/{rid}",
               headers=issuer.header(patient, subject=AUTHOR))
    assert old.status == 200 and old.json["status"] == "superseded", old.body
    hidden = fhir(app, "GET", f"/DocumentReference/{rid}", headers=issuer.header(
        patient, kind="patient", subject=patient.split("^")[0]))
    assert hidden.status == 404


def test_a_refused_patch_names_what_the_client_sent_with_an_xds_code(secured):
    """Issue 16 re-test m9: refusals named ITI-57 elements (Association.NewStatus) the client
    never sent, and JSON Patch failures carried no XDS error code; m8: /securityLabel/00 is no
    index (RFC 6901)."""
    app, _, issuer, patient = secured
    entry_uuid, _ = _store(app, patient)
    rid = entry_uuid.removeprefix("urn:uuid:")
    reader = issuer.header(patient, subject=matrix.READER)
    refused = fhir(app, "PATCH", f"/DocumentReference/{rid}", [
        {"op": "replace", "path": "/status", "value": "entered-in-error"}], PATCH,
        headers=reader)
    assert refused.status in (403, 422) and refused.expressions == ["DocumentReference.status"]
    author = issuer.header(patient, subject=AUTHOR)
    for patch in ([{"op": "test", "path": "/status", "value": "superseded"}],
                  [{"op": "remove", "path": "/description"}],
                  [{"op": "replace", "path": "/securityLabel/00", "value": _label("N")}]):
        answer = fhir(app, "PATCH", f"/DocumentReference/{rid}", patch, PATCH, headers=author)
        assert answer.status == 422 and answer.codes == ["XDSMetadataUpdateOperationError"], \
            (patch, answer.body)


# --- the cisis profile (outsider 19f-2): every caller's PATCH writes a set the profile takes ---

REPRESENTATIVE_NIR = "180127511300418"
# caller → (token kind, subject: None for the record's INS, the authorPerson's start)
CISIS_CALLERS = {
    "author": ("professional", "801234534765", "801234534765^DR TEST^^^^^^^&1.2.250.1.71.4.2.1&"),
    "patient": ("patient", None, "279035121518989^DR TEST^^^^^^^&1.2.250.1.213.1.4.10&ISO"),
    "representative (an INS)": ("legal_representative", REPRESENTATIVE_NIR,
                                f"{REPRESENTATIVE_NIR}^DR TEST^^^^^^^&1.2.250.1.213.1.4.10&ISO"),
    "representative (another id)": ("legal_representative", "LR-1", "^DR TEST"),
}


@pytest.fixture
def cisis(make_app, keys, tmp_path):
    """The cisis profile, IUA tokens, an unsigned CDA by 801234534765 (LEVEL1's author)."""
    from .cda_data import LEVEL1, TEST_INS
    from .dsig_data import cda_submission, fresh, with_uuids
    from .registry_data import open_patient

    authority, issuer = keys
    app = make_app(profile="cisis", accept_test_ins=True, require_submission_signature=False,
                   vihf_trusted_certs=str(authority.trusted), **issuer.settings())
    open_patient(app, TEST_INS)
    submission, documents = cda_submission([fresh(LEVEL1, tmp_path)], TEST_INS)
    with_uuids(submission, documents)
    app.repository.provide(submission, documents, SYSTEM, [])
    return app, issuer, TEST_INS, submission.documents[0].entry_uuid


@pytest.mark.parametrize("caller", list(CISIS_CALLERS))
def test_every_caller_masks_and_archives_in_the_cisis_profile(cisis, caller):
    """Outsider 19f-2 (t72): every legal representative's PATCH (MASQUE_PS, isArchived)
    answered 422 "the id '…' must be a national identifier", the set's author written
    `subject^name` (security/acting_author.py)."""
    app, issuer, patient, entry_uuid = cisis
    kind, subject, person = CISIS_CALLERS[caller]
    headers = issuer.header(patient, kind=kind, subject=subject or patient.split("^")[0])
    rid = entry_uuid.removeprefix("urn:uuid:")
    masked = fhir(app, "PATCH", f"/DocumentReference/{rid}", [
        {"op": "add", "path": "/securityLabel/-", "value": _label("MASQUE_PS")}], PATCH,
        headers=headers)
    assert masked.status == 200, masked.body
    [package] = app.registry.query(GetSubmissionSets(uuids=(f"urn:uuid:{masked.json['id']}",)),
                                   SYSTEM).result.submission_sets
    assert model_object(package).authors[0].person.startswith(person)
    archived = _archive(app, headers, masked.json["id"])
    assert archived.status == 200, archived.body
    assert _archive(app, headers, masked.json["id"], False).status == 200
