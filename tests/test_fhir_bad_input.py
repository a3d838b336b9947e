"""No client input makes the FHIR front answer 500 (findings 4-8 of the outsider's report): the
search parameters of ITI-67 and ITI-66, every text field of an ITI-65 Bundle and JSON Patch
operations are fuzzed with the classes of bad values the outsider used (control characters,
lone surrogates, impossible dates, numbers past every range, separators, deep nesting, empty
and long texts), and every answer is a 4xx OperationOutcome naming an element, or a success."""

from __future__ import annotations

import copy
import json
import logging
import random
import uuid
from urllib.parse import quote

from xds_server.fhir.search import DOCUMENT_PARAMS, LIST_PARAMS
from xds_server.fhir.texts import MAX_DEPTH

from .fhir_data import fhir, patient_query, provide_bundle
from .registry_data import document, folder, submission_set
from .test_fhir_front import PDF

BAD_TEXTS = ["\x00", "a\x01b", "\x0b", "\ufffe", "\ud800", "x\x1f", "\uffff"]
BAD_VALUES = [*BAD_TEXTS, "", "2024-02-30", "ge9999-12-31T23:59:59Z", "9999-12-31",
              "0000-01-01", "99999999999999999999999", "-1", "1e9", "|", "a|", "|b",
              "a\\,b", ",", "%", "_", "^", "&", "urn:oid:", "Patient/", "x" * 3000,
              "２０２５", "eq", "gtnow", "ap2025"]


def _urn() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


def _refused_well(answer) -> None:
    assert answer.status < 500, answer.body[:400]
    if answer.status >= 400:
        outcome = answer.json
        assert outcome["resourceType"] == "OperationOutcome"
        assert outcome["issue"][0]["diagnostics"]


def test_every_search_parameter_with_every_bad_value(app, patient):
    base = f"{patient_query(patient)}&status=current"
    for kind, names in (("DocumentReference", DOCUMENT_PARAMS), ("List", LIST_PARAMS)):
        for name in sorted(names):
            for value in BAD_VALUES:
                query = f"{base}&{quote(name)}={quote(value, safe='', errors='surrogatepass')}"
                _refused_well(fhir(app, "GET", f"/{kind}?{query}"))


def test_bad_texts_are_refused_naming_the_parameter(app, patient):
    # (a URL's bytes that are not UTF-8, as a lone surrogate would be, are read as U+FFFD)
    for text in (t for t in BAD_TEXTS if t != "\ud800"):
        code = quote("urn:oid:1.2|" + text, safe="")
        answer = fhir(app, "GET", f"/DocumentReference?{patient_query(patient)}"
                                  f"&status=current&type={code}")
        assert answer.status == 400, (text, answer.body)
        assert answer.expressions == ["type"]


def _string_paths(node, path=()):
    if isinstance(node, str):
        yield path
    elif isinstance(node, dict):
        for key, item in node.items():
            yield from _string_paths(item, (*path, key))
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from _string_paths(item, (*path, index))


def _set(node, path, value):
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value


def _bundle(patient):
    entry = document(patient, _urn(), mime_type="application/pdf", repository_unique_id=None)
    return provide_bundle(submission_set(patient, _urn()), [(entry, PDF)])


def test_every_text_of_a_bundle_with_a_bad_character(app, patient):
    """Each string of the Bundle (descriptions, titles, names, codes, displays, urls), in
    turn, carries one of the bad characters: a 400 naming that very element."""
    original = _bundle(patient)
    rng = random.Random(5)
    paths = [p for p in _string_paths(original) if p[-1] != "data"]
    assert len(paths) > 40
    for path in paths:
        bundle = copy.deepcopy(original)
        text = rng.choice(BAD_TEXTS)
        _set(bundle, path, f"ok{text}ok")
        raw = json.dumps(bundle).encode()      # \ud800 as its JSON escape, as a client sends
        answer = fhir(app, "POST", "", raw)
        assert answer.status == 400, (path, answer.body[:300])
        where = "Bundle" + "".join(f"[{s}]" if isinstance(s, int) else f".{s}" for s in path)
        assert answer.expressions == [where], path


def test_bad_values_in_a_bundle_never_a_500(app, patient):
    original = _bundle(patient)
    rng = random.Random(7)
    paths = [p for p in _string_paths(original) if p[-1] != "data"]
    for path in paths:
        for value in rng.sample(BAD_VALUES[len(BAD_TEXTS):], 4):
            bundle = copy.deepcopy(original)
            _set(bundle, path, value)
            _refused_well(fhir(app, "POST", "", bundle))


def test_deep_nesting_is_a_400_before_any_validation(app, patient):
    for depth in (MAX_DEPTH, 150, 300, 800):
        bundle = _bundle(patient)
        bundle["entry"][1]["resource"]["extension"] = ["NESTED"]
        nested = '{"url":"http://example.org/x","extension":[' * depth + \
            '{"url":"http://example.org/x","valueString":"leaf"}' + "]}" * depth
        raw = json.dumps(bundle).replace('"NESTED"', nested).encode()
        answer = fhir(app, "POST", "", raw)
        assert answer.status == 400, (depth, answer.body[:300])
        assert depth > 300 or "nested" in answer.json["issue"][0]["diagnostics"]


PATCHES = [
    [{"op": "add", "path": "/"}],
    [{"op": "add", "path": "/", "value": 1}],
    [{"op": "add", "path": "", "value": 1}],
    [{"op": "add", "path": "/securityLabel/5/coding", "value": []}],
    [{"op": "add", "path": "/securityLabel/-/coding", "value": []}],
    [{"op": "replace", "path": "/securityLabel/-/coding/0", "value": {}}],
    [{"op": "remove", "path": "/securityLabel/99"}],
    [{"op": "add", "path": "/securityLabel/99999999999999999999", "value": {}}],
    [{"op": "add", "path": "/status/x", "value": 1}],
    [{"op": "add", "path": "/securityLabel/extension[url:'x']/y", "value": 1}],
    [{"op": "test", "path": "/securityLabel/0", "value": None}],
    [{"op": "replace", "path": "/securityLabel", "value": "\x00"}],
    [{"op": "add", "path": "/securityLabel/-", "value": {"coding": [{"code": "\ufffe"}]}}],
    [{"op": "replace", "path": "/status", "value": ["entered-in-error"]}],
    [{"op": "replace", "path": "/status", "value": None}],
    [{"op": "move", "from": "/status", "path": "/x"}],
    [{"op": "add", "path": "/~2", "value": 1}],
    [{"op": "add", "path": "/extension/0/valueBoolean", "value": "yes"}],
    [{"op": "add", "path": "/content/0/attachment/data", "value": "AA=="}],
    [None], [], {"op": "add"}, "text", [{"op": "add", "path": 5, "value": 1}],
]


def test_json_patches_never_a_500(app, patient):
    entry = document(patient, _urn(), mime_type="application/pdf", repository_unique_id=None)
    bundle = provide_bundle(submission_set(patient, _urn()), [(entry, PDF)])
    assert fhir(app, "POST", "", bundle).status == 200
    rid = entry.entry_uuid.removeprefix("urn:uuid:")
    for patch in PATCHES:
        answer = fhir(app, "PATCH", f"/DocumentReference/{rid}", patch,
                      "application/json-patch+json")
        _refused_well(answer)
        assert answer.status >= 400, patch


def test_ids_in_the_path_with_bad_characters(app):
    for path in ("/DocumentReference/%00", "/List/a%0Bb", "/Binary/1.2%00.3",
                 "/DocumentReference/" + "x" * 500):
        _refused_well(fhir(app, "GET", path))


# --- issue 16 re-test: member names, dates at the ends of their range (M4, m1, m14) ------

SURROGATES = ["\ud800", "\udfff", "a\udbffb"]
# (value, whether XDS can hold it: a DTM is a UTC time of years 0001-9999)
RANGE_ENDS = [("0001-01-01T00:00:00+14:00", False), ("9999-12-31T23:59:59-14:00", False),
              ("0001-01-01T00:00:00Z", True), ("0999-12-31T23:59:59+01:00", True),
              ("0001-01-01", True), ("0500-06", True), ("9999-12-31T23:59:59Z", True),
              ("9999-12-31T10:00:00+14:00", True)]


def _key_paths(node, path=()):
    """The path of every member name of a JSON value."""
    if isinstance(node, dict):
        for key, item in node.items():
            yield (*path, key)
            yield from _key_paths(item, (*path, key))
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from _key_paths(item, (*path, index))


def _rename(node, path, name):
    for step in path[:-1]:
        node = node[step]
    node[name] = node.pop(path[-1])


def _where(path) -> str:
    return "Bundle" + "".join(f"[{s}]" if isinstance(s, int) else f".{s}" for s in path)


def test_a_lone_surrogate_in_any_member_name_is_a_400(app, patient):
    """Every member name of the Bundle, in turn, carries a lone surrogate: a 400 naming the
    member (the surrogate written \\uXXXX), never the 500 of an answer UTF-8 cannot carry."""
    original = _bundle(patient)
    paths = list(_key_paths(original))
    assert len(paths) > 60
    for index, path in enumerate(paths):
        bundle = copy.deepcopy(original)
        bad = SURROGATES[index % len(SURROGATES)]
        _rename(bundle, path, f"{path[-1]}{bad}")
        answer = fhir(app, "POST", "", json.dumps(bundle).encode())
        assert answer.status == 400, (path, answer.body[:300])
        escaped = "".join(f"\\u{ord(c):04X}" if 0xD800 <= ord(c) <= 0xDFFF else c
                          for c in f"{path[-1]}{bad}")
        assert answer.expressions == [_where((*path[:-1], escaped))], path


def test_a_lone_surrogate_in_every_text_value_is_a_400(app, patient):
    original = _bundle(patient)
    for index, path in enumerate(p for p in _string_paths(original) if p[-1] != "data"):
        bundle = copy.deepcopy(original)
        _set(bundle, path, SURROGATES[index % len(SURROGATES)])
        answer = fhir(app, "POST", "", json.dumps(bundle).encode())
        assert answer.status == 400 and answer.expressions == [_where(path)], path


UNMAPPED = {("entry", 1, "resource", "date"), ("entry", 3, "resource", "date")}


def _dated_bundle(patient):
    entry = document(patient, _urn(), mime_type="application/pdf", repository_unique_id=None)
    bundle = provide_bundle(submission_set(patient, _urn()), [(entry, PDF)],
                            folders=[(folder(patient, _urn()), [0])])
    bundle["entry"][1]["resource"]["context"]["period"]["end"] = "2025-11-03"
    return bundle


def test_every_date_of_a_bundle_at_the_ends_of_its_range(app, patient):
    """Each date element (set and folder date, creation, period start and end, the
    DocumentReference's date) at the ends of what FHIR allows: never a 500; a 4xx naming the
    element when XDS cannot hold the time (DocumentReference.date and a folder's date have no
    XDS attribute: the registry stamps a folder's lastUpdateTime itself)."""
    dates = [p for p in _string_paths(_dated_bundle(patient)) if p[-1] in (
        "date", "creation", "start", "end")]
    assert len(dates) == 6, dates
    for path in dates:
        for value, held in RANGE_ENDS:
            bundle = _dated_bundle(patient)
            _set(bundle, path, value)
            if path[-1] == "start":
                _set(bundle, (*path[:-1], "end"), "9999-12-31T23:59:59Z")
            if path[-1] == "end":
                _set(bundle, (*path[:-1], "start"), "0001-01-01")
            answer = fhir(app, "POST", "", bundle)
            _refused_well(answer)
            if not held and path not in UNMAPPED:
                assert answer.status in (400, 422), (path, value)
                assert answer.expressions == [_where(path)], (path, value, answer.body[:300])


def test_searches_by_years_0001_to_0999_are_searches(app, patient):
    """Years 0001-0999 are FHIR dates: a search with them is answered (they were a 422
    naming a Python module: strftime does not pad years below 1000)."""
    for name in ("creation", "date", "period-start", "period-end", "period"):
        for value in ("0001", "0001-01-01", "0999-12-31T23:59:59Z", "0500-06",
                      "0001-01-01T00:00:00+14:00"):
            for prefix in ("", "eq", "le", "lt", "ge", "gt"):
                answer = fhir(app, "GET", f"/DocumentReference?{patient_query(patient)}"
                                          f"&status=current&{name}={quote(prefix + value)}")
                assert answer.status == 200, (name, prefix, value, answer.body[:300])


def test_a_lone_surrogate_anywhere_in_a_patch_is_a_400(app, patient):
    entry = document(patient, _urn(), mime_type="application/pdf", repository_unique_id=None)
    assert fhir(app, "POST", "", provide_bundle(submission_set(patient, _urn()),
                                                [(entry, PDF)])).status == 200
    rid = entry.entry_uuid.removeprefix("urn:uuid:")
    for patch in ([{"op": "add", "path": "/securityLabel/-", "value": {"\ud800": 1}}],
                  [{"op": "add", "path": "/securityLabel/-", "\udfff": 1}],
                  [{"op": "add", "path": "/securityLabel/\ud800", "value": {}}],
                  [{"op": "add", "path": "/securityLabel/-", "value": {"coding": [
                      {"code": "MASQUE_PS", "sys\udbfftem": "x"}]}}]):
        answer = fhir(app, "PATCH", f"/DocumentReference/{rid}", json.dumps(patch).encode(),
                      "application/json-patch+json")
        assert answer.status == 400, (patch, answer.body[:300])
        _refused_well(answer)


def test_json_is_utf8_with_finite_numbers_and_base64_may_wrap(app, patient):
    """Issue 16 re-test m8: a UTF-16 body, NaN, Infinity and 1e400 were taken (or refused in
    a validator's words); base64 with line breaks, which FHIR allows, was refused."""
    bundle = _bundle(patient)
    text = json.dumps(bundle)
    for raw in (text.encode("utf-16"), text.encode("utf-32"),
                text.replace('"type": "transaction"', '"type": "transaction", "x": NaN')
                .encode(), text.replace('"type": "transaction"', '"type": "transaction", '
                                        '"x": 1e400').encode(),
                text.replace('"type": "transaction"', '"type": "transaction", "x": -Infinity')
                .encode()):
        answer = fhir(app, "POST", "", raw)
        assert answer.status == 400, (raw[:60], answer.body[:300])
        assert answer.json["issue"][0]["code"] == "structure"
    binary = next(e["resource"] for e in bundle["entry"]
                  if e["resource"]["resourceType"] == "Binary")
    data = binary["data"]
    binary["data"] = "\n".join(data[i:i + 76] for i in range(0, len(data), 76)) + "\n"
    assert fhir(app, "POST", "", bundle).status == 200


def test_a_surrogate_refusal_is_logged_and_counted_as_any(app, patient, caplog):
    """Issue 16 re-test m14: the surrogate 500s escaped the FHIR log line (and the metrics,
    which count what that line records): a 400 now, on the one path every refusal takes."""
    bundle = _bundle(patient)
    bundle["entry"][0]["resource"]["x\ud800"] = 1
    with caplog.at_level(logging.INFO, logger="xds_server.fhir"):
        answer = fhir(app, "POST", "", json.dumps(bundle).encode())
    assert answer.status == 400
    lines = [r.getMessage() for r in caplog.records if "transaction=ITI-65" in r.getMessage()]
    assert any("outcome=failure status=400" in line for line in lines), lines
