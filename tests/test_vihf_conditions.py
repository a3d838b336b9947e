"""SAML Conditions and SubjectConfirmationData (xds_server/security/vihf_conditions.py): each
assertion is genuinely signed by the trusted signer, so only what it says about when and for
whom it is valid makes it refused. The attacks are round 2's a1n_conditions.py (issue 13);
expectations are SAML 2.0 core §2.5 and §2.4.1.2, written from the specification."""

from __future__ import annotations

import copy
import datetime as dt

import pytest
from lxml import etree

from xds_server.security.vihf import SAML, VihfError, VihfVerifier
from xds_server.security.vihf_reading import RESOURCE_ID

from .conftest import REFERENCE
from .test_trust_attacks import refused
from .trust_data import READER
from .vihf_data import DS, SIGNER_DN, XSI, SigningAuthority, assertion, security_header

PATIENT = "279035121518989^^^&1.2.250.1.213.1.4.10&ISO^NH"
OURS = "https://xds.example/xds/registry"
OTHER = "https://other-service.example/api"


def _at(minutes: float) -> str:
    moment = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=minutes)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@pytest.fixture(scope="module")
def authority(tmp_path_factory) -> SigningAuthority:
    return SigningAuthority.create(tmp_path_factory.mktemp("conditions-ca"))


def _verifier(authority: SigningAuthority, *audiences: str) -> VihfVerifier:
    return VihfVerifier.from_path(authority.trusted, audiences=frozenset(audiences))


def _conditions(root: etree._Element, *children: etree._Element, **window: str):
    """A Conditions after Subject (the schema's place) holding `children`."""
    conditions = etree.Element(f"{{{SAML}}}Conditions", **window)
    conditions.extend(children)
    root.find(f"{{{SAML}}}Subject").addnext(conditions)
    return root


def _audience(*uris: str) -> etree._Element:
    restriction = etree.Element(f"{{{SAML}}}AudienceRestriction")
    for uri in uris:
        etree.SubElement(restriction, f"{{{SAML}}}Audience").text = uri
    return restriction


def _element(tag: str, **attributes: str) -> etree._Element:
    return etree.Element(tag, **attributes)


def _unknown_condition() -> etree._Element:
    condition = etree.Element(f"{{{SAML}}}Condition", nsmap={"x": "urn:evil"})
    condition.set(f"{{{XSI}}}type", "x:Evil")
    return condition


def _confirmation(root: etree._Element, **data: str) -> etree._Element:
    subject = root.find(f"{{{SAML}}}Subject")
    confirmation = etree.SubElement(subject, f"{{{SAML}}}SubjectConfirmation",
                                    Method="urn:oasis:names:tc:SAML:2.0:cm:bearer")
    etree.SubElement(confirmation, f"{{{SAML}}}SubjectConfirmationData", **data)
    return root


def _signed(authority: SigningAuthority, change) -> etree._Element:
    return security_header(authority.sign(change(assertion(PATIENT))))


# (case, the assertion's change, the audiences configured, what the refusal says)
REFUSED = [
    ("audience-of-another-service", lambda a: _conditions(a, _audience(OTHER)), (OURS,),
     "for another audience"),
    ("audience-urn-of-another-party", lambda a: _conditions(a, _audience("urn:other:rp")),
     (OURS,), "for another audience"),
    ("audience-when-none-is-configured", lambda a: _conditions(a, _audience(OURS)), (),
     "for another audience"),
    ("one-restriction-ours-another-not", lambda a: _conditions(a, _audience(OURS),
                                                               _audience(OTHER)),
     (OURS,), "for another audience"),
    ("empty-audience-restriction", lambda a: _conditions(a, _audience()), (OURS,),
     "for another audience"),
    ("unknown-condition-xsi-type", lambda a: _conditions(a, _unknown_condition()), (),
     "is not one this server knows"),
    ("condition-of-another-namespace", lambda a: _conditions(a, _element("{urn:x}Limit")), (),
     "is not one this server knows"),
    ("one-time-use", lambda a: _conditions(a, _element(f"{{{SAML}}}OneTimeUse")), (),
     "OneTimeUse is refused"),
    ("two-conditions", lambda a: _conditions(_conditions(a)), (),
     "more than one saml:Conditions"),
    ("not-on-or-after-passed", lambda a: _conditions(a, NotOnOrAfter=_at(-10)), (),
     "expired (Conditions NotOnOrAfter"),
    ("not-before-in-the-future", lambda a: _conditions(a, NotBefore=_at(10)), (),
     "not valid yet (Conditions NotBefore"),
    ("inverted-window-within-the-skew", lambda a: _conditions(
        a, NotBefore=_at(4), NotOnOrAfter=_at(-4)), (), "is not earlier than NotOnOrAfter"),
    ("not-on-or-after-not-a-date", lambda a: _conditions(a, NotOnOrAfter="tomorrow"), (),
     "is not an xs:dateTime"),
    ("confirmation-not-on-or-after-passed", lambda a: _confirmation(
        a, NotOnOrAfter=_at(-10)), (), "expired (SubjectConfirmationData NotOnOrAfter"),
    ("confirmation-not-before-in-the-future", lambda a: _confirmation(
        a, NotBefore=_at(10)), (), "not valid yet (SubjectConfirmationData NotBefore"),
    ("confirmation-inverted-window", lambda a: _confirmation(
        a, NotBefore=_at(3), NotOnOrAfter=_at(2)), (), "is not earlier than NotOnOrAfter"),
    ("confirmation-recipient-another-service", lambda a: _confirmation(
        a, Recipient=OTHER), (OURS,), "Recipient"),
    ("confirmation-recipient-when-none-is-configured", lambda a: _confirmation(
        a, Recipient=OURS), (), "Recipient"),
    ("confirmation-in-response-to-another-request", lambda a: _confirmation(
        a, InResponseTo="_req-42"), (), "InResponseTo"),
]

ACCEPTED = [
    ("no-conditions", lambda a: a, ()),
    ("audience-of-this-server", lambda a: _conditions(a, _audience(OTHER, OURS)), (OURS,)),
    ("proxy-restriction", lambda a: _conditions(
        a, _element(f"{{{SAML}}}ProxyRestriction", Count="0")), ()),
    ("window-around-now", lambda a: _conditions(a, NotBefore=_at(-1), NotOnOrAfter=_at(10)),
     ()),
    ("confirmation-for-this-server-in-its-window", lambda a: _confirmation(
        a, Recipient=OURS, NotOnOrAfter=_at(5)), (OURS,)),
]


@pytest.mark.parametrize("change, audiences, says", [c[1:] for c in REFUSED],
                         ids=[c[0] for c in REFUSED])
def test_an_assertion_not_for_this_server_or_not_for_now_is_refused(authority, change,
                                                                    audiences, says):
    """a1n_conditions.py: each of its BROKEN cases, and their neighbours."""
    with pytest.raises(VihfError) as caught:
        _verifier(authority, *audiences).principal(_signed(authority, change))
    assert says in str(caught.value), str(caught.value)


@pytest.mark.parametrize("change, audiences", [c[1:] for c in ACCEPTED],
                         ids=[c[0] for c in ACCEPTED])
def test_conditions_this_server_meets_are_accepted(authority, change, audiences):
    principal = _verifier(authority, *audiences).principal(_signed(authority, change))
    assert principal.patient_id == PATIENT


def test_one_time_use_is_refused_the_first_time_too(authority):
    """a1n_conditions.py 'OneTimeUse sent twice': refused on the first use already, so no
    worker's cache can serve it a second time."""
    verifier = _verifier(authority)
    header = _signed(authority, lambda a: _conditions(a, _element(f"{{{SAML}}}OneTimeUse")))
    for _ in range(2):
        with pytest.raises(VihfError, match="cannot guarantee a single use"):
            verifier.principal(copy.deepcopy(header))


def test_a_kept_assertion_expires_at_its_earliest_not_on_or_after(authority):
    """The cache keeps the earliest end of Conditions and SubjectConfirmationData."""
    moment = [dt.datetime.now(dt.UTC)]
    verifier = VihfVerifier.from_path(authority.trusted, now=lambda: moment[0])
    header = _signed(authority, lambda a: _confirmation(_conditions(
        a, NotOnOrAfter=_at(30)), NotOnOrAfter=_at(10)))
    verifier.principal(header)
    moment[0] += dt.timedelta(minutes=16)            # past 10 min + the 5 min skew
    with pytest.raises(VihfError, match="expired"):
        verifier.principal(header)


def test_the_dmp_reference_vihf_is_accepted_with_the_default_settings(authority):
    """../shared/reference's VIHF (an automate's, as the DMP's clients send it) carries no
    Conditions and no SubjectConfirmation: re-signed by the test authority, it is accepted
    with XDS_VIHF_AUDIENCE empty."""
    header = etree.parse(str(REFERENCE / "security" / "VIHF_example_automate_DMP.xml")
                         ).getroot()
    root = header.find(f"{{{SAML}}}Assertion")
    root.remove(root.find(f"{{{DS}}}Signature"))
    root.set("IssueInstant", _at(0))
    root.find(f"{{{SAML}}}Issuer").text = SIGNER_DN
    for attribute in root.iter(f"{{{SAML}}}Attribute"):
        if attribute.get("Name") == RESOURCE_ID:
            attribute.find(f"{{{SAML}}}AttributeValue").text = PATIENT
    principal = _verifier(authority).principal(security_header(authority.sign(root)))
    assert principal.role == "professional" and principal.subject_id == "XXXXX/XXXXXX"
    assert principal.attributes["profession"] == "AUTOMATE^1.2.250.1.213.1.1.4.6"


@pytest.mark.http
def test_an_assertion_for_another_audience_is_refused_over_http(trust_server):
    """a1n_conditions.py against a running server (XDS_VIHF_AUDIENCE empty)."""
    signed = trust_server.authority.sign(_conditions(
        assertion(trust_server.patient_a, subject=READER, speciality=None),
        _audience(OTHER)))
    reply = trust_server.query("FindDocuments", {
        "$XDSDocumentEntryPatientId": trust_server.patient_a,
        "$XDSDocumentEntryStatus": ["urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"]},
        security_header(signed))
    assert refused(reply) and "another audience" in reply.fault.reason, reply.fault
