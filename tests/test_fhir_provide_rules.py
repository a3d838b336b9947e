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
    answer = fhir(app, "POST", "", bundle)
    assert answer.status == status, answer.body
    assert expression in answer.expressions, answer.json
    _nothing_stored(app, patient)


def test_the_bundle_as_built_is_accepted(app, patient):
    assert fhir(app, "POST", "", _bundle(patient)).status == 200


def test_a_document_of_another_patient_is_a_metadata_error(app, patient):
    bundle = _bundle(patient, with_folder=False)
    other = new_patient()
    doc = bundle["entry"][_position(bundle, "DocumentReference")]["resource"]
    value, _, rest = other.partition("^^^&")
    doc["subject"] = {"identifier": {"system": f"urn:oid:{rest.split('&')[0]}",
                                     "value": value}}
    answer = fhir(app, "POST", "", bundle)
    assert answer.status == 422, answer.body
    assert "XDSPatientIdDoesNotMatch" in answer.codes


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


def test_two_documents_replacing_one_are_refused(app, patient):
    """Issue 16 re-test m4, over ITI-65: two DocumentReferences of one Bundle replacing the
    same document made two current versions; refused (the registry's rule, every front)."""
    original = _bundle(patient, with_folder=False)
    assert fhir(app, "POST", "", original).status == 200
    [held] = fhir(app, "GET", f"/DocumentReference?{patient_query(patient)}&status=current"
                  ).json["entry"]
    target = held["resource"]["id"]
    entries = [(document(patient, _urn(), mime_type="application/pdf",
                         repository_unique_id=None), PDF) for _ in range(2)]
    bundle = provide_bundle(submission_set(patient, _urn()), entries, relates_to=[
        {"code": "replaces", "target": {"reference": f"DocumentReference/{target}"}}])
    answer = fhir(app, "POST", "", bundle)
    assert answer.status == 422, answer.body
    assert "XDSRegistryMetadataError" in answer.codes
    current = fhir(app, "GET", f"/DocumentReference?{patient_query(patient)}&status=current")
    assert [e["resource"]["id"] for e in current.json["entry"]] == [target]


def test_a_period_that_ends_before_it_starts_is_refused(app, patient):
    """Issue 16 re-test m5: each end compared at its own precision (a day ends at its last
    second), so 2025-11-03 to 2025-11-03T10:00Z is a period, the reverse order is not."""
    for start, end, accepted in (("2025-11-04", "2025-11-03T23:59:59Z", False),
                                 ("2025-11-03T10:00:01+00:00", "2025-11-03T11:00:00+01:00",
                                  False),
                                 ("2025-11-03", "2025-11-03T10:00:00Z", True),
                                 ("2025-11-03T10:00:00Z", "2025-11-03", True)):
        bundle = _bundle(patient, with_folder=False)
        position = _position(bundle, "DocumentReference")
        bundle["entry"][position]["resource"]["context"]["period"] = {"start": start,
                                                                      "end": end}
        if accepted:
            assert fhir(app, "POST", "", bundle).status == 200, (start, end)
        else:
            _refused(app, patient, bundle, f"Bundle.entry[{position}].resource.context.period")


def test_a_bad_binary_is_named_by_its_entry(app, patient):
    """Issue 16 re-test m9: 'Binary.data' did not tell which of several documents was bad."""
    entries = [(document(patient, _urn(), mime_type="application/pdf",
                         repository_unique_id=None), PDF) for _ in range(3)]
    bundle = provide_bundle(submission_set(patient, _urn()), entries)
    binaries = [i for i, e in enumerate(bundle["entry"])
                if e["resource"]["resourceType"] == "Binary"]
    for position, data in ((binaries[1], "not base64!"), (binaries[2], None)):
        broken = copy.deepcopy(bundle)
        if data is None:
            del broken["entry"][position]["resource"]["data"]
        else:
            broken["entry"][position]["resource"]["data"] = data
        _refused(app, patient, broken, f"Bundle.entry[{position}].resource.data")


def test_a_dangling_custodian_and_a_folder_entry_twice_are_refused(app, patient):
    """Issue 16 re-test m10. A display-only custodian stays accepted: a FHIR Reference may be a
    display alone, and XDS keeps no custodian (docs/fhir.md)."""
    bundle = _bundle(patient)
    position = _position(bundle, "DocumentReference")
    dangling = copy.deepcopy(bundle)
    dangling["entry"][position]["resource"]["custodian"] = {"reference": "#nope"}
    _refused(app, patient, dangling, f"Bundle.entry[{position}].resource.custodian.reference")
    folder_at = _position(bundle, "List", "folder")
    twice = copy.deepcopy(bundle)
    twice["entry"][folder_at]["resource"]["entry"] *= 2
    _refused(app, patient, twice, f"Bundle.entry[{folder_at}].resource.entry[1].item")


def test_an_iti65_asking_what_is_not_served_is_refused(app, patient):
    """Issue 16 re-test m6: a conditional create became unconditional, a DocumentReference
    posted to List was taken, another server's relatesTo target was read as this one's."""
    bundle = _bundle(patient, with_folder=False)
    position = _position(bundle, "DocumentReference")
    conditional = copy.deepcopy(bundle)
    conditional["entry"][position]["request"]["ifNoneExist"] = "identifier=x"
    _refused(app, patient, conditional, f"Bundle.entry[{position}].request.ifNoneExist", 422)
    elsewhere = copy.deepcopy(bundle)
    elsewhere["entry"][position]["request"]["url"] = "List"
    _refused(app, patient, elsewhere, f"Bundle.entry[{position}].request.url", 422)
    assert fhir(app, "POST", "", bundle).status == 200
    [held] = fhir(app, "GET", f"/DocumentReference?{patient_query(patient)}&status=current"
                  ).json["entry"]
    for target, status in ((f"http://evil.example/fhir/DocumentReference/{held['resource']['id']}",
                            422),
                           (f"http://testserver:80/fhir/DocumentReference/"
                            f"{held['resource']['id']}", 200)):
        entry = document(patient, _urn(), mime_type="application/pdf",
                         repository_unique_id=None)
        replacing = provide_bundle(submission_set(patient, _urn()), [(entry, PDF)], relates_to=[
            {"code": "appends", "target": {"reference": target}}])
        answer = fhir(app, "POST", "", replacing)
        assert answer.status == status, (target, answer.body[:300])


def test_media_types_compare_as_rfc_9110_says_and_size_is_a_number(app, patient):
    """Issue 16 re-test m8: the same media type in capitals or with a charset was "differs";
    a size given as a string or a boolean was taken."""
    position = _position(_bundle(patient, with_folder=False), "Binary")
    for same in ("APPLICATION/PDF", "application/pdf; charset=binary", "application/Pdf"):
        bundle = _bundle(patient, with_folder=False)
        bundle["entry"][position]["resource"]["contentType"] = same
        assert fhir(app, "POST", "", bundle).status == 200, same
    document_at = _position(_bundle(patient, with_folder=False), "DocumentReference")
    for size in ("1", True, -1, 1.5):
        bundle = _bundle(patient, with_folder=False)
        bundle["entry"][document_at]["resource"]["content"][0]["attachment"]["size"] = size
        answer = fhir(app, "POST", "", bundle)
        assert answer.status in (400, 422), (size, answer.body[:300])
