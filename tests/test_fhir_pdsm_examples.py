"""The PDSm examples (../shared/reference/fhir/ans-pdsm/input/fsh/Examples), read from the
reference at test time by tests/fsh.py (never copied here), accepted or refused as the IG
says:

- each example instance is a valid R4B resource of its type (fhir.resources);
- the comprehensive DocumentReference, SubmissionSet and Folder, the Binary 6789, sent as one
  ITI-65 Bundle as they are, are refused, precisely: the example patient `fr-patient-123`
  carries no identifier (an ITI-65 files a document in the record of an identified patient,
  the INS) — the first thing a Document Recipient cannot do with them;
- completed by hand with what a submission needs and the examples leave out (the patient's
  INS, the authors contained as MHD Comprehensive requires, hash and size of the Binary
  actually sent — the example's hash is SHA-1 of the empty string), they are refused for their
  uniqueIds, which are UUIDs, and sourceId, 'SRC-01', where XDS (ITI TF-3 4.2.3) and the DMP
  take OIDs; with OIDs they
  are accepted, and the DocumentReference found again by ITI-67 carries the example's codes;
- the simplified publication example (pdsm-simplified-publish, ITI-105) is not an ITI-65
  Comprehensive DocumentReference: refused with the elements it lacks;
- the transaction-response example has the shape of the answer ITI-65 gives."""

from __future__ import annotations

import base64
import copy
import hashlib
import uuid
from pathlib import Path

import pytest
from fhir.resources.R4B import get_fhir_model_class

from xds_server.fhir.datatypes import scheme_oid

from .conftest import REFERENCE
from .fhir_data import fhir, patient_query
from .fsh import aliases, instances, to_json

EXAMPLES = Path(REFERENCE) / "fhir" / "ans-pdsm" / "input" / "fsh" / "Examples"
TEST_INS = ("1.2.250.1.213.1.4.10", "279035121518989")


@pytest.fixture(scope="module")
def known():
    found: dict = {}
    alias = aliases(EXAMPLES.parent / "aliases.fsh", *EXAMPLES.glob("*.fsh"))
    for path in sorted(EXAMPLES.glob("*.fsh")):
        found.update(instances(path, alias))
    assert {"exemple-pdsm-documentreference", "ExampleSubmissionSet", "ExampleFolder", "6789",
            "PDSmSimplifiedExample", "transaction-response-bundle"} <= set(found)
    return found


def test_every_example_is_a_valid_r4b_resource(known):
    for name in known:
        resource = to_json(name, known)
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)


def _url(name: str) -> str:
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, name)}"


def _bundle(known, names=("ExampleSubmissionSet", "exemple-pdsm-documentreference", "6789",
                          "ExampleFolder")) -> dict:
    def refer(target: str) -> dict:
        if target in names:
            return {"reference": _url(target)}
        kind = to_json(target, known)["resourceType"]
        return {"reference": f"{kind}/{target}"}

    entries = []
    for name in names:
        resource = to_json(name, known, refer)
        if resource["resourceType"] == "DocumentReference":
            resource["content"][0]["attachment"]["url"] = _url("6789")
        entries.append({"fullUrl": _url(name), "resource": resource,
                        "request": {"method": "POST", "url": resource["resourceType"]}})
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def test_the_examples_as_they_are_are_refused_for_the_unidentified_patient(app, known):
    answer = fhir(app, "POST", "", _bundle(known))
    assert answer.status == 422, answer.body
    assert answer.json["resourceType"] == "OperationOutcome"
    assert answer.expressions == ["Bundle.entry[0].resource.subject"]
    assert "identifier" in answer.json["issue"][0]["diagnostics"]


def _completed(known, oids: bool = True) -> dict:
    bundle = _bundle(known)
    patient = {"identifier": {"system": f"urn:oid:{TEST_INS[0]}", "value": TEST_INS[1]}}
    role = to_json("practitionerrole-example", known)
    person = to_json("practitioner-example", known)
    org = to_json("org-example", known)
    role["practitioner"] = {"reference": "#practitioner-example"}
    role["organization"] = {"reference": "#org-example"}
    for entry in bundle["entry"]:
        resource = entry["resource"]
        if "subject" in resource:
            resource["subject"] = patient
        if resource["resourceType"] == "DocumentReference":
            data = base64.b64decode(to_json("6789", known)["data"])
            resource["contained"] = [copy.deepcopy(x) for x in (role, person, org)]
            resource["author"] = [{"reference": "#practitionerrole-example"}]
            resource["authenticator"] = {"reference": "#practitioner-example"}
            resource["contained"].append({"resourceType": "Patient", "id": "source",
                                          "identifier": [{"use": "usual",
                                                          **patient["identifier"]}]})
            resource["context"]["sourcePatientInfo"] = {"reference": "#source"}
            attachment = resource["content"][0]["attachment"]
            attachment["hash"] = base64.b64encode(hashlib.sha1(data).digest()).decode()
            attachment["size"] = len(data)
        if oids:
            for identifier in [resource.get("masterIdentifier", {}),
                               *resource.get("identifier", [])]:
                if identifier.get("value", "").startswith("urn:uuid:"):
                    number = uuid.UUID(identifier["value"][9:]).int
                    identifier["value"] = f"urn:oid:2.25.{number}"
        if resource.get("code", {}).get("coding", [{}])[0].get("code") == "submissionset":
            resource["contained"] = [copy.deepcopy(x) for x in (role, person, org)]
            resource["source"] = {"reference": "#practitionerrole-example"}
            resource["extension"] = [e for e in resource["extension"]
                                     if "intended-recipient" not in e["url"]]
            for extension in resource["extension"]:
                if extension["url"].endswith("ihe-sourceId") and oids:
                    extension["valueIdentifier"]["value"] = "urn:oid:1.2.250.1.213.1.1.1"
    return bundle


def test_the_completed_examples_with_uuid_unique_ids_are_refused_for_them(make_app, known):
    app = make_app(profile="ihe")
    app.records.open(f"{TEST_INS[1]}^^^&{TEST_INS[0]}&ISO")
    answer = fhir(app, "POST", "", _completed(known, oids=False))
    assert answer.status == 422 and set(answer.codes) == {"XDSRegistryMetadataError"}
    # each named in the entry it comes from (fhir/anchors.py): the set, the document, a folder
    assert set(answer.expressions) == {
        "Bundle.entry[0].resource.identifier", "Bundle.entry[1].resource.masterIdentifier",
        "Bundle.entry[0].resource.extension('ihe-sourceId')",
        "Bundle.entry[3].resource.identifier"}


def test_the_completed_examples_are_accepted_and_found_with_their_codes(make_app, known):
    app = make_app(profile="ihe")
    patient = f"{TEST_INS[1]}^^^&{TEST_INS[0]}&ISO"
    app.records.open(patient)
    answer = fhir(app, "POST", "", _completed(known))
    assert answer.status == 200, [(i["diagnostics"], i.get("expression"))
                                  for i in answer.json["issue"]]
    assert [e["response"]["location"].split("/fhir/")[1].split("/")[0]
            for e in answer.json["entry"]] == ["List", "DocumentReference", "Binary", "List"]
    found = fhir(app, "GET", f"/DocumentReference?{patient_query(patient)}&status=current")
    [resource] = [e["resource"] for e in found.json["entry"]]
    example = to_json("exemple-pdsm-documentreference", known)

    def codes(value) -> list:
        concepts = value if isinstance(value, list) else [value]
        return [(c.get("code"), scheme_oid(c.get("system")))
                for concept in concepts for c in concept.get("coding", [concept])]

    for path in (("type",), ("category",), ("securityLabel",), ("context", "facilityType"),
                 ("context", "practiceSetting")):
        mine, theirs = resource, example
        for step in path:
            mine, theirs = mine[step], theirs[step]
        assert codes(mine) == codes(theirs), path
    assert codes(resource["content"][0]["format"]) == codes(example["content"][0]["format"])
    assert resource["masterIdentifier"]["value"] == \
        f"urn:oid:2.25.{uuid.UUID(example['masterIdentifier']['value'][9:]).int}"
    assert resource["context"]["period"] == {"start": "2025-04-20T07:00:00Z",
                                             "end": "2025-04-25T07:00:00Z"}
    binary = fhir(app, "GET", resource["content"][0]["attachment"]["url"].split("/fhir")[1])
    assert binary.body == b"Hello World"


def test_the_simplified_publication_is_not_a_comprehensive_iti65(app, known):
    bundle = _bundle(known, ("ExampleSubmissionSet", "PDSmSimplifiedExample"))
    answer = fhir(app, "POST", "", bundle)
    assert answer.status == 422
    assert {"Bundle.entry[1].resource.contained", "Bundle.entry[1].resource.securityLabel",
            "Bundle.entry[1].resource.context.period.start"} <= set(answer.expressions)


def test_our_answer_has_the_shape_of_the_response_example(known):
    example = to_json("transaction-response-bundle", known)
    get_fhir_model_class("Bundle").model_validate(example)
    assert example["type"] == "transaction-response"
    assert all(set(e) == {"response"} and {"status", "location"} <= set(e["response"])
               for e in example["entry"])
