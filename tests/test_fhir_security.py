"""The FHIR front's authentication (IUA bearer tokens, fhir/bearer.py) and what a refusal
discloses: each rule of bearer.py beside the attack it stops, mounted here; bounded inputs;
the audit names the front."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from xds_server.store import audit_store

from .fhir_data import fhir, patient_query, provide_bundle
from .iua_data import ISSUER, TokenIssuer
from .registry_data import (
    document,
    new_patient,
    open_patient,
    provide_text_document,
    submission_set,
)
from .vihf_data import SigningAuthority

AUTHOR = "810000000001"


@pytest.fixture(scope="module")
def issuer(tmp_path_factory):
    return TokenIssuer.create(tmp_path_factory.mktemp("iua"))


@pytest.fixture(scope="module")
def vihf_authority(tmp_path_factory):
    return SigningAuthority.create(tmp_path_factory.mktemp("vihf") / "ca")


@pytest.fixture
def secured(make_app, issuer, vihf_authority):
    app = make_app(profile="ihe", vihf_trusted_certs=str(vihf_authority.trusted),
                   **issuer.settings())
    patient, other = new_patient(), new_patient()
    for p in (patient, other):
        open_patient(app, p)
    return app, patient, other


def _store(app, patient):
    return provide_text_document(app, patient, AUTHOR)


def _search(app, patient, headers):
    return fhir(app, "GET", f"/DocumentReference?{patient_query(patient)}&status=current",
                headers=headers)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned(claims: dict, header: dict) -> str:
    body = json.dumps(claims, default=lambda d: int(d.timestamp())).encode()
    return f"{_b64(json.dumps(header).encode())}.{_b64(body)}."


def test_a_valid_token_reads(secured, issuer):
    app, patient, _ = secured
    _store(app, patient)
    answer = _search(app, patient, issuer.header(patient, subject=AUTHOR))
    assert answer.status == 200 and answer.json["total"] == 1


def test_without_a_token_401_with_the_challenge(secured):
    app, patient, _ = secured
    answer = _search(app, patient, {})
    assert answer.status == 401 and answer.headers["www-authenticate"].startswith("Bearer")


def _attacks(issuer: TokenIssuer, patient: str) -> dict[str, str]:
    """Rule → a token that breaks it."""
    claims = issuer.claims(patient)
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = issuer.pem_path.read_bytes()
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "k1"}).encode())
    payload = _b64(json.dumps(claims, default=lambda d: int(d.timestamp())).encode())
    mac = hmac.new(public_pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    own_jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(other_key.public_key()))
    return {
        # rule 1: the algorithm is the server's, never the token's
        "alg none": _unsigned(claims, {"alg": "none", "typ": "JWT"}),
        "HS256 with the public key as secret": f"{header}.{payload}.{_b64(mac)}",
        # rule 2: keys from XDS_IUA_JWKS only
        "signed by another key": jwt.encode(claims, other_key, "RS256",
                                            headers={"kid": "k1"}),
        "a key of its own (jwk header)": jwt.encode(claims, other_key, "RS256",
                                                    headers={"jwk": own_jwk}),
        "an unknown kid": jwt.encode(claims, issuer.key, "RS256", headers={"kid": "zz"}),
        # rule 3: issuer, audience, lifetime
        "another issuer": issuer.token(patient, iss="https://evil.example"),
        "another audience": issuer.token(patient, aud="https://other.example/fhir"),
        "expired": issuer.token(patient, lifetime=-600),
        "not yet valid": issuer.token(patient, nbf=dt.datetime.now(dt.UTC)
                                      + dt.timedelta(hours=1)),
        "no expiry": jwt.encode({k: v for k, v in claims.items() if k != "exp"}, issuer.key,
                                "RS256", headers={"kid": "k1"}),
        # rule 5: size
        "oversized": issuer.token(patient, padding="x" * 20_000),
        # rule 6: identity claims
        "no patient": jwt.encode({**claims, "extensions": {"ihe_iua": {
            **claims["extensions"]["ihe_iua"], "person_id": ""}}}, issuer.key, "RS256",
            headers={"kid": "k1"}),
        "unknown role": jwt.encode({**claims, "extensions": {"ihe_iua": {
            **claims["extensions"]["ihe_iua"], "subject_role": {"system": "urn:oid:1.2",
                                                                "code": "GOD"}}}},
            issuer.key, "RS256", headers={"kid": "k1"}),
        "garbage": "not.a.jwt",
    }


@pytest.mark.parametrize("attack", ["alg none", "HS256 with the public key as secret",
                                    "signed by another key", "a key of its own (jwk header)",
                                    "an unknown kid", "another issuer", "another audience",
                                    "expired", "not yet valid", "no expiry", "oversized",
                                    "no patient", "unknown role", "garbage"])
def test_each_forged_or_stale_token_is_refused(secured, issuer, attack):
    app, patient, _ = secured
    token = _attacks(issuer, patient)[attack]
    answer = _search(app, patient, {"Authorization": f"Bearer {token}"})
    assert answer.status == 401, (attack, answer.body)
    assert answer.json["resourceType"] == "OperationOutcome"


def test_two_credentials_in_one_header_are_refused(secured, issuer):
    app, patient, _ = secured
    token = issuer.token(patient)
    answer = _search(app, patient, {"Authorization": f"Bearer {token}, Bearer {token}"})
    assert answer.status == 401


def test_rule_4_a_read_token_cannot_write(secured, issuer):
    app, patient, _ = secured
    read_only = issuer.header(patient, scope="user/DocumentReference.read")
    entry = document(patient, f"urn:uuid:{uuid.uuid4()}", mime_type="text/plain",
                     repository_unique_id=None)
    bundle = provide_bundle(submission_set(patient, f"urn:uuid:{uuid.uuid4()}"),
                            [(entry, b"hello")])
    answer = fhir(app, "POST", "", bundle, headers=read_only)
    assert answer.status == 403 and "DocumentReference.write" in answer.body.decode()
    assert _search(app, patient, read_only).status == 200


def test_another_patients_ids_give_what_an_unknown_id_gives(secured, issuer):
    """A token for patient B asking for patient A's document by id, its bytes, or A's record:
    the answer is the one for a document that does not exist (nothing says A's exists)."""
    app, patient, other = secured
    entry = _store(app, patient)
    stranger = issuer.header(other, subject=AUTHOR)
    rid = entry.entry_uuid.removeprefix("urn:uuid:")
    pairs = [(f"/DocumentReference/{rid}", f"/DocumentReference/{uuid.uuid4()}"),
             (f"/Binary/{entry.unique_id}", "/Binary/1.2.3.4.5.999")]
    for real, unknown in pairs:
        seen, nothing = (fhir(app, "GET", path, headers=stranger) for path in (real, unknown))
        assert seen.status == nothing.status == 404
        # the same words, but for the id the caller gave (echoed, as for any id)
        assert seen.body.decode().replace(real.rsplit("/", 1)[1], "ID") == \
            nothing.body.decode().replace(unknown.rsplit("/", 1)[1], "ID")
    asked = _search(app, patient, stranger)
    empty = _search(app, new_patient(), stranger)
    assert asked.status == empty.status == 403 and asked.body == empty.body
    assert "XDSPatientIdDoesNotMatch" in asked.body.decode()


def test_security_vihf_without_iua_settings_refuses_every_fhir_call(make_app, vihf_authority):
    app = make_app(profile="ihe", security="vihf",
                   vihf_trusted_certs=str(vihf_authority.trusted))
    answer = fhir(app, "GET", f"/DocumentReference?{patient_query(new_patient())}"
                              "&status=current")
    assert answer.status == 401 and "XDS_IUA_JWKS" in answer.body.decode()
    assert fhir(app, "GET", "/metadata").status == 200      # the statement is public


@pytest.mark.parametrize(("query", "status"), [
    ("&_count=100000", 400), ("&type=" + ",".join(f"urn:oid:1.2|{i}" for i in range(60)), 400),
    ("&x=" + "a" * 9000, 414)])
def test_searches_are_bounded(app, patient, query, status):
    answer = fhir(app, "GET", f"/DocumentReference?{patient_query(patient)}&status=current"
                              + query)
    assert answer.status == status, answer.body[:300]


def test_bundles_and_bodies_are_bounded(make_app, patient):
    app = make_app(profile="ihe", max_request_bytes=4096)
    answer = fhir(app, "POST", "", {"resourceType": "Bundle", "type": "transaction",
                                    "entry": [{"resource": {"resourceType": "Basic"}}] * 200})
    assert answer.status == 413
    small = make_app(profile="ihe")
    many = fhir(small, "POST", "", {"resourceType": "Bundle", "type": "transaction",
                                    "entry": [{}] * 1001})
    assert many.status == 413


def test_the_audit_names_the_front_and_the_transaction(secured, issuer):
    app, patient, _ = secured
    entry = _store(app, patient)
    headers = issuer.header(patient, subject=AUTHOR)
    assert _search(app, patient, headers).status == 200
    assert fhir(app, "GET", f"/Binary/{entry.unique_id}", headers=headers).status == 200
    app.registry.queries.audit_writer.flush()
    app.repository.audit_writer.flush()
    with app.database.reading() as uow:
        events = audit_store.trail(uow)
    fhir_events = {(e.transaction, e.subject_id) for e in events if "/fhir/" in e.endpoint}
    assert {("ITI-67", AUTHOR), ("ITI-68", AUTHOR)} <= fhir_events
    assert ISSUER   # the issuer is trusted by settings, never by the token


def test_a_read_answered_404_is_audited_as_a_failure_naming_the_id(secured, issuer):
    """Issue 16 re-test c (6): GET DocumentReference/<hidden, unknown or another patient's id>
    answered 404 (unchanged) but was audited as a success naming nothing; a read that finds
    is a success naming the document."""
    app, patient, other = secured
    mine, theirs = _store(app, patient), _store(app, other)
    headers = issuer.header(patient, subject=AUTHOR)
    unknown = str(uuid.uuid4())
    for asked in (unknown, theirs.entry_uuid[9:]):
        answer = fhir(app, "GET", f"/DocumentReference/{asked.upper()}", headers=headers)
        assert answer.status == 404
    assert fhir(app, "GET", f"/DocumentReference/{mine.entry_uuid[9:]}",
                headers=headers).status == 200
    app.registry.queries.audit_writer.flush()
    with app.database.reading() as uow:
        reads = [(e.outcome, e.documents) for e in audit_store.trail(uow)
                 if e.transaction == "read"]
    assert reads[:2] == [("failure", f"urn:uuid:{unknown}"), ("failure", theirs.entry_uuid)]
    assert set(reads[2:]) == {("success", mine.unique_id)}, reads
