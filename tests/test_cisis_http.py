"""The CI-SIS flow over real HTTP, as an integrator runs it: install the ANS kit, start the
server in the `cisis` profile (which requires signed submission sets), submit ANS CDA documents
with `xds-server submit --patient` and the organisation's seal (`--sign-key/--sign-cert`),
query and retrieve them; a submission that contradicts its document is refused, naming both."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import pytest

from .cda_data import ANS_KIT, CR_BIO, LEVEL1, TEST_INS
from .cli_run import run_in_process as run_cli  # one shell call a family: test_cli_client.py
from .conftest import start_server, stop_server
from .test_cda_samples import LAB_REPLACEMENT, SAMPLES
from .test_cda_samples import PATIENT as SAMPLES_PATIENT

pytestmark = pytest.mark.http   # every test here talks to a server over loopback


@pytest.fixture(scope="module")
def seal(tmp_path_factory):
    """The organisation's seal, made by the documentation's own openssl commands
    (docs/transactions.md, the CI-SIS samples): the authority the server trusts, and the submit
    options."""
    directory = tmp_path_factory.mktemp("seal")
    guide = (Path(__file__).parents[1] / "docs" / "transactions.md").read_text()
    block = guide.split("# a test PKI", 1)[1].split("```", 1)[0]
    commands = [line for line in block.splitlines() if line.startswith("openssl ")]
    assert len(commands) == 3
    for command in commands:
        subprocess.run(shlex.split(command), cwd=directory, check=True, capture_output=True)
    return directory / "ca.pem", ["--sign-key", str(directory / "seal.key"),
                                  "--sign-cert", str(directory / "seal.pem")]


@pytest.fixture(scope="module")
def cisis_server(tmp_path_factory, seal):
    data_dir = tmp_path_factory.mktemp("cisis") / "var"
    env = {"XDS_DATA_DIR": str(data_dir), "XDS_PROFILE": "cisis", "XDS_ACCEPT_TEST_INS": "true",
           "XDS_SECURITY": "none", "XDS_SIGNATURE_TRUSTED_CERTS": str(seal[0])}
    installed = run_cli("kit", "install", "--from", str(ANS_KIT), env=env)
    assert installed.returncode == 0, installed.stderr
    process, url, _ = start_server(data_dir, env, workers=1)
    for patient in (TEST_INS, SAMPLES_PATIENT):
        added = run_cli("patient", "add", patient, env=env)
        assert added.returncode == 0, added.stderr
    yield url
    stop_server(process)


def test_submit_query_retrieve_ans_documents(cisis_server, seal, tmp_path):
    repository, registry = cisis_server + "/xds/repository", cisis_server + "/xds/registry"
    submitted = run_cli("submit", str(LEVEL1), str(CR_BIO), "--patient", TEST_INS,
                        "--repository", repository, *seal[1])
    assert submitted.returncode == 0, submitted.stderr + submitted.stdout
    unique_ids = [line.split()[0] for line in submitted.stdout.splitlines()]
    assert unique_ids[0] == "1.3.6.1.4.1.19376.1.2.20.12345.1.1"  # the CDA's id
    listed = run_cli("query", "--patient", TEST_INS, "--registry", registry)
    assert listed.returncode == 0 and "Compte rendu d'examens biologiques" in listed.stdout
    out = tmp_path / "out.xml"
    fetched = run_cli("retrieve", unique_ids[1], "--out", str(out), "--repository", repository,
                      "--registry", registry)
    assert fetched.returncode == 0, fetched.stderr
    assert out.read_bytes() == CR_BIO.read_bytes()


def test_contradicting_metadata_is_refused_over_http(cisis_server, seal, tmp_path):
    copy = tmp_path / "copy.xml"
    copy.write_bytes(LEVEL1.read_bytes().replace(b"12345.1.1\"", b"12345.1.9\""))
    refused = run_cli("submit", str(copy), "--patient", TEST_INS, "--title", "Autre titre",
                      "--repository", cisis_server + "/xds/repository", *seal[1])
    assert refused.returncode != 0
    assert "XDSRepositoryMetadataError" in refused.stderr
    assert "title 'Autre titre' but the document's title is 'Compte rendu" in refused.stderr


def test_non_ins_patient_is_refused_with_the_rule(cisis_server, seal, tmp_path):
    pdf = tmp_path / "courrier.pdf"
    pdf.write_bytes(b"%PDF-1.4\n%%EOF\n")
    refused = run_cli("submit", str(pdf), "--patient", "P1^^^&1.2.3.4&ISO",
                      "--repository", cisis_server + "/xds/repository", *seal[1],
                      "--type", "11490-0^^2.16.840.1.113883.6.1", "--service-start", "20250314",
                      "--legal-authenticator",     # what a PDF needs before it is sent
                      "810000000001^MARTIN^PAUL^^^^^^&1.2.250.1.71.4.2.1&ISO")
    assert refused.returncode != 0
    assert "is not an INS" in refused.stderr


def test_the_readme_demo_with_the_project_samples(cisis_server, seal, tmp_path):
    """cda_samples/ as docs/transactions.md submits them: three documents, then the lab report's
    replacement, whose RPLC target the CLI asks of the registry."""
    repository, registry = cisis_server + "/xds/repository", cisis_server + "/xds/registry"
    first = [str(p) for p in SAMPLES if p != LAB_REPLACEMENT]
    submitted = run_cli("submit", *first, "--patient", SAMPLES_PATIENT, "--repository", repository,
                        *seal[1])
    assert submitted.returncode == 0, submitted.stderr + submitted.stdout
    replaced = run_cli("submit", str(LAB_REPLACEMENT), "--patient", SAMPLES_PATIENT,
                       "--repository", repository, "--registry", registry, *seal[1])
    assert replaced.returncode == 0, replaced.stderr + replaced.stdout
    approved = run_cli("query", "--patient", SAMPLES_PATIENT, "--registry", registry)
    assert "1.2.250.1.999.7.1.2" in approved.stdout and "1.2.250.1.999.7.1.1" not in \
        approved.stdout                              # the original is Deprecated now
    out = tmp_path / "replacement.xml"
    fetched = run_cli("retrieve", "1.2.250.1.999.7.1.2", "--out", str(out), "--repository",
                      repository, "--registry", registry)
    assert fetched.returncode == 0 and out.read_bytes() == LAB_REPLACEMENT.read_bytes()
