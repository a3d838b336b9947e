"""What a verified VIHF leaves behind: every value read is bounded (vihf_reading rule 9), the
verified-assertion cache is bounded in entries and bytes, and it knows an assertion by its
exact bytes, so an altered copy of a kept one is verified in full (vihf.py). The attacks are
round 2's a6n_vihf_cache.py (signed VIHFs with 5 MB NameIDs, kept and audited) and
a1n_cache_equivalent.py (altered copies accepted once the genuine one was kept)."""

from __future__ import annotations

import copy

import pytest
from lxml import etree

from xds_server.security.identity_text import IDENTIFIER_MAX
from xds_server.security.vihf import HL7, SAML, VihfError, VihfVerifier
from xds_server.security.vihf_reading import (
    MAX_ROLES,
    MAX_VALUE_CHARS,
    RESOURCE_ID,
    ROLE,
    SUBJECT_NAME,
)

from .test_trust_attacks import refused
from .trust_data import READER, STRANGER
from .vihf_data import DS, PROFESSION, SigningAuthority, assertion, security_header

PATIENT = "279035121518989^^^&1.2.250.1.213.1.4.10&ISO^NH"
LONG = "N" * (MAX_VALUE_CHARS + 1)


@pytest.fixture(scope="module")
def authority(tmp_path_factory) -> SigningAuthority:
    return SigningAuthority.create(tmp_path_factory.mktemp("cache-ca"))


@pytest.fixture
def verifier(authority) -> VihfVerifier:
    return VihfVerifier.from_path(authority.trusted)


def _value(root: etree._Element, name: str) -> etree._Element:
    return next(a for a in root.iter(f"{{{SAML}}}Attribute") if a.get("Name") == name
                ).find(f"{{{SAML}}}AttributeValue")


def _set_text(name: str, text: str):
    def change(root: etree._Element) -> etree._Element:
        _value(root, name).text = text
        return root
    return change


def _set_code(attribute: str, field: str, text: str):
    def change(root: etree._Element) -> etree._Element:
        _value(root, attribute)[0].set(field, text)
        return root
    return change


def _many_roles(root: etree._Element) -> etree._Element:
    holder = next(a for a in root.iter(f"{{{SAML}}}Attribute") if a.get("Name") == ROLE)
    for _ in range(MAX_ROLES):
        etree.SubElement(etree.SubElement(holder, f"{{{SAML}}}AttributeValue"),
                         f"{{{HL7}}}Role", code="SM26", codeSystem="1.2.250.1.71.4.2.5")
    return root


# (case, change, what the refusal names): each value the principal is read from, too long
OVERSIZED = [
    ("name-id", lambda a: _name_id(a, LONG), "Subject/NameID is 257 characters long"),
    ("resource-id", _set_text(RESOURCE_ID, "1" * 300 + "^^^&1.2.250.1.213.1.4.10&ISO^NH"),
     f"the attribute {RESOURCE_ID} is 331 characters long"),
    ("structure", _set_text("Identifiant_Structure", LONG),
     "the attribute Identifiant_Structure is 257"),
    ("authentication-mode", _set_text("Authentification_Mode", LONG),
     "the attribute Authentification_Mode is 257"),
    ("vihf-version", _set_text("VIHF_Version", LONG), "the attribute VIHF_Version is 257"),
    ("sector", _set_text("Secteur_Activite", LONG), "the attribute Secteur_Activite is 257"),
    ("subject-name", _set_text(SUBJECT_NAME, LONG), f"the attribute {SUBJECT_NAME} is 257"),
    ("role-code", _set_code(ROLE, "code", LONG), "hl7:Role code is 257 characters long"),
    ("role-code-system", _set_code(ROLE, "codeSystem", LONG),
     "hl7:Role codeSystem is 257 characters long"),
    ("too-many-roles", _many_roles, f"holds {MAX_ROLES + 2} values; at most {MAX_ROLES}"),
    ("assertion-id", lambda a: (a.set("ID", "_" + "x" * 300), a)[1],
     "the assertion ID is 301 characters long"),
]


def _name_id(root: etree._Element, text: str) -> etree._Element:
    root.find(f"{{{SAML}}}Subject/{{{SAML}}}NameID").text = text
    return root


@pytest.mark.parametrize("change, says", [c[1:] for c in OVERSIZED],
                         ids=[c[0] for c in OVERSIZED])
def test_a_value_longer_than_an_identifier_is_refused_and_not_kept(authority, verifier,
                                                                   change, says):
    """a6n_vihf_cache.py: the signed, oversized value is refused with its name and length,
    and nothing of it is kept."""
    with pytest.raises(VihfError, match=None) as caught:
        verifier.principal(security_header(authority.sign(change(assertion(PATIENT)))))
    assert says in str(caught.value), str(caught.value)
    assert len(verifier._verified) == 0 and verifier._cached_bytes == 0


def test_the_attack_shape_a_5_mb_name_id_is_refused(authority, verifier):
    with pytest.raises(VihfError, match="5000006 characters long; at most 64"):
        verifier.principal(security_header(authority.sign(
            assertion(PATIENT, subject="000001" + "N" * 5_000_000))))


def test_a_refusal_does_not_echo_a_huge_value(authority, verifier):
    """A 100,000-character algorithm URI (refused before any signature work) comes back cut,
    not whole, in the reason the fault and the log carry."""
    signed = authority.sign(assertion(PATIENT))
    next(signed.iter(f"{{{DS}}}SignatureMethod")).set("Algorithm", "urn:" + "x" * 100_000)
    with pytest.raises(VihfError, match="is not accepted") as caught:
        verifier.principal(security_header(signed))
    assert len(str(caught.value)) < 1100 and "characters cut" in str(caught.value)


def test_values_at_the_bound_are_accepted(authority, verifier):
    """The control: 256 characters (64 for the NameID, the audit trail's width), 16 roles."""
    root = _set_text(SUBJECT_NAME, "N" * MAX_VALUE_CHARS)(
        _name_id(assertion(PATIENT, speciality=None), "1" * IDENTIFIER_MAX))
    holder = next(a for a in root.iter(f"{{{SAML}}}Attribute") if a.get("Name") == ROLE)
    for _ in range(MAX_ROLES - 1):
        etree.SubElement(etree.SubElement(holder, f"{{{SAML}}}AttributeValue"),
                         f"{{{HL7}}}Role", code="SM26", codeSystem="1.2.250.1.71.4.2.5")
    principal = verifier.principal(security_header(authority.sign(root)))
    assert principal.subject_id == "1" * IDENTIFIER_MAX
    assert principal.attributes["name"] == "N" * MAX_VALUE_CHARS
    assert principal.attributes["profession"] == f"10^{PROFESSION}"


def test_the_cache_is_bounded_in_bytes_and_entries(authority):
    """Many verified assertions with values at the bound: the kept bytes stay under
    `cache_bytes`, the oldest forgotten (and verified again when they come back)."""
    verifier = VihfVerifier.from_path(authority.trusted, cache_bytes=5_000, cache_size=5)
    headers = [security_header(authority.sign(_set_text(SUBJECT_NAME, "9" * MAX_VALUE_CHARS)(
        assertion(PATIENT, subject=f"{n:03d}" + "9" * (IDENTIFIER_MAX - 3))))) for n in range(8)]
    for header in headers:
        verifier.principal(header)
        assert verifier._cached_bytes <= 5_000 and len(verifier._verified) <= 5
    assert 0 < len(verifier._verified) < 5                 # the byte bound bit first
    assert verifier._cached_bytes == sum(v.size for v in verifier._verified.values())
    assert verifier.principal(headers[0]).subject_id.startswith("000")


def _xml_base(root: etree._Element) -> etree._Element:
    root.set("{http://www.w3.org/XML/1998/namespace}base", "http://evil/")
    return root


def _expired_conditions(root: etree._Element) -> etree._Element:
    root.find(f"{{{SAML}}}Subject").addnext(etree.Element(
        f"{{{SAML}}}Conditions", NotOnOrAfter="2000-01-01T00:00:00Z"))
    return root


def _other_issuer(root: etree._Element) -> etree._Element:
    root.find(f"{{{SAML}}}Issuer").text = "CN=Someone Else, O=Elsewhere, C=FR"
    return root


def _unread_attribute(root: etree._Element) -> etree._Element:
    statement = root.find(f"{{{SAML}}}AttributeStatement")
    etree.SubElement(etree.SubElement(statement, f"{{{SAML}}}Attribute", Name="LPS_Nom"),
                     f"{{{SAML}}}AttributeValue").text = "planted"
    return root


def _name_id_format(root: etree._Element) -> etree._Element:
    root.find(f"{{{SAML}}}Subject/{{{SAML}}}NameID").set("Format", "urn:evil")
    return root


# a1n_cache_equivalent.py's copies, and others of the class: changed where the principal is
# not read, so a cache that compares readings would take them for the genuine one
ALTERED = [("xml-base-added", _xml_base), ("expired-conditions-added", _expired_conditions),
           ("issuer-changed", _other_issuer), ("unread-attribute-added", _unread_attribute),
           ("name-id-format-added", _name_id_format)]


@pytest.mark.parametrize("alter", [a[1] for a in ALTERED], ids=[a[0] for a in ALTERED])
def test_an_altered_copy_is_refused_before_and_after_the_genuine_is_kept(authority, alter):
    """Sent first, then after the genuine one on the same verifier: refused both times, and
    the genuine one is still accepted."""
    genuine = authority.sign(assertion(PATIENT))
    with pytest.raises(VihfError):
        VihfVerifier.from_path(authority.trusted).principal(
            security_header(alter(copy.deepcopy(genuine))))
    verifier = VihfVerifier.from_path(authority.trusted)
    kept = verifier.principal(security_header(copy.deepcopy(genuine)))
    assert verifier.principal(security_header(copy.deepcopy(genuine))) is kept    # a cache hit
    for _ in range(3):
        with pytest.raises(VihfError):
            verifier.principal(security_header(alter(copy.deepcopy(genuine))))
    assert verifier.principal(security_header(copy.deepcopy(genuine))) is kept


def _find(patient: str) -> dict:
    return {"$XDSDocumentEntryPatientId": patient,
            "$XDSDocumentEntryStatus": ["urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"]}


@pytest.mark.http
def test_an_altered_copy_is_refused_over_http_after_the_genuine_is_kept(trust_server):
    """a1n_cache_equivalent.py against a running server: the genuine sent three times (kept
    by the workers it reached), then each altered copy six times."""
    header = trust_server.vihf(trust_server.patient_a, STRANGER)
    for _ in range(3):
        assert trust_server.query("FindDocuments", _find(trust_server.patient_a),
                                  header).status == 200
    for _, alter in ALTERED:
        altered = copy.deepcopy(header)
        alter(altered[0])
        for _ in range(6):
            assert refused(trust_server.query("FindDocuments", _find(trust_server.patient_a),
                                              altered))


@pytest.mark.http
def test_a_huge_name_id_is_refused_over_http(trust_server):
    """a6n_vihf_cache.py against a running server: a 1 MB NameID, signed, is a precise
    FailedAuthentication."""
    header = trust_server.vihf(trust_server.patient_a, READER + "N" * 1_000_000)
    reply = trust_server.query("FindDocuments", _find(trust_server.patient_a), header)
    assert refused(reply) and "1000012 characters long; at most 64" in reply.fault.reason
