"""Every JSON leaf a client sends is read as what FHIR JSON allows, or refused naming it
(issue 16, outsider 16e): a `null` for a primitive in a contained Practitioner, an author's
reference or sourcePatientInfo was a 500 (F1); a member named twice was read last-wins, so a
first-wins gateway saw another document (F3); a form byte that is not UTF-8 was read as
Latin-1 and a body's charset was ignored (F6)."""

from __future__ import annotations

import copy
import json
import uuid

import pytest

from .fhir_data import fhir, patient_query, provide_bundle
from .registry_data import document, submission_set
from .test_fhir_front import PDF

PATCH = "application/json-patch+json"
WRONG = [None, 7, [], True, {}]


def _urn() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


def _bundle(patient):
    entry = document(patient, _urn(), mime_type="application/pdf", repository_unique_id=None)
    return provide_bundle(submission_set(patient, _urn()), [(entry, PDF)])


def _leaves(node, path=()):
    """Every primitive (string, number, boolean) below the root, by its path."""
    items = node.items() if isinstance(node, dict) else enumerate(node) \
        if isinstance(node, list) else ()
    for key, item in items:
        if isinstance(item, dict | list):
            yield from _leaves(item, (*path, key))
        else:
            yield (*path, key)


def _fhirpath(root, path) -> str:
    return root + "".join(f"[{s}]" if isinstance(s, int) else f".{s}" for s in path)


def _set(node, path, value):
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value


def _refused(answer, context) -> list[str]:
    assert 400 <= answer.status < 500, (context, answer.status, answer.body[:300])
    assert answer.json["resourceType"] == "OperationOutcome", context
    assert answer.expressions and all(answer.expressions), (context, answer.body[:300])
    return answer.expressions


def test_every_leaf_of_a_bundle_null_is_a_400_naming_it(app, patient):
    original = _bundle(patient)
    paths = [p for p in _leaves(original) if p[-1] != "resourceType"]
    assert len(paths) > 60
    practitioner = [p for p in paths if "identifier" in p and "contained" in p]
    assert practitioner, "the bundle has contained practitioners with identifiers"
    for path in paths:
        bundle = copy.deepcopy(original)
        _set(bundle, path, None)
        answer = fhir(app, "POST", "", bundle)
        assert answer.status == 400, (path, answer.body[:300])
        assert answer.expressions == [_fhirpath("Bundle", path)], path


@pytest.mark.parametrize("value", WRONG[1:], ids=repr)
def test_every_string_leaf_of_a_bundle_of_another_type_is_a_4xx(app, patient, value):
    original = _bundle(patient)
    paths = [p for p in _leaves(original) if isinstance(_get(original, p), str)
             and p[-1] not in ("resourceType", "data")]
    for path in paths:
        bundle = copy.deepcopy(original)
        _set(bundle, path, value)
        _refused(fhir(app, "POST", "", bundle), path)


def _get(node, path):
    for step in path:
        node = node[step]
    return node


def _stored(app, patient) -> dict:
    bundle = _bundle(patient)
    assert fhir(app, "POST", "", bundle).status == 200
    found = fhir(app, "GET", f"/DocumentReference?{patient_query(patient)}&status=current")
    return found.json["entry"][0]["resource"]


def test_every_leaf_of_a_patch_value_null_or_mistyped_is_a_4xx(app, patient):
    resource = _stored(app, patient)
    rid = resource["id"]
    leaves = [p for p in _leaves(resource) if p[0] in ("securityLabel", "extension", "status")]
    assert len(leaves) >= 3
    for path in leaves:
        for value in WRONG:
            body = copy.deepcopy(resource)
            _set(body, path, value)
            top = path[0]
            patch = [{"op": "replace", "path": f"/{top}", "value": body[top]}]
            expressions = _refused(fhir(app, "PATCH", f"/DocumentReference/{rid}", patch,
                                        PATCH), (path, value))
            if value is None:
                assert expressions == [_fhirpath("patch[0].value", path[1:])], path


def test_null_is_kept_only_as_a_place_in_a_primitive_array_with_extensions(app, patient):
    from xds_server.fhir.outcome import FhirError
    from xds_server.fhir.texts import check_json
    check_json({"given": [None, "Jean"], "_given": [{"extension": []}, None]}, "HumanName")
    for value, where in (({"given": [None]}, "H.given[0]"), ({"a": None, "_a": {}}, "H.a"),
                         (None, "H"), ([1, None], "H[1]")):
        with pytest.raises(FhirError) as caught:
            check_json(value, "H")
        assert caught.value.issues[0]["expression"] == [where]


def _raw(bundle: dict, name: str, first, second) -> bytes:
    """The bundle's JSON with `name` given twice (first, then second) in its first
    DocumentReference."""
    text = json.dumps(bundle)
    marker = '"resourceType": "DocumentReference"'
    assert marker in text
    extra = f'{json.dumps(name)}: {json.dumps(first)}, {json.dumps(name)}: {json.dumps(second)}, '
    return text.replace(marker, extra + marker, 1).encode()


def test_a_member_named_twice_is_a_400_naming_it(app, patient):
    bundle = _bundle(patient)
    [at] = [i for i, e in enumerate(bundle["entry"])
            if e["resource"]["resourceType"] == "DocumentReference"]
    labels = bundle["entry"][at]["resource"].pop("securityLabel")
    masked = [*labels, {"coding": [{"system": "urn:oid:1.2.250.1.213.1.1.4.13",
                                    "code": "MASQUE_PS"}]}]
    answer = fhir(app, "POST", "", _raw(bundle, "securityLabel", masked, labels))
    assert answer.status == 400, answer.body[:300]
    assert answer.expressions == [f"Bundle.entry[{at}].resource.securityLabel"]
    assert "twice" in answer.json["issue"][0]["diagnostics"]
    assert fhir(app, "GET", f"/DocumentReference?{patient_query(patient)}"
                            "&status=current").json["total"] == 0


def test_a_patch_member_named_twice_is_a_400(app, patient):
    rid = _stored(app, patient)["id"]
    raw = (b'[{"op": "add", "path": "/securityLabel/-", "value": {"coding": [{"system": '
           b'"urn:oid:1.2.250.1.213.1.1.4.13", "code": "MASQUE_PS", "code": '
           b'"INVISIBLE_PATIENT"}]}}]')
    answer = fhir(app, "PATCH", f"/DocumentReference/{rid}", raw, PATCH)
    assert answer.status == 400
    assert answer.expressions == ["patch[0].value.coding[0].code"]


@pytest.mark.parametrize("charset", ["iso-8859-1", "utf-16", "latin1", "\"windows-1252\""])
def test_a_body_in_another_charset_is_a_415_naming_it(app, patient, charset):
    bundle = json.dumps(_bundle(patient)).encode()
    answer = fhir(app, "POST", "", bundle, f"application/fhir+json; charset={charset}")
    assert answer.status == 415 and answer.expressions == ["Content-Type"]
    assert charset.strip('"') in answer.json["issue"][0]["diagnostics"]
    form = f"{patient_query(patient)}&status=current".encode()
    answer = fhir(app, "POST", "/DocumentReference/_search", form,
                  f"application/x-www-form-urlencoded; charset={charset}")
    assert answer.status == 415 and answer.expressions == ["Content-Type"]


def test_utf8_charset_spellings_are_served(app, patient):
    bundle = json.dumps(_bundle(patient)).encode()
    assert fhir(app, "POST", "", bundle, "application/fhir+json; charset=UTF-8").status == 200
    form = f"{patient_query(patient)}&status=current".encode()
    answer = fhir(app, "POST", "/DocumentReference/_search", form,
                  "application/x-www-form-urlencoded;charset=\"utf-8\"")
    assert answer.status == 200 and answer.json["total"] == 1


def test_a_form_byte_that_is_not_utf8_is_a_400_as_its_escape_is(app, patient):
    base = f"{patient_query(patient)}&status=current&author.family=".encode()
    form = "application/x-www-form-urlencoded"
    for tail in (b"%FF", b"\xe9", b"caf\xe9"):
        answer = fhir(app, "POST", "/DocumentReference/_search", base + tail, form)
        assert answer.status == 400, (tail, answer.body[:200])
    # raw UTF-8 is read as its escape is
    raw = fhir(app, "POST", "/DocumentReference/_search", base + "é".encode(), form)
    escaped = fhir(app, "POST", "/DocumentReference/_search", base + b"%C3%A9", form)
    assert raw.status == escaped.status == 200
    assert raw.json["total"] == escaped.json["total"]


@pytest.mark.parametrize("param", ["_count=5_0", "_count=%D9%A3", "_offset=%2B5", "_count=+5",
                                   "_count=%EF%BC%95", "_offset=1e2", "_count= 5"])
def test_paging_numbers_are_fhir_integers(app, patient, param):
    answer = fhir(app, "GET", f"/DocumentReference?{patient_query(patient)}&status=current&"
                              f"{param}")
    assert answer.status == 400, (param, answer.body[:200])
    assert answer.expressions == [param.split("=")[0]]
