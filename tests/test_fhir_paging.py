"""ITI-67 paging (fhir/paging.py; findings 9, 10, 13): a patient with more matches than the
registry returns as LeafClass is searched page by page; a walk that follows the next links
sees every document although documents are updated (masked: a new version) during the walk;
_count=0 gives the total and no next link; POST _search is the same search (finding 8)."""

from __future__ import annotations

import uuid
from urllib.parse import urlencode

import pytest

from xds_server.consumer.metadata import has_member
from xds_server.model.content import Attachment
from xds_server.model.metadata import Submission
from xds_server.security.principal import SYSTEM

from .fhir_data import fhir, patient_query
from .registry_data import document, new_patient, open_patient, submission_set

LIMIT = 6                        # XDS_MAX_LEAF_CLASS_RESULTS of these tests
DOCUMENTS = 17
VISIBILITY = ("https://mos.esante.gouv.fr/NOS/TRE_A07-StatutVisibiliteDocument/FHIR/"
              "TRE-A07-StatutVisibiliteDocument")


@pytest.fixture
def limited(make_app):
    app = make_app(profile="ihe", max_leaf_class_results=LIMIT)
    patient = new_patient()
    open_patient(app, patient)
    for _ in range(DOCUMENTS):
        entry = document(patient, f"urn:uuid:{uuid.uuid4()}", content=b"x",
                         mime_type="text/plain", repository_unique_id=None)
        package = submission_set(patient, f"urn:uuid:{uuid.uuid4()}")
        app.repository.provide(Submission(package, [entry], associations=[has_member(
            package.entry_uuid, entry.entry_uuid, entry_uuid=f"urn:uuid:{uuid.uuid4()}")]),
            {entry.entry_uuid: Attachment.from_bytes(b"x")}, SYSTEM, [])
    return app, patient


def _next(bundle) -> str | None:
    links = {link["relation"]: link["url"] for link in bundle["link"]}
    return links.get("next", "").split("/fhir", 1)[1] if "next" in links else None


def _walk(app, first: str, between=None) -> list[dict]:
    """Every DocumentReference of every page; `between(page_number, resources)` runs after
    each page is read."""
    seen, path, number = [], first, 0
    while path is not None:
        answer = fhir(app, "GET", path)
        assert answer.status == 200, answer.body
        resources = [e["resource"] for e in answer.json.get("entry", [])
                     if e["resource"]["resourceType"] == "DocumentReference"]
        assert len(resources) <= LIMIT
        seen += resources
        number += 1
        if between is not None:
            between(number, resources)
        path = _next(answer.json)
        assert number < 50, "the walk does not end"
    return seen


def _mask(app, resource) -> None:
    patch = [{"op": "add", "path": "/securityLabel/-", "value": {"coding": [
        {"system": VISIBILITY, "code": "MASQUE_PS"}]}}]
    answer = fhir(app, "PATCH", f"/DocumentReference/{resource['id']}", patch,
                  "application/json-patch+json")
    assert answer.status == 200, answer.body


def _unique_ids(resources) -> list[str]:
    return [r["masterIdentifier"]["value"] for r in resources]


@pytest.mark.parametrize("count", [1, 4, LIMIT, 100])
def test_more_matches_than_the_leafclass_limit_are_paged(limited, count):
    app, patient = limited
    first = f"/DocumentReference?{patient_query(patient)}&status=current&_count={count}"
    answer = fhir(app, "GET", first)
    assert answer.status == 200, answer.body
    assert answer.json["total"] == DOCUMENTS
    seen = _walk(app, first)
    assert len(seen) == DOCUMENTS == len(set(_unique_ids(seen)))


def test_a_walk_sees_every_document_although_some_are_updated(limited):
    """Masked during the walk: one already read, the last one read (the cursor's own entry),
    one not yet read. None is skipped; an updated one may come again as its new version."""
    app, patient = limited
    first = f"/DocumentReference?{patient_query(patient)}&status=current&_count=5"
    every = _unique_ids(_walk(app, first))

    def update(number, resources):
        if number == 1:
            _mask(app, resources[0])
            _mask(app, resources[-1])
        if number == 2:
            later = fhir(app, "GET", f"/DocumentReference?{patient_query(patient)}"
                                     "&status=current").json["entry"]
            _mask(app, later[-4]["resource"])

    seen = _unique_ids(_walk(app, first, update))
    assert set(seen) == set(every)
    assert len(seen) <= DOCUMENTS + 3


def test_count_zero_is_the_total_without_a_next_link(limited):
    app, patient = limited
    answer = fhir(app, "GET", f"/DocumentReference?{patient_query(patient)}&status=current"
                              "&_count=0")
    assert answer.status == 200
    assert answer.json["total"] == DOCUMENTS
    assert answer.json["entry"] == []
    assert _next(answer.json) is None


def test_a_cursor_not_given_by_a_link_is_a_400(limited):
    app, patient = limited
    for cursor in ("x", ",".join([str(uuid.uuid4())] * 4), "urn:uuid:1"):
        answer = fhir(app, "GET", f"/DocumentReference?{patient_query(patient)}"
                                  f"&status=current&_cursor={cursor}")
        assert answer.status == 400 and answer.expressions == ["_cursor"]


def test_post_search_is_the_same_search(limited):
    app, patient = limited
    query = f"{patient_query(patient)}&status=current&_count=3"
    by_get = fhir(app, "GET", f"/DocumentReference?{query}").json
    by_post = fhir(app, "POST", "/DocumentReference/_search", query.encode(),
                   "application/x-www-form-urlencoded")
    assert by_post.status == 200, by_post.body
    assert by_post.json["total"] == by_get["total"] == DOCUMENTS
    assert [e["fullUrl"] for e in by_post.json["entry"]] == \
        [e["fullUrl"] for e in by_get["entry"]]
    lists = fhir(app, "POST", "/List/_search", urlencode(
        {"patient.identifier": patient_query(patient).split("=", 1)[1]}).encode(),
        "application/x-www-form-urlencoded")
    # ITI-66 is not keyset-paged (fhir/paging.py): past the limit, advice a client can follow
    assert lists.status == 422 and "narrow the search" in lists.body.decode()
    assert lists.codes == ["XDSTooManyResults"]
    folders = fhir(app, "POST", "/List/_search", f"{query}&code=folder".replace(
        "&status=current", "").encode(), "application/x-www-form-urlencoded")
    assert folders.status == 200 and folders.json["total"] == 0
    big = fhir(app, "POST", "/DocumentReference/_search", b"a=" + b"x" * 9000,
               "application/x-www-form-urlencoded")
    assert big.status == 413
