"""ITI-65 holds what the JSON holds (outsider 16d, findings 2, 3 and 5): the R4B models parse a
JSON string given for an object or a list as JSON and accept it, but the server reads the JSON
itself, which holds a string there (500s: 'str' has no attribute 'get'; a List.source dropped
with a 200). Every such string is a 422 naming its FHIRPath; a scalar, empty or absent
`content` or `entry` is the models' structure error, never a 500 nor a profile error."""

from __future__ import annotations

import copy
import json
import uuid

import pytest

from .fhir_data import fhir, provide_bundle
from .registry_data import document, submission_set
from .test_fhir_front import PDF


def _urn() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


def _bundle(patient):
    entry = document(patient, _urn(), mime_type="application/pdf", repository_unique_id=None)
    return provide_bundle(submission_set(patient, _urn()), [(entry, PDF)])


def _object_paths(node, path=()):
    """Every object and list below the root, by its path."""
    items = node.items() if isinstance(node, dict) else enumerate(node) \
        if isinstance(node, list) else ()
    for key, item in items:
        if isinstance(item, dict | list):
            yield (*path, key)
            yield from _object_paths(item, (*path, key))


def _fhirpath(path) -> str:
    return "Bundle" + "".join(f"[{s}]" if isinstance(s, int) else f".{s}" for s in path)


def _at(node, path):
    for step in path:
        node = node[step]
    return node


def test_a_json_string_for_any_object_or_list_is_a_422_naming_it(app, patient):
    original = _bundle(patient)
    paths = list(_object_paths(original))
    assert len(paths) > 60
    for path in paths:
        bundle = copy.deepcopy(original)
        parent = _at(bundle, path[:-1])
        parent[path[-1]] = json.dumps(parent[path[-1]])
        answer = fhir(app, "POST", "", bundle)
        assert answer.status == 422 and answer.expressions == [_fhirpath(path)], (
            path, answer.body[:300])
        if path != ("entry",):
            assert answer.json["issue"][0]["code"] == "structure"


def test_the_submission_sets_source_as_text_is_refused_not_dropped(app, patient):
    bundle = _bundle(patient)
    [lst] = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "List"]
    lst["source"] = json.dumps(lst["source"])
    answer = fhir(app, "POST", "", bundle)
    assert answer.status == 422 and answer.expressions[0].endswith(".resource.source")


@pytest.mark.parametrize("value", [True, 1.5, 7, 0, False, "", {}, None])
def test_a_scalar_or_empty_content_is_a_structure_error(app, patient, value):
    bundle = _bundle(patient)
    [at] = [i for i, e in enumerate(bundle["entry"])
            if e["resource"]["resourceType"] == "DocumentReference"]
    resource = bundle["entry"][at]["resource"]
    if value is None:
        del resource["content"]
    else:
        resource["content"] = value
    answer = fhir(app, "POST", "", bundle)
    assert answer.status == 422, answer.body[:300]
    issue = answer.json["issue"][0]
    assert issue["code"] == "structure", issue
    assert answer.expressions[0].startswith(f"Bundle.entry[{at}].resource.content"), issue


@pytest.mark.parametrize("value", [0, False, "", {}])
def test_a_scalar_or_empty_entry_is_a_structure_error(app, patient, value):
    bundle = _bundle(patient)
    bundle["entry"] = value
    answer = fhir(app, "POST", "", bundle)
    assert answer.status == 422, answer.body[:300]
    assert answer.json["issue"][0]["code"] == "structure", answer.body[:300]
