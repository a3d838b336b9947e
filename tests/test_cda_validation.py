"""CDA validation: what is and is not a CDA, the CI-SIS header rules, the installed ANS kit, and
`xds-server validate`."""

from __future__ import annotations

import base64
import json

import pytest
from click.testing import CliRunner

from xds_server.cda.header_rules import HEADER_RULES, RuleContext
from xds_server.cda.kit import J07_TARGET, KitError, install_kit
from xds_server.cda.schema import schema_for
from xds_server.cda.validator import CdaValidator
from xds_server.cli import main
from xds_server.valuesets import KIT_FILE

from .cda_data import ANS_KIT, ANS_SAMPLES, LEVEL1, mutate, remove, set_attribute, set_text
from .conftest import REFERENCE

AUTO_PRESENTABLE = "BIO-CR-BIO_2021.01_Auto-Presentable.xml"


@pytest.fixture(scope="session")
def kit_dir(tmp_path_factory):
    target = tmp_path_factory.mktemp("data") / "kit"
    install_kit(ANS_KIT, target)
    return target


@pytest.fixture(scope="session")
def validator(kit_dir):
    return CdaValidator(schema_for(kit_dir), RuleContext(accept_test_ins=True))


def rules_broken(validator, data: bytes) -> set[str]:
    return {f.rule for f in validator.validate(data).report.findings if f.is_error}


@pytest.mark.parametrize("path", sorted(p for p in ANS_SAMPLES.glob("*.xml")
                                        if p.name != AUTO_PRESENTABLE), ids=lambda p: p.stem)
def test_every_ans_sample_is_valid(validator, path):
    report = validator.validate(path.read_bytes(), path.name).report
    assert report.valid, [f.text() for f in report.findings]


@pytest.mark.parametrize("data, says", [
    (b"", "empty"),
    (b"   \n", "empty"),
    (b"<!DOCTYPE html><html><body>hello</body></html>", "HTML"),
    (b"<html><body/></html>", "HTML"),
    (b"<ClinicalDocument><id/>", "not well-formed"),
    (b"<section xmlns='urn:hl7-org:v3'/>", "not a CDA ClinicalDocument"),
    (b"<ClinicalDocument/>", "requires 'urn:hl7-org:v3'"),
    (b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'b'>]><x>&a;</x>", "DOCTYPE"),
])
def test_what_is_not_a_cda_is_said_plainly(validator, data, says):
    findings = validator.validate(data).report.findings
    assert [f.kind for f in findings] == ["not-cda"]
    assert says in findings[0].message


def test_self_presenting_xslt_wrapper_is_named(validator):
    findings = validator.validate((ANS_SAMPLES / AUTO_PRESENTABLE).read_bytes()).report.findings
    assert "XSLT stylesheet" in findings[0].message and "embeds a ClinicalDocument" in \
        findings[0].message


@pytest.mark.parametrize("edit, rule", [
    (remove("h:realmCode"), "CI-SIS-REALM"),
    (remove("h:templateId[@root='1.2.250.1.213.1.1.1.1']"), "CI-SIS-TEMPLATES"),
    (remove("h:title"), "CI-SIS-TITLE"),
    (set_attribute("h:effectiveTime", "value", "2021-04-01"), "CI-SIS-EFFECTIVETIME"),
    (set_attribute("h:confidentialityCode", "code", "U"), "CI-SIS-CONFIDENTIALITY"),
    # N, R and V are a set, not the string "NRV": its substrings are not codes
    (set_attribute("h:confidentialityCode", "code", "NR"), "CI-SIS-CONFIDENTIALITY"),
    (set_attribute("h:confidentialityCode", "code", "RV"), "CI-SIS-CONFIDENTIALITY"),
    (set_attribute("h:languageCode", "code", "fr"), "CI-SIS-LANGUAGE"),
    (remove("h:setId"), "CI-SIS-SETID"),
    (remove("h:versionNumber"), "CI-SIS-VERSION"),
    (remove("h:recordTarget/h:patientRole/h:id[@root='1.2.250.1.213.1.4.10']"), "CI-SIS-INS"),
    (remove("h:recordTarget//h:birthTime"), "CI-SIS-INS"),
    (remove("h:recordTarget//h:family[@qualifier='BR']"), "CI-SIS-INS"),
    (set_attribute("h:author/h:assignedAuthor/h:id", "root", "1.2.3.4"), "CI-SIS-AUTHOR-ID"),
    (remove("h:legalAuthenticator"), "CI-SIS-LEGALAUTHENTICATOR"),
    (set_attribute("h:legalAuthenticator/h:signatureCode", "code", "X"),
     "CI-SIS-LEGALAUTHENTICATOR-CONTENT"),
    (remove("h:componentOf"), "CI-SIS-ENCOUNTER"),
    (set_attribute("h:recordTarget/h:patientRole/h:telecom[1]", "value", "0144534551"),
     "CI-SIS-TELECOM"),
    (set_attribute("h:component/h:nonXMLBody/h:text", "mediaType", "image/png"),
     "CI-SIS-NONXMLBODY"),
    (set_text("h:component/h:nonXMLBody/h:text", base64.b64encode(b"not a pdf").decode()),
     "CI-SIS-NONXMLBODY"),
    (set_text("h:component/h:nonXMLBody/h:text", "***"), "CI-SIS-NONXMLBODY"),
])
def test_header_rules_name_what_is_broken(validator, edit, rule):
    assert rule in rules_broken(validator, mutate(LEVEL1, edit))


def test_rule_ids_are_unique():
    assert len({r.id for r in HEADER_RULES}) == len(HEADER_RULES)


def test_test_ins_is_refused_unless_accepted(kit_dir):
    strict = CdaValidator(schema_for(kit_dir), RuleContext(accept_test_ins=False))
    findings = [f for f in strict.validate(LEVEL1.read_bytes()).report.findings if f.is_error]
    assert [f.rule for f in findings] == ["CI-SIS-INS"]
    assert "test/demo INS" in findings[0].message and findings[0].line


def test_production_ins_key_is_checked(validator):
    ins = "h:recordTarget/h:patientRole/h:id[1]"
    good = mutate(LEVEL1, set_attribute(ins, "root", "1.2.250.1.213.1.4.8"))
    assert validator.validate(good).report.valid  # 279035121518989: key 89 is right
    bad = mutate(LEVEL1, set_attribute(ins, "root", "1.2.250.1.213.1.4.8"),
                 set_attribute(ins, "extension", "279035121518988"))
    assert any("has the key 88" in f.message for f in validator.validate(bad).report.findings)


def test_schema_errors_have_lines(validator):
    data = mutate(LEVEL1, remove("h:typeId"))
    schema = [f for f in validator.validate(data).report.findings if f.kind == "schema"]
    assert schema and schema[0].line and "typeId" in schema[0].message


def test_c_cda_documents_are_not_ci_sis(validator):
    path = REFERENCE / "cda-samples" / "hl7" / "SampleCDADocument.xml"
    assert {"CI-SIS-REALM", "CI-SIS-INS"} <= rules_broken(validator, path.read_bytes())


def test_without_any_schema_the_report_says_so(monkeypatch):
    monkeypatch.setattr("xds_server.cda.schema.builtin_schema_path", lambda: None)
    report = CdaValidator(schema_for(None), RuleContext(True)).validate(
        LEVEL1.read_bytes()).report
    assert report.valid
    assert any(f.kind == "schema" and not f.is_error and "not checked" in f.message
               for f in report.findings)


# --- the ANS kit ------------------------------------------------------------------------------

def test_kit_install_completes_the_published_kit(kit_dir):
    assert (kit_dir / "infrastructure" / "cda" / "CDA_extended.xsd").is_file()
    j07 = (kit_dir / J07_TARGET).read_text(encoding="utf-8")
    assert 'id="1.2.250.1.213.1.1.5.471"' in j07 and 'code="11502-2"' in j07
    refreshed = json.loads((kit_dir / KIT_FILE).read_text(encoding="utf-8"))
    assert refreshed["sets"]["J07"]["source"] == "JDV_J07_XdsTypeCode_CISIS.xml"


def test_kit_install_refuses_what_is_not_a_kit_and_keeps_the_old_one(tmp_path, kit_dir):
    target = tmp_path / "kit"
    target.mkdir()
    (target / "marker").write_text("old")
    with pytest.raises(KitError, match="not an ANS TestContenuCDA tree"):
        install_kit(REFERENCE / "value-sets", target)
    assert (target / "marker").read_text() == "old"
    assert not (tmp_path / "kit.installing").exists()


# --- xds-server validate ----------------------------------------------------------------------

def run_cli(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_validate_cli_exit_codes_and_json(kit_dir, tmp_path):
    data_dir = str(kit_dir.parent)
    good = run_cli("validate", "--accept-test-ins", "--data-dir", data_dir, str(LEVEL1))
    assert good.exit_code == 0 and "valid (schema: ANS kit" in good.output
    bad_file = tmp_path / "bad.xml"
    bad_file.write_bytes(mutate(LEVEL1, remove("h:realmCode")))
    empty = tmp_path / "empty.xml"
    empty.write_bytes(b"")
    invalid = run_cli("validate", "--json", "--accept-test-ins", "--data-dir", data_dir,
                      str(LEVEL1), str(bad_file))
    assert invalid.exit_code == 1            # checked, and one is invalid
    result = run_cli("validate", "--json", "--accept-test-ins", "--data-dir", data_dir,
                     str(LEVEL1), str(bad_file), str(empty))
    assert result.exit_code == 1             # an empty file is no CDA: an invalid document
    reports = json.loads(result.output)
    # printed as the exit status says (issue 18, m15: 'NOT CHECKED' with exit 1)
    assert [r["verdict"] for r in reports] == ["valid", "invalid", "invalid"]
    assert [r["valid"] for r in reports] == [True, False, False]
    assert reports[1]["findings"][0]["rule"] == "CI-SIS-REALM"
    assert reports[2]["findings"][0]["kind"] == "not-cda"


def test_validate_cli_reports_unreadable_files_without_traceback(tmp_path):
    result = run_cli("validate", "--data-dir", str(tmp_path), str(tmp_path / "missing.xml"))
    assert result.exit_code == 2 and "cannot read" in result.output
    assert "NOT CHECKED" in result.output
    assert "Traceback" not in result.output
