"""The project's own CI-SIS samples (`cda_samples/`): up to date with their builder, valid for the
official ANS schema, the kit's schematrons, the built-in schema and the CI-SIS header rules,
and accepted by ITI-41 in the cisis profile, the replacement deprecating the lab report."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from lxml import etree

from xds_server.cda.header_rules import RuleContext
from xds_server.cda.kit import install_kit
from xds_server.cda.schema import CdaSchema, schema_for
from xds_server.cda.validator import CdaValidator
from xds_server.consumer.sources import SourceOptions, submission_for_files

from .cda_data import ANS_KIT
from .conftest import REFERENCE
from .registry_data import open_patient, run_query
from .test_repository import provide, retrieve

SAMPLES_DIR = Path(__file__).resolve().parents[1] / "cda_samples"
SAMPLES = sorted(SAMPLES_DIR.glob("*.xml"))
PATIENT = "285067512345639^^^&1.2.250.1.213.1.4.10&ISO^NH"
LAB_REPORT = SAMPLES_DIR / "CR-BIO_glycemie-creatinine.xml"
LAB_REPLACEMENT = SAMPLES_DIR / "CR-BIO_glycemie-creatinine_RPLC.xml"
GET_DOCUMENTS = "urn:uuid:5c4f972b-d56b-40ac-a5fc-c8ca9b40b9d4"


@pytest.fixture(scope="module")
def validator(ans_kit_schematrons) -> CdaValidator:
    """The session's schematrons: each is compiled once (seconds with Saxon)."""
    official = CdaSchema(REFERENCE / "schemas" / "cda-fr" / "CDA_extended.xsd", "official")
    return CdaValidator(official, RuleContext(accept_test_ins=True), ans_kit_schematrons)


def test_the_samples_are_what_the_builder_writes():
    assert [p.name for p in SAMPLES] == [
        "CR-BIO_glycemie-creatinine.xml", "CR-BIO_glycemie-creatinine_RPLC.xml",
        "DOC-NON-STRUCTURE_pdf.xml", "VSM_synthese.xml"]
    run = subprocess.run([sys.executable, str(SAMPLES_DIR / "build.py"), "--check"],
                         capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout + run.stderr


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.stem)
def test_each_sample_passes_the_official_schema_and_schematrons(validator, sample):
    report = validator.validate(sample.read_bytes(), sample.name).report
    assert report.valid, [f.text() for f in report.findings if f.is_error]
    schematrons = [c for c in report.checked if c.startswith("schematron:")]
    assert "schematron: ASIP-STRUCT-MIN-StrucMin.sch" in schematrons
    if "DOC-NON-STRUCTURE" not in sample.name:         # a level-1 document has no volet
        assert len(schematrons) == 2
    assert CdaValidator(schema_for(None), RuleContext(accept_test_ins=True)).validate(
        sample.read_bytes()).report.valid              # the built-in schema agrees


def test_the_samples_submit_and_the_replacement_deprecates_the_lab_report(make_app, tmp_path):
    install_kit(ANS_KIT, tmp_path / "var" / "kit")
    app = make_app(profile="cisis", accept_test_ins=True, validate_schematron=True,
                   require_submission_signature=False)    # about the samples, not signing
    open_patient(app, PATIENT)
    first = {}
    for sample in SAMPLES:
        if sample == LAB_REPLACEMENT:
            continue
        submission, _ = submission_for_files([sample], PATIENT, SourceOptions())
        assert provide(app, submission, {"Document01": sample.read_bytes()}) == \
            ("Success", [], []), sample.name
        first[sample.name] = submission.documents[0]
    original = first[LAB_REPORT.name]
    entry_uuid = _entry_uuid(app, original.unique_id)
    submission, _ = submission_for_files([LAB_REPLACEMENT], PATIENT, SourceOptions(),
                                         {original.unique_id: entry_uuid})
    assert any(a.type.endswith(":RPLC") and a.target == entry_uuid
               for a in submission.associations)
    assert provide(app, submission, {"Document01": LAB_REPLACEMENT.read_bytes()}) == \
        ("Success", [], [])
    assert _status(app, original.unique_id).endswith(":Deprecated")
    replacement = submission.documents[0]
    got = retrieve(app, [(app.settings.repository_unique_id, replacement.unique_id)])
    assert got.documents[0].data == LAB_REPLACEMENT.read_bytes()


def _entry(app, unique_id: str) -> etree._Element:
    reply = run_query(app, GET_DOCUMENTS, {"$XDSDocumentEntryUniqueId": [unique_id]})
    return next(reply.payload.iter("{*}ExtrinsicObject"))


def _entry_uuid(app, unique_id: str) -> str:
    return _entry(app, unique_id).get("id")


def _status(app, unique_id: str) -> str:
    return _entry(app, unique_id).get("status")
