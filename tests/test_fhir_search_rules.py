"""Search rules of the outsider's minor findings: escaped commas and bars in tokens (15),
formats other than JSON refused (406), List.code held to its system, sourceId alone searching
submission sets, the CapabilityStatement claiming only what is served (16)."""

from __future__ import annotations

from xds_server.fhir.search import token_parts, values_of

from .fhir_data import fhir, patient_query
from .test_fhir_front import _provide_soap


def test_escaped_commas_and_bars_are_literal():
    assert values_of(["a|b\\,c,d", "e"]) == ["a|b\\,c", "d", "e"]
    assert values_of(["a\\\\,b"]) == ["a\\\\", "b"]
    assert token_parts("http://x|34133\\,9") == ("http://x", True, "34133,9")
    assert token_parts("urn:oid:1\\|2|c") == ("urn:oid:1|2", True, "c")
    assert token_parts("c") == ("", False, "c")


def test_a_code_with_an_escaped_comma_is_one_code(app, patient):
    _provide_soap(app, patient)
    base = f"/DocumentReference?{patient_query(patient)}&status=current"
    answer = fhir(app, "GET", f"{base}&type=urn:oid:1.2.3%7C34133%5C,9")
    assert answer.status == 200 and answer.json["total"] == 0
    for token in ("34133-9", "%7C34133-9"):
        refused = fhir(app, "GET", f"{base}&type={token}")
        assert refused.status == 400 and "coding scheme" in refused.body.decode()


def test_formats_other_than_json_are_406(app, patient):
    base = f"/DocumentReference?{patient_query(patient)}&status=current"
    for path, headers in ((f"{base}&_format=xml", {}), ("/metadata?_format=xml", {}),
                          (base, {"Accept": "application/fhir+xml"}),
                          ("/metadata", {"Accept": "text/turtle"})):
        answer = fhir(app, "GET", path, headers=headers)
        assert answer.status == 406, (path, headers)
        assert answer.json["resourceType"] == "OperationOutcome"
    for path, headers in ((f"{base}&_format=json", {}),
                          (base, {"Accept": "application/fhir+json;q=0.9, */*;q=0.1"}),
                          (base, {"Accept": "application/json"})):
        assert fhir(app, "GET", path, headers=headers).status == 200, (path, headers)


def test_list_code_is_held_to_its_system_and_source_id_to_sets(app, patient):
    _provide_soap(app, patient)
    base = f"/List?{patient_query(patient)}"
    assert fhir(app, "GET", f"{base}&code=evil%7Cfolder").status == 400
    ok = fhir(app, "GET", f"{base}&code=https://profiles.ihe.net/ITI/MHD/CodeSystem/"
                          "MHDlistTypes%7Csubmissionset")
    assert ok.status == 200 and ok.json["total"] == 1
    by_source = fhir(app, "GET", f"{base}&sourceId=urn:oid:1.2.250.1.999.1")
    assert by_source.status == 200 and by_source.json["total"] == 1
    for name in ("identifier", "title", "source.family", "isArchived"):
        assert fhir(app, "GET", f"{base}&{name}=x").status == 400, name
    assert fhir(app, "GET", f"/DocumentReference?{patient_query(patient)}&status=current"
                            "&related=x").status == 400


def test_the_capability_statement_claims_only_what_is_served(app):
    statement = fhir(app, "GET", "/metadata").json
    assert "instantiates" not in statement
    assert "related" in statement["description"]


def test_no_search_is_silently_empty(app, patient):
    """Issue 16 re-test m7: a comma in author.* is OR (it was one name with a comma, finding
    nothing), several patients are refused (the first was searched), and bytes that are not
    UTF-8 are refused (they were searched as U+FFFD)."""
    _provide_soap(app, patient)         # its author: 801234567890^DURANT^Romuald
    base = f"/DocumentReference?{patient_query(patient)}&status=current"
    for query, total in (("author.family=DURANT", 1), ("author.family=Dupont,DURANT", 1),
                         ("author.family=Dupont,Durand", 0),
                         ("author.family=X,DURANT&author.given=Y,Romuald", 1),
                         ("author.identifier=1234,801234567890", 1),
                         ("author.family=A%5C,DURANT", 0)):
        answer = fhir(app, "GET", f"{base}&{query}")
        assert answer.status == 200 and answer.json["total"] == total, (query, answer.body)
    value, _, rest = patient.partition("^^^&")
    system = f"urn:oid:{rest.split('&')[0]}"
    for path in (f"/DocumentReference?patient.identifier={system}%7C{value},{system}%7CP2"
                 "&status=current", f"{base}&author.family=%ff", f"{base}&type=%C3"):
        answer = fhir(app, "GET", path)
        assert answer.status == 400, (path, answer.body)
    form = fhir(app, "POST", "/DocumentReference/_search",
                f"{patient_query(patient)}&status=current&author.family=Dupr%E9".encode(),
                "application/x-www-form-urlencoded")
    assert form.status == 400 and "UTF-8" in form.json["issue"][0]["diagnostics"]
    many = ",".join(f"N{i}" for i in range(8))
    assert fhir(app, "GET", f"{base}&author.family={many}&author.given={many}").status == 400


def test_what_is_not_served_is_refused_not_ignored(app, patient):
    """Issue 16 re-test m6: parameters of a Binary read, an R5 Accept, another server's
    patient or relatesto were ignored (or read as this server's)."""
    _provide_soap(app, patient)
    found = fhir(app, "GET", f"/DocumentReference?{patient_query(patient)}&status=current")
    [entry] = found.json["entry"]
    binary = entry["resource"]["content"][0]["attachment"]["url"].split("/fhir", 1)[1]
    assert fhir(app, "GET", binary).status == 200
    assert fhir(app, "GET", f"{binary}?x=1").status == 400
    base = f"/DocumentReference?{patient_query(patient)}&status=current"
    assert fhir(app, "GET", base, headers={"Accept": "application/fhir+json; fhirVersion=5.0"}
                ).status == 406
    assert fhir(app, "GET", base, headers={"Accept": "application/fhir+json; fhirVersion=4.0"}
                ).status == 200
    rid = entry["resource"]["id"]
    for reference, status in ((f"DocumentReference/{rid}", 200), (rid, 200),
                              (f"http://testserver:80/fhir/DocumentReference/{rid}", 200),
                              (f"http://evil.example/fhir/DocumentReference/{rid}", 400),
                              (f"List/{rid}", 400)):
        answer = fhir(app, "GET", f"{base}&relatesto={reference}")
        assert answer.status == status, (reference, answer.body[:300])
    value, _, rest = patient.partition("^^^&")
    local = f"{rest.split('&')[0]}-{value}"
    for reference, status in ((f"Patient/{local}", 200),
                              (f"http://testserver:80/fhir/Patient/{local}", 200),
                              (f"http://elsewhere/fhir/Patient/{local}", 400)):
        answer = fhir(app, "GET", f"/DocumentReference?patient={reference}&status=current")
        assert answer.status == status, (reference, answer.body[:300])
