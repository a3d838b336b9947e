"""Look-alike identities are refused alike on both fronts (security/identity_text.py; issue 16,
outsider 16e F4): `810000000099` followed by a variation selector, a combining mark or a
default-ignorable filler, or in other digits, was another principal that showed as the reader
in the log and the trail; a VIHF NameID with a space at an end was trimmed (the reader's
access) while IUA read the same `sub` as another principal. And a token naming a claim twice
is refused (RFC 7519 §4; 16e F3)."""

from __future__ import annotations

import json

import jwt
import pytest

from xds_server.security.identity_text import IDENTIFIER_MAX, identity_problem
from xds_server.security.vihf import VihfError, VihfVerifier

from . import test_identity_bounds as bounds
from .fhir_data import fhir, patient_query
from .test_identity_bounds import PATIENT, SUBJECT_NAME, _iua, _name_id, _text, _token
from .vihf_data import assertion, security_header

authority, issuer, secured = bounds.authority, bounds.issuer, bounds.secured   # fixtures

READER = "810000000099"
# (case, the identifier as sent, the character the refusal names)
LOOKALIKES = [
    ("variation-selector", READER + "\ufe0f", "U+FE0F"),
    ("combining-acute", READER + "\u0301", "U+0301"),
    ("grapheme-joiner", READER + "\u034f", "U+034F"),
    ("hangul-filler", READER + "\u3164", "U+3164"),
    ("braille-blank", READER + "\u2800", "U+2800"),
    ("mongolian-fvs", READER + "\u180b", "U+180B"),
    ("hangul-choseong-filler", READER + "\u115f", "U+115F"),
    ("halfwidth-filler", READER + "\uffa0", "U+FFA0"),
    ("fullwidth-digits", "８１００００００００９９", "U+FF18"),
    ("arabic-indic-digits", "٨١٠٠٠٠٠٠٠٠٩٩", "U+0668"),
    ("accented-letter", "81000000009é", "U+00E9"),
    ("leading-space", " " + READER, "space at its start or end"),
    ("trailing-space", READER + " ", "space at its start or end"),
]


def _verifier(authority):
    return VihfVerifier.from_path(authority.trusted)


@pytest.mark.parametrize("text, says", [c[1:] for c in LOOKALIKES],
                         ids=[c[0] for c in LOOKALIKES])
def test_a_lookalike_name_id_is_refused(authority, text, says):
    with pytest.raises(VihfError) as caught:
        _verifier(authority).principal(security_header(authority.sign(
            _name_id(text)(assertion(PATIENT)))))
    assert "Subject/NameID" in str(caught.value) and says in str(caught.value)


@pytest.mark.parametrize("text, says", [c[1:] for c in LOOKALIKES],
                         ids=[c[0] for c in LOOKALIKES])
def test_a_lookalike_sub_is_a_401(secured, issuer, text, says):
    app, patient = secured
    answer = fhir(app, "GET", f"/DocumentReference?{patient_query(patient)}&status=current",
                  headers=_token(issuer, patient, {"sub": text}))
    assert answer.status == 401, answer.body[:300]
    diagnostics = answer.json["issue"][0]["diagnostics"]
    assert "claim sub" in diagnostics and says in diagnostics, diagnostics


def test_a_lookalike_structure_is_refused_on_both_fronts(authority, secured, issuer):
    text = "1750\u3164"
    with pytest.raises(VihfError, match="Identifiant_Structure"):
        _verifier(authority).principal(security_header(authority.sign(
            _text("Identifiant_Structure", text)(assertion(PATIENT)))))
    app, patient = secured
    answer = fhir(app, "GET", f"/DocumentReference?{patient_query(patient)}&status=current",
                  headers=_token(issuer, patient, {"iua": {"subject_organization_id": text}}))
    assert answer.status == 401


@pytest.mark.parametrize("name", ["DR Jean-Élise D'Aubigné", "DR Jose\u0301 Franc\u0327ois",
                                  "Ørsted Ŀuís"])
def test_names_keep_their_accents_composed_or_not(authority, name):
    principal = _verifier(authority).principal(security_header(authority.sign(
        _text(SUBJECT_NAME, name)(assertion(PATIENT)))))
    assert principal.attributes["name"] == name


@pytest.mark.parametrize("name, code", [("DR X 1\u0301", "U+0301"), ("\u0301DR", "U+0301"),
                                        ("DR\u3164X", "U+3164"), ("DR X\ufe0f", "U+FE0F"),
                                        ("DR ٣", "U+0663"), ("DR \u0301", "U+0301")])
def test_a_name_with_a_stray_mark_a_filler_or_other_digits_is_refused(authority, name, code):
    with pytest.raises(VihfError, match=code.replace("+", r"\+")):
        _verifier(authority).principal(security_header(authority.sign(
            _text(SUBJECT_NAME, name)(assertion(PATIENT)))))


def test_the_rule_by_itself():
    assert identity_problem(READER, IDENTIFIER_MAX) is None
    assert identity_problem("urn:x/a b", IDENTIFIER_MAX) is None   # an inner space is a char
    assert identity_problem("", IDENTIFIER_MAX) == "is empty"
    assert identity_problem("e\u0301\u0300") is None               # marks after a letter
    assert identity_problem("1\u0301")


def test_a_token_naming_a_claim_twice_is_a_401(secured, issuer):
    app, patient = secured
    claims = _iua(issuer, patient)
    text = json.dumps(claims, default=lambda moment: int(moment.timestamp()))
    assert text.startswith("{")
    twice = '{"sub": "' + READER + '", ' + text[1:]     # the issuer's sub comes last
    token = jwt.api_jws.PyJWS().encode(twice.encode(), issuer.key, "RS256",
                                       headers={"kid": issuer.kid})
    answer = fhir(app, "GET", f"/DocumentReference?{patient_query(patient)}&status=current",
                  headers={"Authorization": f"Bearer {token}"})
    assert answer.status == 401
    assert "'sub' twice" in answer.json["issue"][0]["diagnostics"]
