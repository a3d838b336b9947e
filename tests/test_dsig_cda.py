"""A CDA's own signature (enveloped, the CI-SIS's signed document): verified and reported by
`xds-server validate` and in the ITI-41 audit, refusing nothing unless XDS_REQUIRE_CDA_SIGNATURE
asks; the CDA schema checks the document the signature signs."""

from __future__ import annotations

import copy

import pytest
from lxml import etree
from sqlalchemy import text

from xds_server.dsig.cda import CdaSignatureVerifier, sign_cda
from xds_server.dsig.produce import sign_submission
from xds_server.dsig.trust import TrustStore
from xds_server.model.content import Attachment

from .cda_data import CR_BIO, LEVEL1, TEST_INS
from .dsig_data import cda_submission
from .registry_data import open_patient
from .test_conformance import run_cli
from .test_repository import provide

DS = "{http://www.w3.org/2000/09/xmldsig#}"


@pytest.fixture(scope="module")
def signed_cda(authority):
    return sign_cda(CR_BIO.read_bytes(), authority.seal())


def check(authority, data: bytes, trusted: bool = True):
    trust = TrustStore.from_path(authority.trusted) if trusted else None
    return CdaSignatureVerifier(trust).check_bytes(data)


def reparsed(data: bytes, edit) -> bytes:
    root = etree.fromstring(data)
    edit(root)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def test_a_signed_cda_verifies_and_an_unsigned_one_is_unsigned(authority, signed_cda):
    result = check(authority, signed_cda)
    assert (result.status, result.trusted) == ("valid", True)
    assert "ORG-SIGN 1750099991" in result.signer
    assert check(authority, CR_BIO.read_bytes()).status == "unsigned"


def title_changed(root):
    root.find("{urn:hl7-org:v3}title").text = "Autre titre"


def second_signature(root):
    root.append(copy.deepcopy(root.find(f"{DS}Signature")))


def signature_moved_inside(root):
    signature = root.find(f"{DS}Signature")
    root.find("{urn:hl7-org:v3}component").append(signature)


def other_reference(root):
    root.find(f"{DS}Signature/{DS}SignedInfo/{DS}Reference").set("URI", "#CDA-Signature")


@pytest.mark.parametrize("edit, says", [
    (title_changed, "the document was altered after signing"),
    (second_signature, "the document holds 2 signatures"),
    (signature_moved_inside, "not a child of the ClinicalDocument"),
    (other_reference, "a Reference to '#CDA-Signature'"),
])
def test_an_altered_signed_cda_is_invalid_and_says_why(authority, signed_cda, edit, says):
    result = check(authority, reparsed(signed_cda, edit))
    assert result.status == "invalid" and says in result.reason


def test_an_impostor_seal_is_not_trusted(authority):
    result = check(authority, sign_cda(CR_BIO.read_bytes(), authority.seal("impostor")))
    assert result.status == "invalid" and "not an authority this server trusts" in result.reason


def test_validate_reports_the_signature_and_requires_it_only_when_asked(authority, signed_cda,
                                                                        tmp_path):
    signed, altered = tmp_path / "signed.xml", tmp_path / "altered.xml"
    signed.write_bytes(signed_cda)
    altered.write_bytes(reparsed(signed_cda, title_changed))
    env = {"XDS_ACCEPT_TEST_INS": "true", "XDS_DATA_DIR": str(tmp_path / "var"),
           "XDS_SIGNATURE_TRUSTED_CERTS": str(authority.trusted)}
    valid = run_cli("validate", str(signed), env=env)
    assert valid.returncode == 0, valid.stdout       # the schema checks it without the signature
    assert "signature valid, signed by 'CN=ORG-SIGN 1750099991" in valid.stdout
    reported = run_cli("validate", str(altered), env=env)
    assert "warning [signature]" in reported.stdout and "signature INVALID" in reported.stdout
    assert reported.returncode == 0, reported.stdout  # reported, not refused
    required = run_cli("validate", str(altered), str(CR_BIO),
                       env={**env, "XDS_REQUIRE_CDA_SIGNATURE": "true"})
    assert required.returncode == 1
    assert required.stdout.count("error [signature] XDS_REQUIRE_CDA_SIGNATURE") == 2
    untrusted = run_cli("validate", str(signed), env={**env, "XDS_SIGNATURE_TRUSTED_CERTS": ""})
    assert "signature intact" in untrusted.stdout and "the signer was not checked" in \
        untrusted.stdout


def submission_with(authority, cda: bytes, tmp_path):
    path = tmp_path / "signed-cda.xml"
    path.write_bytes(cda)
    submission, documents = cda_submission([path], TEST_INS)
    entry, content = sign_submission(submission, documents, authority.seal())
    documents[entry.entry_uuid] = Attachment.from_bytes(content)
    return submission, {key: value.read_bytes() for key, value in documents.items()}


@pytest.fixture
def cisis_app(make_app, authority):
    def make(**options):
        app = make_app(profile="cisis", accept_test_ins=True,
                       signature_trusted_certs=str(authority.trusted), **options)
        open_patient(app, TEST_INS)
        return app

    return make


def dsg_audit(app) -> list[tuple[str, str]]:
    app.repository.audit_writer.flush()
    with app.database.engine.connect() as connection:
        return [tuple(row) for row in connection.execute(text(
            "SELECT outcome, detail FROM audit_events WHERE \"transaction\" = 'DSG'"))]


def test_iti41_records_the_cdas_signature_and_refuses_nothing_by_default(
        cisis_app, authority, signed_cda, tmp_path):
    app = cisis_app()
    altered = reparsed(signed_cda, lambda root: root.find(
        "{urn:hl7-org:v3}setId").set("extension", "x"))
    submission, documents = submission_with(authority, altered, tmp_path)
    assert provide(app, submission, documents)[:2] == ("Success", [])
    [(outcome, detail)] = dsg_audit(app)
    assert outcome == "success" and "signature=valid" in detail
    assert f"cda_signature={submission.documents[0].unique_id} signature INVALID" in detail


def test_xds_require_cda_signature_refuses_an_unsigned_or_altered_cda(cisis_app, authority,
                                                                       signed_cda, tmp_path):
    app = cisis_app(require_cda_signature=True)
    submission, documents = submission_with(authority, LEVEL1.read_bytes(), tmp_path)
    status, codes, contexts = provide(app, submission, documents)
    assert status == "Failure" and codes == ["XDSRepositoryMetadataError"]
    assert "must carry a valid signature (XDS_REQUIRE_CDA_SIGNATURE): not signed" in contexts[0]
    submission, documents = submission_with(authority, signed_cda, tmp_path)
    assert provide(app, submission, documents)[:2] == ("Success", [])
