"""Codes and document metadata given on the command line are checked before anything is sent
(issue 18 m6, m10): a code not in the installed value set is exit 2 naming the value set and
`xds-server codes`; a file that is not a CDA takes options for what its header would have
given, and a server's refusal of those metadata names them."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from xds_server.cli import main
from xds_server.cli_document_options import options_for_refusal

from .conftest import free_port

INS = "285067512345639^^^&1.2.250.1.213.1.4.10&ISO^NH"
DOWN = f"http://127.0.0.1:{free_port()}"        # nothing listens: a send would say so
LEGAL = "810000000001^MARTIN^PAUL^^^^^^&1.2.250.1.71.4.2.1&ISO"
LETTER = ["--type", "11490-0^^2.16.840.1.113883.6.1", "--legal-authenticator", LEGAL,
          "--service-start", "2025-03-14"]


@pytest.fixture
def pdf(tmp_path: Path) -> str:
    path = tmp_path / "letter.pdf"
    path.write_bytes(b"%PDF-1.4\n%test\n%%EOF\n")
    return str(path)


def _run(*args: str, profile: str = "cisis"):
    return CliRunner().invoke(main, list(args), env={"XDS_SERVER_URL": DOWN,
                                                    "XDS_PROFILE": profile,
                                                    "XDS_DATA_DIR": "/nonexistent/var"})


@pytest.mark.parametrize(("command", "option", "value_set"), [
    (["submit", "{pdf}", "--patient", INS, *LETTER], "--confidentiality", "J08"),
    (["submit", "{pdf}", "--patient", INS, *LETTER], "--class", "J06"),
    (["submit", "{pdf}", "--patient", INS, "--legal-authenticator", LEGAL, "--service-start",
      "2025-03-14"], "--type", "J07"),
    (["submit", "{pdf}", "--patient", INS, *LETTER], "--format", "J10"),
    (["update", "version", "1.2.250.1.999.1"], "--confidentiality", "J08"),
    (["query", "--patient", INS], "--class", "J06")])
def test_a_code_outside_its_value_set_is_refused_before_sending(pdf, command, option,
                                                                value_set):
    args = [a.replace("{pdf}", pdf) for a in command]
    done = _run(*args, option, "X^^1.2.3.4")
    assert done.exit_code == 2, done.output
    error = done.output.strip().splitlines()[-1]
    assert value_set in error and "xds-server codes" in error, error
    assert "cannot reach" not in done.output          # nothing was sent


def test_valid_codes_and_a_bare_confidentiality_pass_the_check(pdf):
    done = _run("submit", pdf, "--patient", INS, *LETTER, "--confidentiality", "R",
                "--class", "10^^1.2.250.1.213.1.1.4.1")
    assert done.exit_code == 2 and "cannot reach" in done.output, done.output   # it sent


def test_the_ihe_profile_sends_any_code(pdf):
    done = _run("submit", pdf, "--patient", INS, "--confidentiality", "X^^1.2.3.4",
                profile="ihe")
    assert "cannot reach" in done.output, done.output


def test_codes_lists_each_value_set_and_its_codes():
    done = _run("codes")
    assert done.exit_code == 0 and "confidentiality" in done.output and "J08" in done.output
    done = _run("codes", "confidentiality")
    assert done.exit_code == 0
    assert "N^^2.16.840.1.113883.5.25  Normal" in done.output.splitlines()


def test_a_file_that_is_not_a_cda_needs_them_under_cisis_only(pdf):
    """Whether they are required is the profile's business, as for the codes: the cisis
    profile asks for them before sending (outsider F6: the README said so, the server refused
    after the upload); an IHE server takes a PDF without them."""
    done = _run("submit", pdf, "--patient", INS)
    assert done.exit_code == 2, done.output
    assert "give --legal-authenticator, --service-start, --type" in done.output, done.output
    assert "cannot reach" not in done.output
    done = _run("submit", pdf, "--patient", INS, profile="ihe")
    assert "cannot reach" in done.output, done.output


@pytest.mark.parametrize(("extra", "words"), [
    (["--service-start", "2025-13-01"], "not a date"),
    (["--service-stop", "2025-03-01"], "before --service-start"),
    (["--legal-authenticator", "MARTIN"], "is not a person (XCN)")])
def test_bad_document_options_are_refused(pdf, extra, words):
    done = _run("submit", pdf, "--patient", INS, *LETTER, *extra)
    assert done.exit_code == 2 and words in done.output, done.output


def test_a_refusal_names_the_options_that_give_what_it_names():
    message = ("XDSRegistryMetadataError: DocumentEntry Document01: legalAuthenticator is "
               "required by the CI-SIS but missing; serviceStartTime is required; typeCode "
               "'55107-7' is not in J07")
    assert options_for_refusal(message) == ["--legal-authenticator", "--service-start",
                                            "--type"]
