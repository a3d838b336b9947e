"""Mapping fixes of the outsider's report: the XCN name type (component 10, the CI-SIS 'D')
survives XDS → FHIR → XDS for authors and legal authenticators, every code of the table
(finding 24); a read DocumentReference carries its relatesTo (finding 23)."""

from __future__ import annotations

import uuid

import pytest

from xds_server.fhir.datatypes import NAME_USE, practitioner, xcn_of_practitioner
from xds_server.fhir.document_reference import from_fhir, to_fhir
from xds_server.model.metadata import Author

from .fhir_data import fhir, patient_query, provide_bundle
from .registry_data import document, submission_set
from .test_fhir_front import PDF

PERSON = "810101234567^DUPONT^JEAN^^^DR^^^&1.2.250.1.71.4.2.1&ISO^{}^^^IDNPS"


@pytest.mark.parametrize("name_type", [*NAME_USE, ""])
def test_the_xcn_name_type_survives_the_round_trip(name_type):
    xcn = PERSON.format(name_type)
    assert xcn_of_practitioner(practitioner(xcn, "p"), "Practitioner") == xcn
    entry = document("1^^^&1.2.3&ISO", f"urn:uuid:{uuid.uuid4()}",
                     authors=[Author(person=xcn)], legal_authenticator=xcn)
    back = from_fhir(to_fhir(entry), entry.entry_uuid)
    assert back.authors[0].person == xcn
    assert back.legal_authenticator == xcn


def _provided(app, patient, entry, relation=None) -> str:
    """The id the server gave the DocumentReference (its location)."""
    answer = fhir(app, "POST", "", provide_bundle(
        submission_set(patient, f"urn:uuid:{uuid.uuid4()}"), [(entry, PDF)],
        relates_to=relation))
    assert answer.status == 200, answer.body
    [location] = [e["response"]["location"] for e in answer.json["entry"]
                  if "/DocumentReference/" in e["response"]["location"]]
    return location.rsplit("/", 1)[1]


def test_a_read_document_reference_carries_its_relations(app, patient):
    first = document(patient, f"urn:uuid:{uuid.uuid4()}", mime_type="application/pdf",
                     repository_unique_id=None)
    old_id = _provided(app, patient, first)
    second = document(patient, f"urn:uuid:{uuid.uuid4()}", mime_type="application/pdf",
                      repository_unique_id=None)
    relation = [{"code": "replaces", "target": {"reference": f"DocumentReference/{old_id}"}}]
    new_id = _provided(app, patient, second, relation)
    read = fhir(app, "GET", f"/DocumentReference/{new_id}").json
    assert read["relatesTo"] == relation
    assert "relatesTo" not in fhir(app, "GET", f"/DocumentReference/{old_id}").json
    found = fhir(app, "GET", f"/DocumentReference?{patient_query(patient)}&status=current"
                             f"&relatesto={old_id}").json
    assert [e["resource"]["id"] for e in found["entry"]] == [new_id]


def test_registry_errors_name_the_bundle_entry(app, patient):
    """Of two documents, the second's hash is wrong; a relatesTo names nothing registered."""
    good = document(patient, f"urn:uuid:{uuid.uuid4()}", mime_type="application/pdf",
                    repository_unique_id=None)
    bad = document(patient, f"urn:uuid:{uuid.uuid4()}", mime_type="application/pdf",
                   repository_unique_id=None)
    bundle = provide_bundle(submission_set(patient, f"urn:uuid:{uuid.uuid4()}"),
                            [(good, PDF), (bad, PDF)])
    positions = [i for i, e in enumerate(bundle["entry"])
                 if e["resource"]["resourceType"] == "DocumentReference"]
    bundle["entry"][positions[1]]["resource"]["content"][0]["attachment"]["hash"] = \
        "AAAAAAAAAAAAAAAAAAAAAAAAAAA="
    answer = fhir(app, "POST", "", bundle)
    assert answer.status == 422, answer.body
    assert f"Bundle.entry[{positions[1]}].resource.content[0].attachment.hash" in \
        answer.expressions, answer.json
    relation = [{"code": "replaces", "target": {
        "reference": f"DocumentReference/{uuid.uuid4()}"}}]
    bundle = provide_bundle(submission_set(patient, f"urn:uuid:{uuid.uuid4()}"),
                            [(good, PDF)], relates_to=relation)
    position = next(i for i, e in enumerate(bundle["entry"])
                    if e["resource"]["resourceType"] == "DocumentReference")
    answer = fhir(app, "POST", "", bundle)
    assert answer.status == 422, answer.body
    assert answer.expressions == [f"Bundle.entry[{position}].resource.relatesTo[0]"]
