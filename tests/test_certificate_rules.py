"""The one certificate rule table (xds_server/security/certificate_rules.py), held by both the
VIHF verifier and the seal of signed submission sets: each case below is mounted on both paths
and refused by the same rule, named with the certificate. The attacks are round 2's of issue 13
(/work/attack2/attacks: a1n_signers.py, a1_signer_certs.py on the VIHF, a8n_dsg.py on the
seal): certificates a trusted authority issued but too weak, or not meant, to sign."""

from __future__ import annotations

import pytest

from xds_server.dsig.produce import sign_submission
from xds_server.dsig.seal import Seal
from xds_server.dsig.trust import TrustStore
from xds_server.dsig.verify import SubmissionSignatureVerifier
from xds_server.model.content import Attachment
from xds_server.security.vihf import VihfError, VihfVerifier

from .cda_data import CR_BIO, TEST_INS
from .dsig_data import cda_submission
from .test_trust_attacks import refused
from .trust_data import READER
from .vihf_data import SigningAuthority, assertion, security_header

CA_DN = "C=FR, O=Test IGC-Sante, CN=Test CA"

# case → (how the trusted CA issues it, the rule that refuses it); written from the attack
# scripts, not from the code
REFUSED = {
    "rsa-1024": ({"key": "rsa:1024"}, "rsa-2048"),
    "rsa-768": ({"key": "rsa:768"}, "rsa-2048"),
    "rsa-512": ({"key": "rsa:512"}, "rsa-2048"),
    "ec-p192": ({"key": "ec:prime192v1"}, "ec-curve"),
    "ec-secp256k1": ({"key": "ec:secp256k1"}, "ec-curve"),
    "certificate-signed-with-sha1": ({"digest": "sha1"}, "certificate-hash"),
    "certificate-signed-with-md5": ({"digest": "md5"}, "certificate-hash"),
    "ca-true": ({"extensions": "basicConstraints=critical,CA:TRUE,pathlen:0"}, "not-a-ca"),
    "key-cert-sign-only": ({"extensions": "keyUsage=critical,keyCertSign"}, "key-usage"),
    "tls-client-only": ({"extensions": "keyUsage=critical,keyEncipherment\n"
                                       "extendedKeyUsage=clientAuth"}, "key-usage"),
    "server-auth-eku": ({"extensions": "extendedKeyUsage=serverAuth"}, "extended-key-usage"),
    "tls-eku-with-signing-key-usage": ({"extensions": "keyUsage=digitalSignature\n"
                                                      "extendedKeyUsage=serverAuth,clientAuth"},
                                       "extended-key-usage"),
    "code-signing-eku": ({"extensions": "extendedKeyUsage=codeSigning"}, "extended-key-usage"),
}
# the controls: certificates fit to sign, accepted on both paths
ACCEPTED = {
    "rsa-2048": {},
    "rsa-3072": {"key": "rsa:3072"},
    "ec-p256": {"key": "ec:prime256v1"},
    "ec-p384": {"key": "ec:secp384r1"},
    "non-repudiation-only": {"extensions": "keyUsage=critical,nonRepudiation"},
    "signing-key-usage-ca-false": {"extensions": "basicConstraints=critical,CA:FALSE\n"
                                                 "keyUsage=critical,digitalSignature,"
                                                 "nonRepudiation"},
    "eku-with-email-protection": {"extensions": "extendedKeyUsage=clientAuth,emailProtection"},
    "eku-of-the-authority": {"extensions": "extendedKeyUsage=1.2.250.1.71.99.1"},
}


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> SigningAuthority:
    authority = SigningAuthority.create(tmp_path_factory.mktemp("rules-ca"))
    for name, options in ({name: opts for name, (opts, _) in REFUSED.items()}
                          | ACCEPTED).items():
        authority.issue(name, **options)
    return authority


def _vihf(pki: SigningAuthority, signer: str, accept_sha1: bool = False, **options):
    verifier = VihfVerifier.from_path(pki.trusted, accept_sha1=accept_sha1)
    return verifier.principal(security_header(pki.sign(assertion(TEST_INS, **options),
                                                       signer=signer)))


def _seal_errors(pki: SigningAuthority, signer: str, accept_sha1: bool = False) -> list[str]:
    submission, documents = cda_submission([CR_BIO], TEST_INS)
    seal = Seal.from_files(pki.directory / f"{signer}.key", pki.directory / f"{signer}.pem")
    entry, content = sign_submission(submission, documents, seal)
    documents[entry.entry_uuid] = Attachment.from_bytes(content, "text/xml")
    verifier = SubmissionSignatureVerifier(TrustStore.from_path(pki.trusted),
                                           accept_sha1=accept_sha1)
    return [f"{e.location}: {e.context}" for e in verifier.verify(submission, documents).errors]


@pytest.mark.parametrize("case", REFUSED)
def test_a_vihf_signer_too_weak_or_unfit_to_sign_is_refused_by_its_rule(pki, case):
    """a1n_signers.py, a1_signer_certs.py: the VIHF verified, then refused by the rule."""
    with pytest.raises(VihfError) as caught:
        _vihf(pki, case)
    said = str(caught.value)
    assert f"(rule {REFUSED[case][1]})" in said and "CN=DMP SIGN" in said, said


@pytest.mark.parametrize("case", REFUSED)
def test_a_seal_too_weak_or_unfit_to_sign_is_refused_by_the_same_rule(pki, case):
    """a8n_dsg.py: a submission set sealed with the same certificates is refused by the same
    rule, named in the error beside the certificate."""
    errors = _seal_errors(pki, case)
    assert any(f"(rule {REFUSED[case][1]})" in e and "CN=DMP SIGN" in e for e in errors), errors


@pytest.mark.parametrize("case", ACCEPTED)
def test_a_certificate_fit_to_sign_is_accepted_on_both_paths(pki, case):
    """The controls: the rules refuse what they name, not every certificate with an
    extension."""
    assert _vihf(pki, case).subject_id == "810101234567"
    assert _seal_errors(pki, case) == []


def test_a_certificate_signed_with_sha1_only_with_the_sha1_setting(pki):
    """XDS_VIHF_ACCEPT_SHA1 / XDS_SIGNATURE_ACCEPT_SHA1 (older DMP clients' PKI); MD5 never."""
    sha1 = "certificate-signed-with-sha1"
    assert _vihf(pki, sha1, accept_sha1=True).subject_id == "810101234567"
    assert _seal_errors(pki, sha1, accept_sha1=True) == []
    with pytest.raises(VihfError, match="rule certificate-hash"):
        _vihf(pki, "certificate-signed-with-md5", accept_sha1=True)
    assert any("rule certificate-hash" in e
               for e in _seal_errors(pki, "certificate-signed-with-md5", accept_sha1=True))


def test_the_authority_own_key_cannot_sign(pki):
    """a1n_signers.py 'the trusted CA's own key and cert': the anchor itself as signer."""
    with pytest.raises(VihfError, match=r"CN=Test CA.*rule not-a-ca"):
        _vihf(pki, "ca", issuer=CA_DN)
    assert any("rule not-a-ca" in e for e in _seal_errors(pki, "ca"))


@pytest.mark.http
def test_a_weak_vihf_signer_is_refused_over_http(trust_server):
    """a1n_signers.py against a running server: a FailedAuthentication that names the rule;
    the same caller with a fit certificate is answered."""
    authority = trust_server.authority
    name = authority.issue("http-rsa-1024", key="rsa:1024")
    weak = security_header(authority.sign(assertion(trust_server.patient_a, subject=READER,
                                                    speciality=None), signer=name))
    reply = trust_server.query("FindDocuments", _find(trust_server.patient_a), weak)
    assert refused(reply) and "rule rsa-2048" in reply.fault.reason, reply.fault
    fit = trust_server.vihf(trust_server.patient_a, READER)
    assert trust_server.query("FindDocuments", _find(trust_server.patient_a), fit).status == 200


def _find(patient: str) -> dict:
    return {"$XDSDocumentEntryPatientId": patient,
            "$XDSDocumentEntryStatus": ["urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"]}
