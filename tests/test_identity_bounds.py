"""Identity values held to one rule on both fronts (security/identity_text.py): the caller's
identifier and structure at most 64 characters (the audit trail's columns), other values 256,
no control character or lone surrogate. Issue 16 re-test c, findings 1 and 2: a signed
100-character NameID or 81-character `sub` lost other callers' read audits on PostgreSQL and
answered 500 to writes; a `\\ud800` in `sub`, `subject_organization_id` or `person_id` answered
500 and lost the audit batch on both databases."""

from __future__ import annotations

import uuid

import jwt
import pytest

from xds_server.security.vihf import SAML, VihfError, VihfVerifier
from xds_server.store import audit_store

from .fhir_data import fhir, patient_query, provide_bundle
from .iua_data import TokenIssuer
from .registry_data import document, new_patient, open_patient, submission_set
from .vihf_data import SigningAuthority, assertion, security_header

PATIENT = "279035121518989^^^&1.2.250.1.213.1.4.10&ISO^NH"
STRUCTURE = "Identifiant_Structure"
SUBJECT_NAME = "urn:oasis:names:tc:xspa:1.0:subject:subject-id"


@pytest.fixture(scope="module")
def authority(tmp_path_factory) -> SigningAuthority:
    return SigningAuthority.create(tmp_path_factory.mktemp("vihf-ca"))


def _text(name: str, text: str):
    def change(root):
        value = next(a for a in root.iter(f"{{{SAML}}}Attribute") if a.get("Name") == name)
        value[0].text = text
        return root
    return change


def _name_id(text: str):
    def change(root):
        root.find(f"{{{SAML}}}Subject/{{{SAML}}}NameID").text = text
        return root
    return change


VIHF_REFUSED = [
    ("name-id-65", _name_id("8" * 65), "Subject/NameID is 65 characters long; at most 64"),
    ("name-id-100", _name_id("8" * 100), "Subject/NameID is 100 characters long"),
    ("structure-65", _text(STRUCTURE, "1" * 65),
     f"the attribute {STRUCTURE} is 65 characters long; at most 64"),
    ("name-id-c1", _name_id("8101\x8501"), "Subject/NameID holds the character U+0085"),
    ("name-id-tab", _name_id("8101\t01"), "Subject/NameID holds the character U+0009"),
    ("structure-del", _text(STRUCTURE, "175\x7f"), "holds the character U+007F"),
    ("name-line-break", _text(SUBJECT_NAME, "DR\nX"), "holds the character U+000A"),
    # outsider 16d, finding 6: separators, format characters, noncharacters; NBSP in an id
    ("name-id-u2028", _name_id("81\u2028x"), "Subject/NameID holds the character U+2028"),
    ("name-id-nbsp", _name_id("810000000001\u00a0"), "NameID holds the character U+00A0"),
    ("name-id-zwsp", _name_id("810000000001\u200b"), "NameID holds the character U+200B"),
    ("structure-bidi", _text(STRUCTURE, "175\u202e1"), "holds the character U+202E"),
    ("name-u2029", _text(SUBJECT_NAME, "DR\u2029X"), "holds the character U+2029"),
    ("name-nonchar", _text(SUBJECT_NAME, "DR \ufdd0"), "holds the character U+FDD0"),
]


@pytest.mark.parametrize("change, says", [c[1:] for c in VIHF_REFUSED],
                         ids=[c[0] for c in VIHF_REFUSED])
def test_a_vihf_value_out_of_bounds_is_refused_naming_it(authority, change, says):
    verifier = VihfVerifier.from_path(authority.trusted)
    with pytest.raises(VihfError) as caught:
        verifier.principal(security_header(authority.sign(change(assertion(PATIENT)))))
    assert says in str(caught.value), str(caught.value)


def test_a_name_keeps_its_spaces_and_letters(authority):
    verifier = VihfVerifier.from_path(authority.trusted)
    name = "DR Jean-Élise\u00a0D'Aubigné Ørsted"
    root = _text(SUBJECT_NAME, name)(assertion(PATIENT))
    principal = verifier.principal(security_header(authority.sign(root)))
    assert principal.attributes["name"] == name


def test_a_vihf_identifier_of_64_characters_is_accepted(authority):
    verifier = VihfVerifier.from_path(authority.trusted)
    principal = verifier.principal(security_header(authority.sign(
        assertion(PATIENT, subject="8" * 64, structure="1" * 64))))
    assert principal.subject_id == "8" * 64 and principal.structure_id == "1" * 64


@pytest.fixture(scope="module")
def issuer(tmp_path_factory):
    return TokenIssuer.create(tmp_path_factory.mktemp("iua"))


@pytest.fixture
def secured(make_app, issuer, authority):
    app = make_app(profile="ihe", vihf_trusted_certs=str(authority.trusted),
                   **issuer.settings())
    patient = new_patient()
    open_patient(app, patient)
    return app, patient


def _iua(issuer, patient, **iua):
    claims = issuer.claims(patient)
    claims["extensions"]["ihe_iua"].update(iua)
    return claims


_SEARCH = "/DocumentReference?{}&status=current"
# (case, claims changes, what the refusal names)
IUA_REFUSED = [
    ("sub-81", {"sub": "https://iua.example.org/realms/sante/users/" + "x" * 38},
     "claim sub is 81 characters long; at most 64"),
    ("sub-surrogate", {"sub": "\ud800"}, "claim sub holds the character U+D800"),
    ("sub-nul", {"sub": "81\x00"}, "claim sub holds the character U+0000"),
    ("organisation-surrogate", {"iua": {"subject_organization_id": "\udc00"}},
     "claim subject_organization_id holds the character U+DC00"),
    ("organisation-65", {"iua": {"subject_organization_id": "1" * 65}},
     "claim subject_organization_id is 65 characters long"),
    ("person-surrogate", {"iua": {"person_id": PATIENT + "\ud800"}},
     "claim person_id holds the character U+D800"),
    ("name-c1", {"iua": {"subject_name": "DR \x9b"}}, "claim subject_name holds"),
    ("sub-u2028", {"sub": "8100\u2028FORGED caller=admin"},
     "claim sub holds the character U+2028"),
    ("sub-zwsp", {"sub": "810000000001\u200b"}, "claim sub holds the character U+200B"),
    ("sub-bidi", {"sub": "8100\u202e1000"}, "claim sub holds the character U+202E"),
    ("organisation-nbsp", {"iua": {"subject_organization_id": "1750\u00a01"}},
     "claim subject_organization_id holds the character U+00A0"),
    ("role-code-surrogate", {"iua": {"subject_role": {
        "system": "urn:oid:1.2.250.1.71.1.2.7", "code": "1\udfff"}}},
     "claim ihe_iua.subject_role.code holds the character U+DFFF"),
]


def _token(issuer, patient, change) -> dict[str, str]:
    claims = _iua(issuer, patient, **change.get("iua", {}))
    claims.update({k: v for k, v in change.items() if k != "iua"})
    if "person_id" in change.get("iua", {}):
        claims["extensions"]["ihe_iua"]["person_id"] = change["iua"]["person_id"]
    token = jwt.encode(claims, issuer.key, "RS256", headers={"kid": issuer.kid})
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize("change, says", [c[1:] for c in IUA_REFUSED],
                         ids=[c[0] for c in IUA_REFUSED])
def test_a_token_claim_out_of_bounds_is_a_401_naming_it_on_every_transaction(
        secured, issuer, change, says):
    app, patient = secured
    headers = _token(issuer, patient, change)
    search = fhir(app, "GET", _SEARCH.format(patient_query(patient)), headers=headers)
    binary = fhir(app, "GET", "/Binary/1.2.250.1.999.7", headers=headers)
    entry = document(patient, f"urn:uuid:{uuid.uuid4()}", content=b"x",
                     mime_type="text/plain", repository_unique_id=None)
    provide = fhir(app, "POST", "", provide_bundle(
        submission_set(patient, f"urn:uuid:{uuid.uuid4()}"), [(entry, b"x")]), headers=headers)
    for answer in (search, binary, provide):
        assert answer.status == 401, (answer.status, answer.body[:300])
        assert says in answer.json["issue"][0]["diagnostics"], answer.json


def test_refused_tokens_cost_no_honest_callers_read_record(secured, issuer):
    """poison2.py / poisonvihf.py: reads by a caller with a hostile claim between honest
    reads; every honest read is in the trail."""
    app, patient = secured
    honest = issuer.header(patient, subject="810000000099")
    hostile = _token(issuer, patient, {"iua": {"subject_organization_id": "\udc00"}})
    for _ in range(3):
        assert fhir(app, "GET", _SEARCH.format(patient_query(patient)),
                    headers=hostile).status == 401
        assert fhir(app, "GET", _SEARCH.format(patient_query(patient)),
                    headers=honest).status == 200
    assert app.registry.queries.audit_writer.flush()
    with app.database.reading() as uow:
        reads = [e for e in audit_store.trail(uow, patient) if e.transaction == "ITI-67"]
    assert [e.subject_id for e in reads if e.outcome == "success"] == ["810000000099"] * 3
