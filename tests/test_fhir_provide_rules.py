"""ITI-65 rules of the outsider's minor findings, each refused naming the entry and leaving
nothing behind: a document of another patient than its set's is a metadata error (422, not
403: 18); a Binary no DocumentReference uses (19); a Folder entry naming the set or a folder
(20); a Binary whose contentType differs from its DocumentReference's (21); the PDSm
cardinalities custodian, Folder date, entry and designationType (22), which the server's own
answers meet too. A token for another patient: a search is refused naming no one, a read is a
404 as for what does not exist (26)."""

from __future__ import annotations

import copy
import uuid

from xds_server.model.stored_queries import FindDocuments
from xds_server.security.principal import SYSTEM

from . import test_fhir_matrix as matrix
from .fhir_data import fhir, patient_query, provide_bundle
from .registry_data import document, folder, new_patient, submission_set
from .test_fhir_front import PDF

keys, secured = matrix.keys, matrix.secured         # the matrix's fixtures


def _urn() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


def _bundle(patient, with_folder=True):
    entry = document(patient, _urn(), mime_type="application/pdf", repository_unique_id=None)
    folders = [(folder(patient, _urn()), [0])] if with_folder else []
    return provide_bundle(submission_set(patient, _urn()), [(entry, PDF)], folders)


def _position(bundle, kind, code=None):
    return next(i for i, e in enumerate(bundle["entry"])
                if e["resource"]["resourceType"] == kind and (
                    code is None or e["resource"]["code"]["coding"][0]["code"] == code))


def _nothing_stored(app, patient):
    query = FindDocuments(patient_id=patient, statuses=("urn:oasis:names:tc:ebxml-regrep:"
                                                        "StatusType:Approved",))
    assert app.registry.query(query, SYSTEM).result.documents == []


def _refused(app, patient, bundle, expression, status=422):
    before = _refusals(app)
    answer = fhir(app, "POST", "", bundle)
    assert answer.status == status, answer.body
    assert expression in answer.expressions, answer.json
    _nothing_stored(app, patient)
    assert _refusals(app) == before + 1            # every refused provide is audited (R8)


def _refusals(app) -> int:
    from xds_server.store import audit_store

    return sum(1 for event in app.database.read(audit_store.trail)
               if event.action == "C" and event.outcome == "failure"
               and event.transaction == "ITI-65")


def test_a_bundle_that_is_not_one_is_refused_and_audited(app, patient):
    for body, status in (({"resourceType": "Patient"}, 400),
                         ({"resourceType": "Bundle", "type": "batch", "entry": []}, 422)):
        before = _refusals(app)
        assert fhir(app, "POST", "", body).status == status
        assert _refusals(app) == before + 1


def test_the_bundle_as_built_is_accepted(app, patient):
    assert fhir(app, "POST", "", _bundle(patient)).status == 200


def test_a_document_of_another_patient_is_a_metadata_error(app, patient):
    bundle = _bundle(patient, with_folder=False)
    other = new_patient()
    doc = bundle["entry"][_position(bundle, "DocumentReference")]["resource"]
    value, _, rest = other.partition("^^^&")
    doc["subject"] = {"identifier": {"system": f"urn:oid:{rest.split('&')[0]}",
                                     "value": value}}
    before = _refusals(app)
    answer = fhir(app, "POST", "", bundle)
    assert answer.status == 422, answer.body
    assert "XDSPatientIdDoesNotMatch" in answer.codes
    assert _refusals(app) == before + 1


def test_a_binary_no_document_uses_is_refused(app, patient):
    bundle = _bundle(patient, with_folder=False)
    binary = copy.deepcopy(bundle["entry"][_position(bundle, "Binary")])
    binary["fullUrl"] = _urn()
    bundle["entry"].append(binary)
    _refused(app, patient, bundle, f"Bundle.entry[{len(bundle['entry']) - 1}]")


def test_a_folder_holds_documents_only(app, patient):
    for target in ("set", "itself"):
        bundle = _bundle(patient)
        position = _position(bundle, "List", "folder")
        named = bundle["entry"][0 if target == "set" else position]["fullUrl"]
        bundle["entry"][position]["resource"]["entry"] = [{"item": {"reference": named}}]
        _refused(app, patient, bundle, f"Bundle.entry[{position}].resource.entry[0].item")


def test_a_binary_of_another_content_type_is_refused(app, patient):
    bundle = _bundle(patient, with_folder=False)
    position = _position(bundle, "Binary")
    bundle["entry"][position]["resource"]["contentType"] = "text/plain"
    _refused(app, patient, bundle, f"Bundle.entry[{position}].resource.contentType")


def test_pdsm_cardinalities(app, patient):
    for kind, code, element in (("DocumentReference", None, "custodian"),
                                ("List", "folder", "date"), ("List", "folder", "entry"),
                                ("List", "folder", "extension")):
        bundle = _bundle(patient)
        position = _position(bundle, kind, code)
        del bundle["entry"][position]["resource"][element]
        _refused(app, patient, bundle, f"Bundle.entry[{position}].resource.{element}")


def test_the_answers_meet_the_same_cardinalities(app, patient):
    assert fhir(app, "POST", "", _bundle(patient)).status == 200
    documents = fhir(app, "GET", f"/DocumentReference?{patient_query(patient)}"
                                 "&status=current").json["entry"]
    assert all(e["resource"].get("custodian") for e in documents)
    [box] = [e["resource"] for e in fhir(app, "GET", f"/List?{patient_query(patient)}"
                                                     "&code=folder").json["entry"]]
    assert box["entry"] == [{"item": {"reference": f"DocumentReference/"
                                                   f"{documents[0]['resource']['id']}"}}]
    assert box["date"] and box["extension"]


def test_a_token_for_another_patient(secured):
    app, _, issuer, patient = secured
    entry_uuid, _ = matrix._store(app, patient)
    other = new_patient()
    header = issuer.header(other, subject=matrix.AUTHOR)
    search = fhir(app, "GET", f"/DocumentReference?{patient_query(patient)}&status=current",
                  headers=header)
    assert search.status == 403
    assert "token" in search.body.decode() and "VIHF" not in search.body.decode()
    assert patient.split("^")[0] not in search.body.decode()
    read = fhir(app, "GET", f"/DocumentReference/{entry_uuid.removeprefix('urn:uuid:')}",
                headers=header)
    unknown = fhir(app, "GET", f"/DocumentReference/{uuid.uuid4()}", headers=header)
    assert read.status == unknown.status == 404
    assert read.json["issue"][0]["code"] == unknown.json["issue"][0]["code"]
