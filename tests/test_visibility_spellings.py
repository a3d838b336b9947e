"""A DMP visibility code is read only under TRE_A07 (model/visibility.py; issue 16, outsider
16e F2): under another spelling of its system it was stored as an inert code on the ihe profile,
answered 200, and the document stayed visible. Every such code is refused, on the FHIR front
(ITI-65, PATCH) and on the XDS front (ITI-42, ITI-57 go through the same profile check), and
`urn:oid:` is read in any case (RFC 8141), so URN:OID:<TRE_A07> masks."""

from __future__ import annotations

import uuid

import pytest

from xds_server.model.metadata import Code
from xds_server.model.visibility import visibility_problem

from .fhir_data import fhir, patient_query, provide_bundle
from .registry_data import document, register, single_document_submission, submission_set
from .test_fhir_front import PDF

OID = "1.2.250.1.213.1.1.4.13"
URI = ("https://mos.esante.gouv.fr/NOS/TRE_A07-StatutVisibiliteDocument/FHIR/"
       "TRE-A07-StatutVisibiliteDocument")
OTHER_SYSTEMS = [URI.replace("https://", "http://"), URI + "/",
                 "http://terminology.hl7.org/CodeSystem/v3-Confidentiality",
                 "urn:oid:1.2.250.1.213.1.1.4.12", "URN:OID:1.2.250.1.213.1.1.4.13.1",
                 "urn:oid:2.16.840.1.113883.5.25"]
CODES = ["MASQUE_PS", "INVISIBLE_PATIENT", "INVISIBLE_REPRESENTANTS_LEGAUX", "masque_ps"]
PATCH = "application/json-patch+json"


def _urn() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


def _bundle(patient, label):
    entry = document(patient, _urn(), mime_type="application/pdf", repository_unique_id=None)
    bundle = provide_bundle(submission_set(patient, _urn()), [(entry, PDF)])
    [at] = [i for i, e in enumerate(bundle["entry"])
            if e["resource"]["resourceType"] == "DocumentReference"]
    labels = bundle["entry"][at]["resource"]["securityLabel"]
    labels.append(label)
    return bundle, f"Bundle.entry[{at}].resource.securityLabel[{len(labels) - 1}]"


def _found(app, patient) -> int:
    return fhir(app, "GET", f"/DocumentReference?{patient_query(patient)}"
                            "&status=current").json["total"]


@pytest.mark.parametrize("system", OTHER_SYSTEMS)
def test_iti65_refuses_a_visibility_code_under_another_system(app, patient, system):
    for code in CODES:
        bundle, where = _bundle(patient, {"coding": [{"system": system, "code": code}]})
        answer = fhir(app, "POST", "", bundle)
        assert answer.status == 422, (code, answer.body[:300])
        assert answer.expressions == [f"{where}.coding[0]"]
        assert OID in answer.json["issue"][0]["diagnostics"]
    assert _found(app, patient) == 0


def test_a_visibility_code_in_a_later_coding_is_refused(app, patient):
    label = {"coding": [{"system": "urn:oid:2.16.840.1.113883.5.25", "code": "N"},
                        {"system": URI, "code": "MASQUE_PS"}]}
    bundle, where = _bundle(patient, label)
    answer = fhir(app, "POST", "", bundle)
    assert answer.status == 422 and answer.expressions == [f"{where}.coding[1]"]


def test_an_unknown_code_of_tre_a07_is_refused(app, patient):
    bundle, where = _bundle(patient, {"coding": [{"system": URI, "code": "MASQUE"}]})
    answer = fhir(app, "POST", "", bundle)
    assert answer.status == 422 and answer.expressions == [f"{where}.coding[0]"]


@pytest.mark.parametrize("system", [f"URN:OID:{OID}", f"Urn:Oid:{OID}", f"urn:oid:{OID}", URI])
def test_urn_oid_in_any_case_masks(app, patient, system):
    bundle, _ = _bundle(patient, {"coding": [{"system": system, "code": "MASQUE_PS"}]})
    answer = fhir(app, "POST", "", bundle)
    assert answer.status == 200, answer.body[:300]
    found = fhir(app, "GET", f"/DocumentReference?{patient_query(patient)}&status=current")
    [resource] = [e["resource"] for e in found.json["entry"]]
    assert {"system": URI, "code": "MASQUE_PS"} in [
        {k: c[k] for k in ("system", "code")} for label in resource["securityLabel"]
        for c in label["coding"]]


def test_patch_refuses_a_visibility_code_under_another_system(app, patient):
    bundle, _ = _bundle(patient, {"coding": [{"system": URI, "code": "INVISIBLE_PATIENT"}]})
    assert fhir(app, "POST", "", bundle).status == 200
    rid = fhir(app, "GET", f"/DocumentReference?{patient_query(patient)}&status=current"
               ).json["entry"][0]["resource"]["id"]
    for system in OTHER_SYSTEMS:
        patch = [{"op": "add", "path": "/securityLabel/-",
                  "value": {"coding": [{"system": system, "code": "MASQUE_PS"}]}}]
        answer = fhir(app, "PATCH", f"/DocumentReference/{rid}", patch, PATCH)
        assert answer.status == 422, (system, answer.body[:300])
        assert answer.expressions[0].startswith("DocumentReference.securityLabel[")
    patch = [{"op": "add", "path": "/securityLabel/-",
              "value": {"coding": [{"system": f"URN:OID:{OID}", "code": "MASQUE_PS"}]}}]
    assert fhir(app, "PATCH", f"/DocumentReference/{rid}", patch, PATCH).status == 200


@pytest.mark.parametrize("scheme", [f"urn:oid:{OID}", f"URN:OID:{OID}", "2.16.840.1.113883.5.25",
                                    URI, f"{OID}.1"])
def test_xds_refuses_a_visibility_code_under_another_coding_scheme(app, patient, scheme):
    submission = single_document_submission(patient)
    submission.documents[0].confidentiality_codes.append(Code("MASQUE_PS", scheme))
    reply = register(app, submission)
    assert reply.codes == ["XDSRegistryMetadataError"], reply.errors
    assert reply.errors[0]["location"] == "DocumentEntry.confidentialityCode"
    assert "MASQUE_PS" in reply.errors[0]["context"] and OID in reply.errors[0]["context"]


def test_xds_registers_a_visibility_code_of_tre_a07(app, patient):
    submission = single_document_submission(patient)
    submission.documents[0].confidentiality_codes.append(Code("MASQUE_PS", OID))
    assert register(app, submission).codes == []
    submission = single_document_submission(patient)
    submission.documents[0].confidentiality_codes.append(Code("MASQUE", OID))
    assert register(app, submission).codes == ["XDSRegistryMetadataError"]


def test_the_rule_by_itself():
    assert visibility_problem("MASQUE_PS", OID) is None
    assert visibility_problem("N", "2.16.840.1.113883.5.25") is None
    assert visibility_problem("Masque_Ps ", "2.16.840.1.113883.5.25")
    assert visibility_problem("VISIBLE", OID)
