"""IUA token rules of finding 25 (fhir/bearer.py): each transaction's scope, SMART v1 and v2
forms, only the user/ patient/ system/ prefixes; exp, iat, nbf numbers; a longest lifetime
(XDS_IUA_MAX_LIFETIME)."""

from __future__ import annotations

import datetime as dt
import time

import jwt
import pytest

from xds_server.model.stored_queries import GetSubmissionSets
from xds_server.security.principal import SYSTEM

from . import test_fhir_security as security
from .fhir_data import fhir

issuer, vihf_authority, secured = security.issuer, security.vihf_authority, security.secured


def _header(issuer, patient, **claims):
    """The document's author's token (who sees the document and its set)."""
    claims.setdefault("subject", security.AUTHOR)
    return {"Authorization": f"Bearer {issuer.token(patient, **claims)}"}


@pytest.mark.parametrize(("scope", "search", "list_search", "list_read", "doc_read"), [
    ("user/DocumentReference.read", 200, 403, 403, 200),
    ("user/List.read", 403, 200, 200, 403),
    ("patient/List.rs", 403, 200, 200, 403),
    ("system/DocumentReference.s", 200, 403, 403, 403),
    ("DocumentReference.r", 403, 403, 403, 200),
    ("user/*.read", 200, 200, 200, 200),
    ("user/*.cruds", 200, 200, 200, 200),
    ("evil/DocumentReference.read", 403, 403, 403, 403),
    ("user/DocumentReference.read/x", 403, 403, 403, 403),
    ("user/DocumentReference.sr", 403, 403, 403, 403),
])
def test_scopes_of_each_read(secured, issuer, scope, search, list_search, list_read,
                             doc_read):
    app, patient, _ = secured
    entry = security._store(app, patient)
    headers = _header(issuer, patient, scope=scope)
    assert security._search(app, patient, headers).status == search
    sets = fhir(app, "GET", f"/List?{security.patient_query(patient)}", headers=headers)
    assert sets.status == list_search
    [package] = app.registry.query(GetSubmissionSets(uuids=(entry.entry_uuid,)),
                                   SYSTEM).result.submission_sets
    set_id = package.entry_uuid.removeprefix("urn:uuid:")
    read = fhir(app, "GET", f"/List/{set_id}", headers=headers).status   # 404: not visible
    assert (read == 403) == (list_read == 403), read
    rid = entry.entry_uuid.removeprefix("urn:uuid:")
    assert fhir(app, "GET", f"/DocumentReference/{rid}", headers=headers).status == doc_read


def test_write_scopes_v1_and_v2(secured, issuer):
    app, patient, _ = secured
    entry = security._store(app, patient)
    rid = entry.entry_uuid.removeprefix("urn:uuid:")
    patch = [{"op": "replace", "path": "/status", "value": "entered-in-error"}]
    for scope, status in (("user/DocumentReference.c", 403),
                          ("user/DocumentReference.read", 403),
                          ("user/DocumentReference.u", 200)):
        answer = fhir(app, "PATCH", f"/DocumentReference/{rid}", patch,
                      "application/json-patch+json",
                      headers=_header(issuer, patient, scope=scope, subject=security.AUTHOR))
        assert (answer.status == 403) == (status == 403), (scope, answer.body)


def test_times_are_numbers_and_lifetimes_bounded(secured, issuer):
    app, patient, _ = secured
    now = int(time.time())
    for claims in ({"exp": str(now + 300)}, {"exp": True}, {"iat": str(now)},
                   {"exp": 10 ** 20}, {"exp": now + 3 * 3600}):
        token = jwt.encode({**issuer.claims(patient), "iat": now, **claims}, issuer.key,
                           algorithm="RS256", headers={"kid": issuer.kid})
        answer = security._search(app, patient, {"Authorization": f"Bearer {token}"})
        assert answer.status == 401, claims
    assert security._search(app, patient, _header(
        issuer, patient, lifetime=3000)).status == 200
    assert dt.timedelta(seconds=3600)       # XDS_IUA_MAX_LIFETIME's default


def _extensions(issuer, patient, **iua):
    extensions = issuer.claims(patient)["extensions"]
    return {**extensions, "ihe_iua": {**extensions["ihe_iua"], **iua}}


def test_a_trusted_issuers_malformed_claims_are_a_401(secured, issuer):
    """Issue 16 re-test m13: claims of the wrong JSON type or past every range, in a token
    whose signature verifies, were a 500 (an AttributeError, an OverflowError)."""
    app, patient, _ = secured
    now = int(time.time())
    for claims in ({"extensions": "x"}, {"extensions": ["x"]}, {"extensions": 7},
                   {"extensions": {"ihe_iua": ["x"]}}, {"extensions": {"ihe_iua": "x"}},
                   {"extensions": _extensions(issuer, patient, subject_role="10")},
                   {"extensions": _extensions(issuer, patient, person_id=["x"])},
                   {"extensions": _extensions(issuer, patient, purpose_of_use=None)},
                   {"extensions": {**issuer.claims(patient)["extensions"], "ans_vihf": "x"}},
                   {"exp": 10 ** 400}, {"exp": float("inf")}, {"exp": float("nan")},
                   {"iat": 10 ** 400}, {"nbf": 10 ** 400}, {"sub": 5}, {"sub": ["a"]},
                   {"scope": 5}, {"scope": ["user/*.read"]}):
        token = jwt.encode({**issuer.claims(patient), "iat": now, **claims}, issuer.key,
                           algorithm="RS256", headers={"kid": issuer.kid})
        answer = security._search(app, patient, {"Authorization": f"Bearer {token}"})
        assert answer.status in (401, 403), (claims, answer.status, answer.body[:300])
        assert answer.json["resourceType"] == "OperationOutcome"
