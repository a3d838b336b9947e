"""The product's ISO Schematron compiler (includes, abstract patterns, abstract rules, phases,
let, XPath 2) and the ANS kit's schematrons run with it on real and broken documents."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from lxml import etree

from xds_server.cda.findings import Kind, Report
from xds_server.cda.kit import install_kit
from xds_server.cda.schematron import KitSchematrons, SchematronError, assemble
from xds_server.cda.schematron.runner import STRUCTURE_MIN, compiled_path, node_at
from xds_server.cli import main as cli

from .cda_data import ANS_KIT, ANS_SAMPLES, CR_BIO, LEVEL1, NS, mutate, remove, set_attribute

SCH = 'xmlns="http://purl.oclc.org/dsdl/schematron"'
DOC = (b'<doc xmlns="urn:example"><item code="A" n="3"/><item code="B" n="12"/>'
       b'<other/></doc>')


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def run(tmp_path: Path, schema: str, **files: str) -> list[tuple[str, str, str]]:
    """(rule id, location, message) of each finding of `schema` on DOC."""
    for name, text in files.items():
        write(tmp_path, name.replace("__", "/").replace("_sch", ".sch"), text)
    sch = write(tmp_path, "main.sch", schema)
    kit = tmp_path / "kit"
    runner = KitSchematrons(kit)
    runner.schematrons_for = lambda root: [sch]
    names, findings = runner.check(etree.fromstring(DOC), "doc")
    assert names == ["main.sch"], findings
    return [(f.rule, f.xpath, f.message) for f in findings]


def test_asserts_reports_let_and_xpath2(tmp_path):
    findings = run(tmp_path, f"""<schema {SCH} queryBinding="xslt2">
      <ns prefix="e" uri="urn:example"/>
      <let name="limit" value="10"/>
      <pattern id="p">
        <rule context="e:item">
          <let name="n" value="xs:integer(@n)"/>
          <assert id="small" test="$n le $limit">item <value-of select="@code"/> has n=<value-of
            select="$n"/> over <value-of select="$limit"/></assert>
          <report id="seen-a" role="info" test="@code = 'A'">found <name/></report>
        </rule>
      </pattern></schema>""")
    assert ("small", "/doc[1]/item[2]", "item B has n=12 over 10") in findings
    assert ("seen-a", "/doc[1]/item[1]", "found item") in findings
    assert len(findings) == 2


def test_first_matching_rule_of_a_pattern_wins(tmp_path):
    findings = run(tmp_path, f"""<schema {SCH} queryBinding="xslt2">
      <ns prefix="e" uri="urn:example"/>
      <pattern id="p">
        <rule context="e:item[@code='A']"><assert id="first" test="false()">a</assert></rule>
        <rule context="e:item"><assert id="second" test="false()">b</assert></rule>
      </pattern></schema>""")
    assert sorted(f[0] for f in findings) == ["first", "second"]  # A fires only the first
    assert [f[1] for f in findings if f[0] == "second"] == ["/doc[1]/item[2]"]


def test_includes_abstract_patterns_abstract_rules_and_phases(tmp_path):
    findings = run(
        tmp_path,
        f"""<schema {SCH} queryBinding="xslt2" defaultPhase="checks">
          <ns prefix="e" uri="urn:example"/>
          <include href="abstract/required.sch"/>
          <pattern><include href="rules/coded.sch"/></pattern>
          <phase id="checks"><active pattern="item-code"/><active pattern="coded"/></phase>
          <pattern id="item-code" is-a="required">
            <param name="ctx" value="e:item"/><param name="ctx_name" value="'an item'"/>
            <param name="att" value="@n"/>
          </pattern>
          <pattern id="inactive"><rule context="e:doc">
            <assert test="false()">never runs</assert></rule></pattern>
          <include href="patterns/coded.sch"/>
        </schema>""",
        abstract__required_sch=f"""<pattern {SCH} abstract="true" id="required">
          <rule context="$ctx"><assert id="req" test="$att &gt; 5">
            <value-of select="$ctx_name"/> needs a larger <value-of select="name($att)"/>
          </assert></rule></pattern>""",
        rules__coded_sch=f"""<rule {SCH} abstract="true" id="CODED">
          <extends rule="BASE"/>
          <assert id="one-letter" test="string-length(@code) = 1">one letter</assert></rule>""",
        patterns__coded_sch=f"""<pattern {SCH} id="coded">
          <rule abstract="true" id="BASE"><assert id="has-code" test="@code">code</assert></rule>
          <rule context="e:other"><extends rule="CODED"/></rule></pattern>""",
    )
    assert ("req", "/doc[1]/item[1]", "an item needs a larger n") in findings
    assert {f[0] for f in findings} == {"req", "has-code", "one-letter"}  # CODED and BASE
    assert ("has-code", "/doc[1]/other[1]", "code") in findings


def test_schematron_errors_are_named(tmp_path):
    sch = write(tmp_path, "bad.sch", f'<schema {SCH}><include href="missing.sch"/></schema>')
    with pytest.raises(SchematronError, match=r"missing\.sch"):
        assemble(sch)
    sch = write(tmp_path, "bad2.sch", f'<schema {SCH}><pattern is-a="nope" id="x"/></schema>')
    with pytest.raises(SchematronError, match="unknown abstract pattern 'nope'"):
        assemble(sch)


def test_node_at_follows_locations_back_to_elements():
    root = etree.fromstring(DOC)
    assert node_at(root, "/doc[1]/item[2]/@n").get("code") == "B"
    assert node_at(root, "/doc[1]/item[5]") is None


# --- the ANS kit -------------------------------------------------------------------------

@pytest.fixture
def kit_runner(ans_kit_schematrons) -> KitSchematrons:
    return ans_kit_schematrons


@pytest.mark.parametrize("sample", [CR_BIO, LEVEL1, ANS_SAMPLES / "VSM_1.4_2022.01.xml",
                                    ANS_SAMPLES / "IPS-FR_2024.01.xml"], ids=lambda p: p.stem)
def test_ans_samples_pass_the_kit_schematrons(kit_runner, sample):
    root = etree.parse(str(sample)).getroot()
    names, findings = kit_runner.check(root, sample.name)
    assert names[0] == "ASIP-STRUCT-MIN-StrucMin.sch"
    assert [f for f in findings if f.is_error] == []
    assert compiled_path(kit_runner.directory / STRUCTURE_MIN).is_file()  # cached beside the .sch


def test_the_volet_schematron_is_chosen_by_template_id(kit_runner):
    names, _ = kit_runner.check(etree.parse(str(CR_BIO)).getroot(), "cr-bio")
    assert names == ["ASIP-STRUCT-MIN-StrucMin.sch", "CI-SIS_BIO-CR-BIO_2024.01.sch"]
    names, _ = kit_runner.check(etree.parse(str(LEVEL1)).getroot(), "level-1")
    assert names == ["ASIP-STRUCT-MIN-StrucMin.sch"]  # a level-1 document has no volet


def test_a_broken_document_gets_findings_with_place_and_line(kit_runner):
    data = mutate(CR_BIO, remove("/h:ClinicalDocument/h:title"),
                  set_attribute("/h:ClinicalDocument/h:confidentialityCode", "code", "ZZ"))
    root = etree.fromstring(data)
    _, findings = kit_runner.check(root, "broken")
    errors = [f for f in findings if f.is_error]
    assert all(f.kind == Kind.SCHEMATRON for f in errors)
    assert any("title" in f.message for f in errors)
    confidentiality = [f for f in errors if f.xpath.endswith("/confidentialityCode[1]")]
    assert confidentiality and confidentiality[0].line == root.find(
        "h:confidentialityCode", NS).sourceline


def test_validate_cli_runs_the_schematrons(tmp_path):
    runner = CliRunner()
    data_dir = tmp_path / "data"
    assert runner.invoke(cli, ["kit", "install", "--from", str(ANS_KIT),
                               "--data-dir", str(data_dir)]).exit_code == 0
    broken = tmp_path / "broken.xml"
    broken.write_bytes(mutate(CR_BIO, remove("/h:ClinicalDocument/h:title")))
    result = runner.invoke(cli, ["validate", "--schematron", "--accept-test-ins", "--data-dir",
                                 str(data_dir), str(CR_BIO), str(broken)])
    assert result.exit_code == 1, result.output
    assert f"{CR_BIO}: valid (" in result.output
    assert "schematron: CI-SIS_BIO-CR-BIO_2024.01.sch" in result.output
    assert "error [schematron]" in result.output and "Traceback" not in result.output


def test_validate_cli_asks_for_the_kit(tmp_path):
    result = CliRunner().invoke(cli, ["validate", "--schematron", "--data-dir",
                                      str(tmp_path), str(CR_BIO)])
    assert result.exit_code == 2 and "kit install" in result.output     # environment


def test_node_at_reads_the_iso_skeleton_locations_too():
    root = etree.fromstring(DOC)
    location = ("/*:doc[namespace-uri()='urn:example'][1]"
                "/*:item[namespace-uri()='urn:example'][2]/@n")
    assert node_at(root, location).get("code") == "B"


# a stand-in for the kit's moteur/: two pass-through stages and a last stage that writes a
# stylesheet reporting one failure, so the test sees which compiler ran
PASS_THROUGH = """<xsl:stylesheet version="2.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
  <xsl:template match="@*|node()"><xsl:copy><xsl:apply-templates select="@*|node()"/>
  </xsl:copy></xsl:template></xsl:stylesheet>"""
SVRL_STAGE = """<xsl:stylesheet version="2.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:out="urn:output-xsl" xmlns:svrl="http://purl.oclc.org/dsdl/svrl">
  <xsl:namespace-alias stylesheet-prefix="out" result-prefix="xsl"/>
  <xsl:template match="/">
    <out:stylesheet version="2.0">
      <out:template match="/">
        <svrl:schematron-output><svrl:failed-assert id="from-skeleton"
            location="/*:doc[namespace-uri()='urn:example'][1]/*:item[namespace-uri()='urn:example'][1]">
          <svrl:text>compiled by the kit's skeleton</svrl:text></svrl:failed-assert>
        </svrl:schematron-output>
      </out:template>
    </out:stylesheet>
  </xsl:template></xsl:stylesheet>"""


def test_the_kits_own_compile_stylesheets_are_used_when_installed(tmp_path):
    kit = tmp_path / "kit"
    moteur = kit / "schematrons" / "moteur" / "schematron" / "code"
    write(moteur, "iso_dsdl_include.xsl", PASS_THROUGH)
    write(moteur, "iso_abstract_expand.xsl", PASS_THROUGH)
    write(moteur, "iso_svrl_for_xslt2.xsl", SVRL_STAGE)
    sch = write(kit / "schematrons", "main.sch", f'<schema {SCH} queryBinding="xslt2"/>')
    runner = KitSchematrons(kit)
    assert runner.skeleton is not None
    runner.schematrons_for = lambda root: [sch]
    names, findings = runner.check(etree.fromstring(DOC), "doc")
    assert names == ["main.sch"]
    assert [(f.rule, f.message, f.line) for f in findings] == [
        ("from-skeleton", "compiled by the kit's skeleton", 1)]
    assert compiled_path(sch, "kit-skeleton").is_file()


# --- the volet table, read from the kit ----------------------------------------------------

def _document(*template_roots: str) -> etree._Element:
    templates = "".join(f'<templateId root="{r}"/>' for r in template_roots)
    return etree.fromstring(f'<ClinicalDocument xmlns="urn:hl7-org:v3">{templates}'
                            "</ClinicalDocument>")


@pytest.mark.parametrize("roots, volet", [
    (("1.2.250.1.213.1.1.1.1", "1.2.250.1.213.1.1.1.21"), "CI-SIS_LDL-EES_2022.01.sch"),
    (("1.2.250.1.213.1.1.1.1", "1.2.250.1.213.1.1.1.46"), "CI-SIS_VAC-NOTE_2023.01.sch"),
    (("1.2.250.1.213.1.1.1.1", "1.2.250.1.213.1.1.1.54"), "CI-SIS_eDISP-MED_2024.01.sch"),
    # named only in a comment of an included file, newest of three versions
    (("1.2.250.1.213.1.1.1.1", "1.2.250.1.213.1.1.1.55"), "CI-SIS_BIO-CR-BIO_2024.01.sch"),
    # the generic CSE template and its CS8 specialisation: the specific one decides
    (("1.2.250.1.213.1.1.1.5", "1.2.250.1.213.1.1.1.5.1"), "CI-SIS_CSE-CS8_2025.01.sch"),
    # VSM 1.4 (2022) and VSM (2023) both name it: the newer file
    (("1.2.250.1.213.1.1.1.13",), "CI-SIS_VSM_2023.01.sch"),
])
def test_the_volet_comes_from_what_the_kit_schematrons_name(kit_runner, roots, volet):
    chosen = kit_runner.schematrons_for(_document(*roots))
    assert [p.name for p in chosen] == ["ASIP-STRUCT-MIN-StrucMin.sch", volet]


def test_a_new_volet_needs_no_code(tmp_path):
    from xds_server.cda.schematron.volets import VoletIndex

    include = write(tmp_path, "include/New/Entete.sch",
                    f'<pattern {SCH}><rule context="cda:ClinicalDocument"><assert '
                    """test="cda:templateId[@root='1.2.250.1.213.1.1.1.999']">x</assert>"""
                    "</rule></pattern>")
    write(tmp_path, "CI-SIS_NEW-VOLET_2030.01.sch",
          f'<schema {SCH}><include href="{include.relative_to(tmp_path)}"/></schema>')
    index = VoletIndex.of(tmp_path)
    chosen = index.choose(["1.2.250.1.213.1.1.1.1", "1.2.250.1.213.1.1.1.999"])
    assert chosen is not None and chosen.name == "CI-SIS_NEW-VOLET_2030.01.sch"
    assert index.choose(["1.2.250.1.213.1.1.1.1"]) is None    # the generic template: no volet


def test_a_schematron_that_cannot_run_leaves_the_document_not_checked(tmp_path):
    """Not a warning on a valid document: an error of its own kind (Kind.NOT_CHECKED)."""
    sch = write(tmp_path, "broken.sch", f'<schema {SCH} queryBinding="xslt2"><pattern id="p">'
                '<rule context="*"><assert test="((">x</assert></rule></pattern></schema>')
    runner = KitSchematrons(tmp_path / "kit")
    runner.schematrons_for = lambda root: [sch]
    names, findings = runner.check(etree.fromstring(DOC), "doc")
    assert names == []
    assert [(f.kind, f.is_error) for f in findings] == [(Kind.NOT_CHECKED, True)]
    report = Report("doc", findings)
    assert not report.fully_checked and report.verdict == "not checked"


def test_validate_cli_says_not_checked_when_a_schematron_fails(tmp_path):
    kit = tmp_path / "kit"
    install_kit(ANS_KIT, kit)
    write(kit / "schematrons", "CI-SIS_BROKEN_2099.01.sch",
          f'<schema {SCH} queryBinding="xslt2"><pattern id="p"><rule context="*">'
          '<assert test="((">x</assert></rule></pattern></schema>')
    result = CliRunner().invoke(cli, ["validate", "--volet", "BROKEN_2099.01",
                                      "--accept-test-ins", "--data-dir", str(tmp_path),
                                      str(LEVEL1)])
    assert result.exit_code == 2, result.output
    assert "NOT CHECKED" in result.output and "[not-checked]" in result.output
    assert "Traceback" not in result.output
