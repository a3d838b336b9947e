"""The `cisis` profile on ITI-41: metadata derived from the CDA header by the consumer is
accepted; French metadata rules and CDA ⇄ DocumentEntry consistency refuse the rest, naming
both values, and leave nothing behind."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from xds_server.cda.kit import install_kit
from xds_server.consumer.sources import SourceOptions, submission_for_files
from xds_server.model.metadata import Author, Code
from xds_server.validation.profiles import profile_for

from .cda_data import ANS_KIT, CR_BIO, LEVEL1, TEST_INS, mutate, remove_attribute, set_text
from .registry_data import open_patient
from .test_repository import held_files, provide, retrieve


@pytest.fixture
def app(make_app, tmp_path):
    install_kit(ANS_KIT, tmp_path / "var" / "kit")
    # about the CDA checks: the signed submission set is tests/test_dsig_*.py's business
    application = make_app(profile="cisis", accept_test_ins=True,
                           require_submission_signature=False)
    open_patient(application, TEST_INS)
    return application


def cda_submission(path: Path, data: bytes | None = None, **changes):
    submission, _files = submission_for_files([path], TEST_INS, SourceOptions())
    entry = submission.documents[0]
    for name, value in changes.items():
        setattr(entry, name, value)
    return submission, {"Document01": data if data is not None else path.read_bytes()}


def submit(app, path: Path, data: bytes | None = None, **changes):
    submission, documents = cda_submission(path, data, **changes)
    return provide(app, submission, documents)


@pytest.mark.parametrize("path", [LEVEL1, CR_BIO], ids=["level1-pdf", "cr-bio"])
def test_a_valid_cda_submits_with_only_the_patient_and_is_retrievable(app, path):
    submission, documents = cda_submission(path)
    entry = submission.documents[0]
    assert entry.patient_id == TEST_INS and entry.legal_authenticator and entry.title
    assert provide(app, submission, documents) == ("Success", [], [])
    got = retrieve(app, [(app.settings.repository_unique_id, entry.unique_id)])
    assert got.status == "Success" and got.documents[0].data == path.read_bytes()


def test_the_consumer_derives_the_metadata_from_the_header():
    submission, _ = cda_submission(LEVEL1)
    entry = submission.documents[0]
    assert entry.unique_id == "1.3.6.1.4.1.19376.1.2.20.12345.1.1"
    assert entry.type_code == Code("11502-2", "2.16.840.1.113883.6.1", "CR d'examens biologiques")
    assert entry.class_code == Code("10", "1.2.250.1.213.1.1.4.1")
    assert entry.format_code == Code("urn:ihe:iti:xds-sd:pdf:2008", "1.3.6.1.4.1.19376.1.2.3")
    assert entry.creation_time == "20210401124745"  # +0100 → UTC
    assert entry.service_start_time == "20210104124700"
    assert entry.healthcare_facility_type_code.code == "SA07"
    assert entry.legal_authenticator.startswith("807505123456^Camparini^Marcel^^^^^^"
                                                "&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS")
    assert entry.authors[0].specialties == ["G15_10/SM03^Médecin - Biologie médicale (SM)"
                                            "^1.2.250.1.213.1.1.4.5"]
    assert entry.authors[0].institutions == [
        "Laboratoire des charmes^^^^^&1.2.250.1.71.4.2.2&ISO^IDNST^^^1120459876"]


@pytest.mark.parametrize("changes, code, says", [
    ({"title": "Autre titre"}, "XDSRepositoryMetadataError",
     "title 'Autre titre' but the document's title is 'Compte rendu d'examens biologiques'"),
    ({"creation_time": "20200101000000"}, "XDSRepositoryMetadataError",
     "creationTime '20200101000000' but the document's effectiveTime '20210401134745+0100'"),
    ({"type_code": Code("34112-3", "2.16.840.1.113883.6.1")}, "XDSRepositoryMetadataError",
     "typeCode '34112-3^^2.16.840.1.113883.6.1' but the document's code is '11502-2"),
    ({"unique_id": "1.2.3.4.5"}, "XDSRepositoryMetadataError",
     "uniqueId '1.2.3.4.5' but the document's id is '1.3.6.1.4.1.19376.1.2.20.12345.1.1'"),
    ({"language_code": "fr-BE"}, "XDSRepositoryMetadataError", "languageCode 'fr-BE'"),
    ({"service_start_time": "20200101"}, "XDSRepositoryMetadataError", "serviceStartTime"),
    ({"confidentiality_codes": [Code("R", "2.16.840.1.113883.5.25")]},
     "XDSRepositoryMetadataError", "does not include the document's 'N^^2.16.840.1.113883.5.25'"),
    ({"legal_authenticator": "801234534765^X^Y^^^^^^&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS"},
     "XDSRepositoryMetadataError", "the document's legalAuthenticator is '807505123456"),
    ({"authors": [Author(person="899999999999^X^Y^^^^^^&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS")]},
     "XDSRepositoryMetadataError", "is not an author of the document"),
])
def test_metadata_that_contradicts_the_document_is_refused(app, changes, code, says):
    status, codes, contexts = submit(app, LEVEL1, **changes)
    assert status == "Failure" and code in codes
    assert any(says in c for c in contexts), contexts
    assert held_files(app) == []


def test_another_patient_is_patient_id_does_not_match(app):
    other = "176059205062848^^^&1.2.250.1.213.1.4.10&ISO^NH"
    open_patient(app, other)
    submission, documents = cda_submission(LEVEL1)
    submission.submission_set.patient_id = other
    for entry in submission.documents:
        entry.patient_id = entry.source_patient_id = other
    status, codes, contexts = provide(app, submission, documents)
    assert status == "Failure" and codes == ["XDSPatientIdDoesNotMatch"]
    assert "is not the document's patient" in contexts[0] and "279035121518989" in contexts[0]


def test_an_invalid_cda_is_refused_with_its_rule_and_line(app):
    data = mutate(LEVEL1, set_text("h:title", " "))
    status, codes, contexts = submit(app, LEVEL1, data=data, title="Compte rendu")
    assert status == "Failure" and "XDSRepositoryError" in codes
    assert any("CI-SIS-TITLE" in c for c in contexts)


def test_a_non_cda_text_xml_document_is_refused(app):
    status, _codes, contexts = submit(app, LEVEL1, data=b"<html><body/></html>")
    assert status == "Failure" and "HTML page" in contexts[0]


@pytest.mark.parametrize("changes, says", [
    ({"class_code": Code("11", "1.2.250.1.213.1.1.4.1")}, "ASS_X16 gives '10^^"),
    ({"class_code": Code("77", "1.2.250.1.213.1.1.4.1")}, "is not in J06"),
    ({"practice_setting_code": Code("NOPE", "1.2.250.1.213.1.1.4.9")}, "is not in J04"),
    ({"legal_authenticator": None}, "legalAuthenticator is required by the CI-SIS"),
    ({"confidentiality_codes": [Code("N", "2.16.840.1.113883.5.25"),
                                Code("R", "2.16.840.1.113883.5.25")]},
     "exactly one confidentiality level"),
])
def test_french_metadata_rules(changes, says):
    profile = profile_for("cisis", accept_test_ins=True)
    submission, _ = cda_submission(LEVEL1, **changes)
    contexts = [e.context for e in profile.check(submission) if e.is_error]
    assert any(says in c for c in contexts), contexts


def test_visibility_codes_are_accepted_beside_the_level():
    profile = profile_for("cisis", accept_test_ins=True)
    submission, _ = cda_submission(LEVEL1, confidentiality_codes=[
        Code("N", "2.16.840.1.113883.5.25"), Code("MASQUE_PS", "1.2.250.1.213.1.1.4.13"),
        Code("INVISIBLE_PATIENT", "1.2.250.1.213.1.1.4.13")])
    assert [e for e in profile.cisis.check(submission) if e.is_error] == []


def test_patient_must_be_an_ins_and_test_ins_only_when_configured():
    submission, _ = cda_submission(LEVEL1)
    strict = [e.context for e in profile_for("cisis").check(submission) if e.is_error]
    assert any("test/demo INS OID" in c for c in strict)
    submission.submission_set.patient_id = "P123^^^&1.2.3&ISO"
    contexts = [e.context for e in profile_for("cisis", accept_test_ins=True).check(submission)]
    assert any("SubmissionSet" in c and "is not an INS OID" in c for c in contexts)


def test_authors_need_national_ids_and_specialties_from_j01():
    submission, _ = cda_submission(LEVEL1)
    author = dataclasses.replace(submission.documents[0].authors[0],
                                 person="123^X^Y^^^^^^&1.2.3.4&ISO",
                                 specialties=["ZZZ^Inconnu^1.2.250.1.213.1.1.4.5"],
                                 institutions=["Clinique^^^^^&1.2.3&ISO^IDNST^^^1234"])
    submission.documents[0].authors = [author]
    contexts = [e.context for e in profile_for("cisis", accept_test_ins=True).check(submission)]
    assert any("must be a national identifier" in c for c in contexts)
    assert any("authorSpecialty 'ZZZ^Inconnu" in c for c in contexts)
    assert any("needs XON.6 = &1.2.250.1.71.4.2.2&ISO" in c for c in contexts)


def test_with_schematrons_on_a_schematron_error_refuses_the_submission(make_app, tmp_path):
    """XDS_VALIDATE_SCHEMATRON=true: the kit's schematrons run on each CDA of an ITI-41."""
    install_kit(ANS_KIT, tmp_path / "var" / "kit")
    app = make_app(profile="cisis", accept_test_ins=True, validate_schematron=True,
                   require_submission_signature=False)
    open_patient(app, TEST_INS)
    # the family name without its qualifier: valid for the schema and the header rules,
    # an error for the minimal structure schematron
    data = mutate(CR_BIO, remove_attribute(
        "/h:ClinicalDocument/h:recordTarget/h:patientRole/h:patient/h:name/h:family", "qualifier"))
    status, codes, contexts = submit(app, CR_BIO, data=data)
    assert status == "Failure" and set(codes) == {"XDSRepositoryError"}
    assert any("schematron" in c and "qualifier" in c for c in contexts), contexts
    assert submit(app, CR_BIO) == ("Success", [], [])  # the refusal left nothing behind


def _refusals(app) -> list:
    from xds_server.store import audit_store

    return [event for event in app.database.read(audit_store.trail)
            if event.action == "C" and event.outcome == "failure"]


@pytest.mark.parametrize("case", ["patient does not match", "content refused", "unknown patient"])
def test_every_refused_provide_is_audited(app, case):
    """A refusal by the repository's own checks (the CDA's patient, its content, before the
    registry is asked) is audited like the registry's refusals: one failure record of the
    provide, naming the patient the submission named and nothing else (issue 18 R8)."""
    submission, documents = cda_submission(LEVEL1)
    if case == "patient does not match":
        other = "176059205062848^^^&1.2.250.1.213.1.4.10&ISO^NH"
        open_patient(app, other)
        submission.submission_set.patient_id = other
        for entry in submission.documents:
            entry.patient_id = entry.source_patient_id = other
        wanted = "XDSPatientIdDoesNotMatch"
    elif case == "content refused":
        documents = {"Document01": mutate(LEVEL1, set_text("h:title", " "))}
        wanted = None
    else:
        unknown = "176059205062848^^^&1.2.250.1.213.1.4.10&ISO^NH"
        submission.submission_set.patient_id = unknown
        for entry in submission.documents:
            entry.patient_id = entry.source_patient_id = unknown
        wanted = None
    before = len(_refusals(app))
    status, codes, _ = provide(app, submission, documents)
    assert status == "Failure" and (wanted is None or codes == [wanted]), codes
    refusals = _refusals(app)
    assert len(refusals) == before + 1, [(e.transaction, e.outcome) for e in refusals]
    assert refusals[-1].transaction == "ITI-41"
    assert refusals[-1].patient_id == submission.submission_set.patient_id.split("^NH")[0] \
        or refusals[-1].patient_id.startswith("176059205062848")
