"""VIHF verification: a signed assertion from a trusted authority becomes a Principal; every
way of getting it wrong is refused with its reason."""

from __future__ import annotations

import copy
import datetime as dt

import pytest
from lxml import etree

from xds_server.security.vihf import SAML, VihfError, VihfVerifier
from xds_server.security.x509 import parse_dn

from .vihf_data import (
    DS,
    NON_PROFESSIONAL,
    SIGNER_DN,
    WSSE,
    SigningAuthority,
    assertion,
    security_header,
)

PATIENT = "279035121518989^^^&1.2.250.1.213.1.4.10&ISO^NH"


@pytest.fixture(scope="session")
def authority(tmp_path_factory) -> SigningAuthority:
    return SigningAuthority.create(tmp_path_factory.mktemp("vihf-ca"))


@pytest.fixture
def verifier(authority) -> VihfVerifier:
    return VihfVerifier.from_path(authority.trusted)


def test_a_signed_assertion_gives_the_principal(authority, verifier):
    principal = verifier.principal(security_header(authority.sign(assertion(PATIENT))))
    assert principal.subject_id == "810101234567" and principal.role == "professional"
    assert principal.patient_id == PATIENT and principal.structure_id == "1750099991"
    assert principal.purpose_of_use == "normal"
    assert principal.attributes["specialities"] == "SM26^1.2.250.1.71.4.2.5"


@pytest.mark.parametrize("role, kind", [
    (("PATIENT", NON_PROFESSIONAL), "patient"),
    (("REPRESENTANT_LEGAL", NON_PROFESSIONAL), "legal_representative"),
    (("60", "1.2.250.1.71.1.2.7"), "professional"),
])
def test_role_kinds(authority, verifier, role, kind):
    signed = authority.sign(assertion(PATIENT, role=role, speciality=None))
    assert verifier.principal(security_header(signed)).role == kind


def _tamper(signed: etree._Element) -> etree._Element:
    value = next(a for a in signed.iter(f"{{{SAML}}}AttributeValue")
                 if (a.text or "").startswith("279035121518989"))
    value.text = "1850675123456^^^&1.2.250.1.213.1.4.10&ISO^NH"
    return signed


def _wrapped(signed: etree._Element) -> etree._Element:
    """The signed assertion moved aside, an unsigned copy with another patient in its place."""
    header = security_header(signed)
    forged = _tamper(copy.deepcopy(signed))
    header.insert(0, forged)
    return header


@pytest.mark.parametrize("make, says", [
    (lambda a: None, "no wsse:Security header"),
    (lambda a: security_header(assertion(PATIENT)), "not signed"),
    (lambda a: security_header(_tamper(a.sign(assertion(PATIENT)))), "does not verify"),
    (lambda a: security_header(a.sign(assertion(PATIENT), impostor=True)), "does not verify"),
    (lambda a: security_header(a.sign(assertion(PATIENT, issuer="C=FR, CN=Autre"))),
     "is not the subject of the signing certificate"),
    (lambda a: security_header(a.sign(assertion(
        PATIENT, issued=dt.datetime.now(dt.UTC) - dt.timedelta(hours=3)))), "expired"),
    (lambda a: security_header(a.sign(assertion(
        PATIENT, issued=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)))), "in the future"),
    (lambda a: security_header(a.sign(assertion(PATIENT, purpose="pourquoi_pas"))),
     "purposeofuse must be one of"),
    (lambda a: security_header(a.sign(assertion(PATIENT, omit=("Identifiant_Structure",)))),
     "lacks the attribute(s) Identifiant_Structure"),
    (lambda a: security_header(a.sign(assertion(PATIENT, role=("X", "1.2.3")))),
     "not a role this server knows"),
    (lambda a: _wrapped(a.sign(assertion(PATIENT))), "one saml:Assertion"),
])
def test_bad_assertions_are_refused_with_the_reason(authority, verifier, make, says):
    with pytest.raises(VihfError, match=None) as caught:
        verifier.principal(make(authority))
    assert says in str(caught.value)


def test_a_duplicated_id_is_signature_wrapping(authority, verifier):
    signed = authority.sign(assertion(PATIENT))
    header = security_header(signed)
    decoy = etree.SubElement(header, "{urn:example}Decoy", ID=signed.get("ID"))
    assert decoy is not None
    with pytest.raises(VihfError, match="appears more than once"):
        verifier.principal(header)


def test_distinguished_names_compare_whatever_the_spacing():
    assert parse_dn("C=FR,ST=Paris (75),O=Hopital Exemple,CN=DMP SIGN") == parse_dn(SIGNER_DN)


def test_a_verified_assertion_is_remembered_but_still_expires(authority):
    moment = [dt.datetime.now(dt.UTC)]
    verifier = VihfVerifier.from_path(authority.trusted, now=lambda: moment[0])
    header = security_header(authority.sign(assertion(PATIENT)))
    first = verifier.principal(header)
    assert verifier.principal(copy.deepcopy(header)) == first      # the same bytes: cached
    moment[0] += dt.timedelta(hours=2)
    with pytest.raises(VihfError, match="expired"):
        verifier.principal(header)


def test_an_assertion_altered_under_a_verified_signature_is_refused(authority, verifier):
    """The cache knows a verified assertion by its exact bytes: an altered copy (another
    patient under the same signature) is verified in full and refused, whether the genuine one
    was seen before or not."""
    signed = authority.sign(assertion(PATIENT))
    with pytest.raises(VihfError, match="does not verify"):
        VihfVerifier.from_path(authority.trusted).principal(
            security_header(_tamper(copy.deepcopy(signed))))
    genuine = verifier.principal(security_header(signed))
    assert genuine.patient_id == PATIENT
    with pytest.raises(VihfError, match="does not verify"):
        verifier.principal(security_header(_tamper(copy.deepcopy(signed))))
    assert verifier.principal(security_header(signed)) == genuine


def test_a_signer_verified_once_is_trusted_by_its_exact_certificate_only(authority, verifier):
    """The chain of a signing certificate is verified once, then its key verifies the next
    assertions it signs; an impostor with the same subject (other bytes, other key) is still
    checked against the trusted authorities, and refused."""
    assert verifier.principal(security_header(authority.sign(assertion(PATIENT)))).patient_id
    assert len(verifier._signers) == 1
    for _ in range(3):                                  # new assertions, the kept key
        verifier.principal(security_header(authority.sign(assertion(PATIENT))))
    with pytest.raises(VihfError, match="does not verify"):
        verifier.principal(security_header(authority.sign(assertion(PATIENT), impostor=True)))


def test_a_kept_signer_expires_with_its_certificate(authority):
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=3)     # the test certificate: 2 days
    verifier = VihfVerifier.from_path(authority.trusted)
    verifier.principal(security_header(authority.sign(assertion(PATIENT))))
    verifier.now = lambda: later
    with pytest.raises(VihfError, match="not valid now"):
        verifier.principal(security_header(authority.sign(assertion(PATIENT, issued=later))))


def _forged(signed: etree._Element, new_id: bool = False) -> etree._Element:
    forged = _tamper(copy.deepcopy(signed))
    if new_id:
        forged.set("ID", "_evil")
    return forged


def _signature(element: etree._Element) -> etree._Element:
    return next(child for child in element if child.tag == f"{{{DS}}}Signature")


def _xsw(shape: int, signed: etree._Element) -> etree._Element:
    """Signature wrapping shapes (Somorovsky et al., XSW1-8) in a WS-Security header: the
    genuine signed assertion is kept somewhere, a forged one (another patient) is offered."""
    header = etree.Element(f"{{{WSSE}}}Security", nsmap={"wsse": WSSE})
    if shape == 1:      # the genuine one inside the forged one's signature (ds:Object)
        forged = _forged(signed)
        etree.SubElement(_signature(forged), f"{{{DS}}}Object").append(signed)
        header.append(forged)
    elif shape == 2:    # the genuine one beside the forged one
        header.extend([_forged(signed), signed])
    elif shape == 3:    # the forged one, same ID, before the genuine one
        header.extend([_forged(signed), signed])
        header.insert(0, header[1])
    elif shape == 4:    # the genuine one inside the forged one
        forged = _forged(signed, new_id=True)
        forged.append(signed)
        header.append(forged)
    elif shape == 5:    # the forged one carries the genuine signature; the genuine one elsewhere
        forged = _forged(signed)
        holder = etree.SubElement(header, "{urn:example}Elsewhere")
        holder.append(signed)
        header.insert(0, forged)
    elif shape == 6:    # the genuine one inside the forged one's Object, forged keeps signature
        forged = _forged(signed, new_id=True)
        etree.SubElement(_signature(forged), f"{{{DS}}}Object").append(signed)
        header.append(forged)
    elif shape == 7:    # the genuine one in an extension element of the forged one
        forged = _forged(signed)
        etree.SubElement(forged, f"{{{SAML}}}Advice").append(signed)
        header.append(forged)
    else:               # the genuine one inside an Object of the forged one, forged's ID new
        forged = _forged(signed, new_id=True)
        obj = etree.SubElement(_signature(forged), f"{{{DS}}}Object")
        obj.append(copy.deepcopy(signed))
        header.append(forged)
    return header


@pytest.mark.parametrize("shape", range(1, 9))
def test_signature_wrapping_shapes_are_refused(authority, verifier, shape):
    signed = authority.sign(assertion(PATIENT))
    verifier.principal(security_header(copy.deepcopy(signed)))   # known: cached by signature
    with pytest.raises(VihfError):
        VihfVerifier.from_path(authority.trusted).principal(_xsw(shape, copy.deepcopy(signed)))
    with pytest.raises(VihfError):
        verifier.principal(_xsw(shape, copy.deepcopy(signed)))
