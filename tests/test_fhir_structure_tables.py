"""The structure tables (fhir/structure_tables.py) against fhir.resources, the reference: on
the tests' bundles, the PDSm examples and mutations of every element of them, the tables
never accept what the models refuse, and structure() answers exactly what the models answer
(the tables decide only acceptances; every refusal is the models'). The bundles the tests
send are decided by the tables alone (the hot path: the models are not asked); the texts'
one-pass check (fhir/texts.py) answers as the walk that names the fault."""

from __future__ import annotations

import base64
import binascii
import copy
import json
import random
import textwrap
import uuid
from pathlib import Path

import pytest
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.documentreference import DocumentReference
from hypothesis import given, settings
from hypothesis import strategies as st

from xds_server.fhir import profile_rules
from xds_server.fhir.datatypes import Invalid
from xds_server.fhir.outcome import FhirError
from xds_server.fhir.provide import _decoded, _without_payloads
from xds_server.fhir.structure_tables import _primitive, accepts
from xds_server.fhir.texts import MAX_DEPTH, _clean, _named

from .conftest import REFERENCE
from .fhir_data import fhir, provide_bundle
from .fsh import aliases, instances, to_json
from .registry_data import document, folder, new_patient, submission_set
from .test_fhir_front import PDF

EXAMPLES = Path(REFERENCE) / "fhir" / "ans-pdsm" / "input" / "fsh" / "Examples"
ODD_VALUES = ["", " ", "x", 0, -1, 1.5, True, [], {}, [None], ["x"], {"x": 1}, None,
              "2020-13-01", "2025-11-03T10:15:00", "urn:uuid:zz zz", "a\u00e9",
              {"resourceType": "Coding"}, {"resourceType": "Patient"}, "12", 10 ** 30]
ODD_KEYS = ["foo", "_status", "resource_type", "resourceType", "fhir_comments", "valueString",
            "class_fhir", "id", "extension", "_date"]


def _urn() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


def _models_accept(model, value) -> bool:
    try:
        model.model_validate(value)
    except (ValueError, TypeError, LookupError, AttributeError):   # ValidationError too
        return False
    return True


def _bundles() -> list[dict]:
    patient = new_patient()
    one = document(patient, _urn(), mime_type="application/pdf", repository_unique_id=None)
    two = document(patient, _urn(), mime_type="application/pdf", repository_unique_id=None)
    return [_without_payloads(b) for b in (
        provide_bundle(submission_set(patient, _urn()), [(one, PDF)]),
        provide_bundle(submission_set(patient, _urn()), [(one, PDF), (two, PDF)],
                       [(folder(patient, _urn()), [0, 1])]),
        provide_bundle(submission_set(patient, _urn()), [(two, PDF)], inline=True,
                       relates_to=[{"code": "replaces",
                                    "target": {"reference": f"DocumentReference/{uuid.uuid4()}"}}]),
    )]


@pytest.fixture(scope="module")
def examples() -> list[dict]:
    alias = aliases(EXAMPLES.parent / "aliases.fsh", *EXAMPLES.glob("*.fsh"))
    known: dict = {}
    for path in sorted(EXAMPLES.glob("*.fsh")):
        known.update(instances(path, alias))
    return [to_json(name, known) for name in sorted(known)]


def _paths(node, path=()):
    yield path
    if isinstance(node, dict):
        for key, item in node.items():
            yield from _paths(item, (*path, key))
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from _paths(item, (*path, index))


def _mutants(original: dict, rng: random.Random):
    """Each element deleted, made null, given an odd value; each object given an odd key."""
    for path in list(_paths(original))[1:]:
        parent = original
        for step in path[:-1]:
            parent = parent[step]
        for value in ["<delete>", None, *rng.sample(ODD_VALUES, 2)]:
            mutant = copy.deepcopy(original)
            target = mutant
            for step in path[:-1]:
                target = target[step]
            if value == "<delete>":
                del target[path[-1]]
            else:
                target[path[-1]] = copy.deepcopy(value)
            yield mutant
        node = parent[path[-1]]
        if isinstance(node, dict):
            for key in rng.sample(ODD_KEYS, 2):
                mutant = copy.deepcopy(original)
                target = mutant
                for step in path:
                    target = target[step]
                target[key] = copy.deepcopy(rng.choice(ODD_VALUES[:12]))
                yield mutant


def _same_verdicts(model, values) -> tuple[int, int]:
    """(decided by the tables, sent to the models); fails on an acceptance the models
    refuse."""
    decided = asked = 0
    for value in values:
        if accepts(model, value):
            assert _models_accept(model, value), json.dumps(value)[:2000]
            decided += 1
        else:
            asked += 1
    return decided, asked


def test_the_tests_bundles_and_the_examples_are_accepted_by_the_tables(examples):
    for bundle in _bundles():
        assert accepts(Bundle, bundle) and _models_accept(Bundle, bundle)
    for resource in examples:
        model = get_fhir_model_class(resource["resourceType"])
        assert _models_accept(model, resource)
        assert accepts(model, resource), resource.get("id")


def test_every_element_of_a_bundle_mutated_the_tables_never_accept_what_models_refuse():
    rng = random.Random(16)
    decided, asked = _same_verdicts(Bundle, _mutants(_bundles()[0], rng))
    assert decided > 100 and asked > 300       # both paths taken


def test_every_element_of_the_pdsm_examples_mutated(examples):
    rng = random.Random(65)
    for resource in examples:
        if resource["resourceType"] not in ("DocumentReference", "List", "Binary", "Bundle"):
            continue
        _same_verdicts(get_fhir_model_class(resource["resourceType"]),
                       _mutants(resource, rng))


def test_structure_answers_exactly_as_the_models(monkeypatch):
    """Every refusal (its issues, word for word) is the models'; what the tables accept the
    models accept."""
    rng = random.Random(3)
    mutants = list(_mutants(_bundles()[0], rng))[::7]
    answers = []
    for check in (profile_rules.accepts, lambda *_: False):
        monkeypatch.setattr(profile_rules, "accepts", check)
        found = []
        for mutant in mutants:
            try:
                profile_rules.structure(Bundle, mutant)
                found.append(None)
            except FhirError as error:
                found.append((error.status, error.issues))
        answers.append(found)
    assert answers[0] == answers[1]
    assert any(a is None for a in answers[0]) and any(a is not None for a in answers[0])


def test_a_good_bundle_is_not_given_to_the_models(app, monkeypatch):
    """The hot path: a valid ITI-65 costs the models nothing (2.4-3.2 ms of CPU a
    one-document Bundle); a PATCH's DocumentReference likewise."""
    def refused(*_args, **_kwargs):
        raise AssertionError("the models were asked")

    patient = new_patient()
    app.records.open(patient)
    entry = document(patient, _urn(), mime_type="application/pdf", repository_unique_id=None)
    bundle = provide_bundle(submission_set(patient, _urn()), [(entry, PDF)],
                            [(folder(patient, _urn()), [0])])
    monkeypatch.setattr(Bundle, "model_validate", refused)
    monkeypatch.setattr(DocumentReference, "model_validate", refused)
    answer = fhir(app, "POST", "", bundle)
    assert answer.status == 200, answer.body[:500]
    broken = copy.deepcopy(bundle)
    broken["entry"][0]["resource"]["date"] = "yesterday"        # a refusal: the models' words
    with pytest.raises(AssertionError, match="the models were asked"):
        profile_rules.structure(Bundle, _without_payloads(broken))


def test_long_texts_are_checked_never_kept():
    """The primitive verdicts kept are bounded in number and in length: a client's long
    descriptions are checked each time, never held in memory."""
    check = _primitive(DocumentReference.model_fields["description"].annotation)
    size = check.kept.cache_info().currsize
    assert check("x" * 5000) and check(["y" * 300]) is False
    assert check.kept.cache_info().currsize == size
    assert check(f"short {uuid.uuid4()}")
    assert check.kept.cache_info().currsize == size + 1
    assert check.kept.cache_info().maxsize == 4096


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet=st.characters(
        max_codepoint=0x10FFFF), max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(
        st.text(alphabet=st.characters(max_codepoint=0x2FF) | st.sampled_from(
            ["\ud800", "\x00", "\ufffe"]), max_size=4), children, max_size=3),
    max_leaves=20)


def _named_verdict(value) -> bool:
    try:
        _named(value, "Bundle")
    except FhirError:
        return False
    return True


@settings(max_examples=200, deadline=None)
@given(value=JSON, depth=st.integers(min_value=0, max_value=MAX_DEPTH + 2))
def test_the_one_pass_text_check_answers_as_the_named_walk(value, depth):
    for _ in range(depth):
        value = [value] if depth % 2 else {"a": value}
    assert _clean(value) == _named_verdict(value)


B64_ODD = [*"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=",
           " ", "\n", "\r", "\t", "\x0b", "\u00a0", "-", "_", "\u00e9", "*"]


def _decoded_before(data, max_bytes):
    """provide._content's decoding as it was: whitespace removed first, then strict."""
    if isinstance(data, str):
        data = "".join(data.split())
    if not isinstance(data, str) or len(data) > (max_bytes + 2) // 3 * 4 + 4:
        return "over"
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return "not base64"


@settings(max_examples=400, deadline=None)
@given(data=st.text(alphabet=st.sampled_from(B64_ODD), max_size=40)
       | st.binary(max_size=24).map(lambda b: base64.b64encode(b).decode())
       | st.binary(max_size=24).map(lambda b: " \n".join(
           textwrap.wrap(base64.b64encode(b).decode(), 4))),
       max_bytes=st.integers(min_value=0, max_value=30))
def test_the_document_is_decoded_as_before(data, max_bytes):
    """Strict decoding first (no copy of a text without whitespace) answers as removing the
    whitespace first did: the same bytes, or the same refusal."""
    try:
        mine = _decoded(data, max_bytes, "at")
    except Invalid as refused:
        mine = "over" if "over" in refused.args[0] else "not base64"
    assert mine == _decoded_before(data, max_bytes)
