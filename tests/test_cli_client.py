"""The client commands against a running server, from a shell: the server found by
XDS_SERVER_URL alone, a directory submitted one document a line, `query --json` with the status,
confidentiality and visibility of each document, and `update` / `remove` doing what they say."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from .cli_run import _environment, run_in_process, run_process
from .conftest import start_server, stop_server

pytestmark = pytest.mark.http

SAMPLES = Path(__file__).resolve().parents[1] / "cda_samples"
INS = "285067512345639^^^&1.2.250.1.213.1.4.10&ISO^NH"
LAB, LAB_RPLC, LETTER, VSM = ("1.2.250.1.999.7.1.1", "1.2.250.1.999.7.1.2",
                              "1.2.250.1.999.7.2.1", "1.2.250.1.999.7.3.1")
PLATFORM = {"XDS_PROFILE": "cisis", "XDS_SECURITY": "none", "XDS_ACCEPT_TEST_INS": "true",
            "XDS_REQUIRE_SUBMISSION_SIGNATURE": "false"}


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("client") / "var"
    process, url, _ = start_server(data_dir, {**PLATFORM}, workers=1)
    env = {"XDS_DATA_DIR": str(data_dir), "XDS_SERVER_URL": url}
    try:
        assert _shell(env, "patient", "add", INS).returncode == 0
        yield env
    finally:
        stop_server(process)


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """In this process (tests/cli_run.py); each command family also runs once from a shell
    (`_shell`): patient add, submit, query, update, remove and retrieve."""
    return run_in_process(*args, env=env)


def _shell(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return run_process(*args, env=env)


def _listing(env, *statuses: str) -> dict[str, dict]:
    args = [a for s in statuses for a in ("--status", s)]
    done = _cli(env, "query", "--patient", INS, "--json", *args)
    assert done.returncode == 0, done.stderr
    return {row["uniqueId"]: row for row in json.loads(done.stdout)}


def test_a_directory_is_submitted_one_line_a_document(platform):
    done = _shell(platform, "submit", str(SAMPLES), "--patient", INS)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [line.split()[0] for line in lines[:-1]] == [LAB, LAB_RPLC, LETTER, VSM]
    assert lines[-1] == "4 submitted, 0 refused"
    assert "\r" not in done.stderr            # no progress bar when stderr is not a terminal
    again = _cli(platform, "submit", str(SAMPLES / "VSM_synthese.xml"), "--each",
                 "--patient", "1^^^&1.2.3&ISO")
    assert again.returncode == 1               # refused: not an INS
    assert "refused:" in again.stderr and "0 submitted, 1 refused" in again.stdout


def test_a_file_that_is_no_document_or_no_cda_is_said_so(platform, tmp_path):
    """Nothing is sent for an empty file; a refused file that is not a CDA is named as such,
    its metadata being the command's guesses (issue 18, m4)."""
    empty = tmp_path / "empty.xml"
    empty.write_bytes(b"")
    refused = _cli(platform, "submit", str(empty), "--patient", INS)
    assert refused.returncode == 2 and "is empty: nothing to submit" in refused.stderr
    # a file the command cannot describe is not sent (issue 18, R6: /etc/shadow, a script)
    secret = tmp_path / "shadow"
    secret.write_text("root:$6$salt$hash:19000:0:99999:7:::\n")
    notes = tmp_path / "notes.xml"
    notes.write_text("<notes>not a CDA</notes>")
    before = _listing(platform, "Approved")
    for path, why in ((SAMPLES / "build.py", "neither a CDA, a PDF nor .txt text"),
                      (secret, "neither a CDA"), (notes, "XML that is not a CDA")):
        refused = _cli(platform, "submit", str(path), "--patient", INS)
        assert refused.returncode == 2, refused.stderr
        assert f"{path}: {why}" in refused.stderr and "nothing sent" in refused.stderr
    assert _listing(platform, "Approved") == before
    bad = _cli(platform, "submit", str(secret), "--patient", INS, "--mime-type", "nonsense")
    assert bad.returncode == 2 and "'nonsense' is not a mime type" in bad.stderr
    # given explicitly, it is the source's choice: sent (and here, under the CI-SIS rules,
    # refused by the server for the metadata a CDA would have given)
    script = _cli(platform, "submit", str(SAMPLES / "build.py"), "--patient", INS,
                  "--mime-type", "text/x-python")
    assert script.returncode == 1, script.stderr
    assert "request id" in script.stderr and "build.py: not a CDA" in script.stderr


def test_query_shows_status_confidentiality_and_visibility(platform):
    rows = _listing(platform, "Approved", "Deprecated")
    assert rows[LAB]["status"] == "Deprecated" and rows[LAB_RPLC]["status"] == "Approved"
    assert rows[VSM]["confidentiality"] == "N" and rows[VSM]["visibility"] == "-"
    table = _shell(platform, "query", "--patient", INS)
    header = table.stdout.splitlines()[0].split()
    assert header == ["title", "type", "date", "status", "confidentiality", "visibility",
                      "version", "uniqueId"]
    assert table.stdout.splitlines()[-1] == "3 document(s)"


def test_mask_and_unmask_make_new_versions(platform):
    masked = _shell(platform, "update", "mask", VSM)
    assert masked.returncode == 0, masked.stderr
    row = _listing(platform)[VSM]
    assert row["visibility"] == "MASQUE_PS" and row["version"] == "2"
    twice = _cli(platform, "update", "mask", VSM)
    assert twice.returncode == 1 and "already has MASQUE_PS" in twice.stderr
    assert _cli(platform, "update", "unmask", VSM).returncode == 0
    row = _listing(platform)[VSM]
    assert row["visibility"] == "-" and row["version"] == "3"


def test_archive_unarchive_delete_and_a_new_version(platform):
    assert _cli(platform, "update", "archive", LETTER).returncode == 0
    assert _listing(platform, "Archived")[LETTER]["status"] == "Archived"
    refused = _cli(platform, "update", "archive", LETTER)
    assert refused.returncode == 1 and "is Archived; archive applies to Approved" in \
        refused.stderr
    assert _cli(platform, "update", "unarchive", LETTER).returncode == 0
    retitled = _cli(platform, "update", "version", LETTER, "--title", "Courrier corrige",
                    "--confidentiality", "R^^2.16.840.1.113883.5.25")
    assert retitled.returncode == 0, retitled.stderr
    row = _listing(platform)[LETTER]
    assert (row["title"], row["confidentiality"], row["version"]) == ("Courrier corrige", "R",
                                                                     "2")
    assert _cli(platform, "update", "delete", LETTER).returncode == 0
    assert _listing(platform, "Deleted")[LETTER]["status"] == "Deleted"
    unknown = _cli(platform, "update", "archive", "1.2.3.4.5.404")
    assert unknown.returncode == 1 and "knows no document with uniqueId 1.2.3.4.5.404" in \
        unknown.stderr


def test_remove_takes_bytes_versions_and_links(platform, tmp_path):
    """IHE RMD's order: the registry entries (ITI-62), then the bytes (ITI-86); bytes alone
    are refused while an entry names them (a registered document stays retrievable)."""
    early = _cli(platform, "remove", "--documents-only", LAB_RPLC)
    assert early.returncode == 1
    assert "ITI-86 Failure" in early.stderr and LAB_RPLC in early.stderr
    assert "must be removed first (ITI-62" in early.stderr
    assert LAB_RPLC in _listing(platform, "Approved", "Deprecated")
    done = _shell(platform, "remove", LAB_RPLC, LAB)
    assert done.returncode == 0, done.stderr
    assert done.stdout.index("removed from the registry") < \
        done.stdout.index("removed from the repository")
    assert LAB_RPLC not in _listing(platform, "Approved", "Deprecated")
    fetched = _shell(platform, "retrieve", LAB_RPLC, "--out", str(tmp_path / "x.xml"),
                   "--repository-id", "1.2.3")
    assert fetched.returncode == 1 and not (tmp_path / "x.xml").exists()


def test_a_replacement_in_the_set_of_what_it_replaces_is_explained(platform):
    files = [str(SAMPLES / "CR-BIO_glycemie-creatinine.xml"),
             str(SAMPLES / "CR-BIO_glycemie-creatinine_RPLC.xml")]
    done = _cli(platform, "submit", *files, "--patient", INS)
    assert done.returncode == 1
    assert f"a document replaces {LAB}, which is in the same submission" in done.stderr
    assert "--each" in done.stderr


def test_remove_leaves_a_set_that_still_holds_documents(tmp_path):
    """Removing one of two documents of a set keeps the set (ITI-62 would refuse to leave it
    empty, so removing the second takes the set too)."""
    data_dir = tmp_path / "var"
    process, url, _ = start_server(data_dir, {"XDS_PROFILE": "ihe"}, workers=1)
    # the client's settings say the server's rules: a .txt goes without a CDA's metadata
    env = {"XDS_DATA_DIR": str(data_dir), "XDS_SERVER_URL": url, "XDS_PROFILE": "ihe"}
    patient = "IHE1^^^&1.2.3.4.5&ISO"
    try:
        assert _cli(env, "patient", "add", patient).returncode == 0
        files = []
        for name in ("first", "second"):
            files.append(tmp_path / f"{name}.txt")
            files[-1].write_text(f"the {name} note\n")
        sent = _cli(env, "submit", *map(str, files), "--patient", patient)
        assert sent.returncode == 0, sent.stderr
        first, second = [line.split()[0] for line in sent.stdout.splitlines()]
        done = _cli(env, "remove", first)
        assert done.returncode == 0, done.stderr
        kept = _cli(env, "retrieve", second, "--out", str(tmp_path / "second.out"))
        assert kept.returncode == 0 and (tmp_path / "second.out").read_text() == \
            "the second note\n"
        last = _cli(env, "remove", second)
        assert last.returncode == 0, last.stderr
        assert "removed from the registry: 3 object(s)" in last.stdout   # entry, link, set
        assert _cli(env, "patient", "forget", patient).returncode == 0   # nothing left
    finally:
        stop_server(process)


def test_a_document_submitted_twice_is_changed_and_removed_whole(tmp_path):
    """IHE accepts a document submitted again (same uniqueId and hash) as a second entry. A
    change names the entry it applies to (the Approved one; several: refused, naming them, until
    --entry picks one) and `remove` takes every entry of the uniqueId with the bytes: no entry is
    left naming bytes that are gone (issue 18, M1)."""
    import re

    data_dir = tmp_path / "var"
    process, url, _ = start_server(data_dir, {**PLATFORM}, workers=1)
    env = {"XDS_DATA_DIR": str(data_dir), "XDS_SERVER_URL": url}
    try:
        assert _cli(env, "patient", "add", INS).returncode == 0
        for _ in range(2):
            sent = _cli(env, "submit", str(SAMPLES / "VSM_synthese.xml"), "--patient", INS)
            assert sent.returncode == 0, sent.stderr
        ambiguous = _cli(env, "update", "mask", VSM)
        assert ambiguous.returncode == 1 and "names 2 registered entries" in ambiguous.stderr
        first, second = re.findall(r"urn:uuid:[0-9a-f-]{36}", ambiguous.stderr)
        deleted = _cli(env, "update", "delete", VSM, "--entry", second)
        assert deleted.returncode == 0, deleted.stderr
        masked = _cli(env, "update", "mask", VSM)          # the Approved copy, not the Deleted
        assert masked.returncode == 0, masked.stderr
        assert _listing(env, "Approved")[VSM]["visibility"] == "MASQUE_PS"
        unknown = _cli(env, "update", "mask", VSM, "--entry", "urn:uuid:" + "0" * 8 + "-0000-"
                       "0000-0000-" + "0" * 12)
        assert unknown.returncode == 1 and f"{second} (Deleted)" in unknown.stderr
        assert first not in unknown.stderr        # masked: its new version is the Approved one
        assert "(Approved)" in unknown.stderr
        removed = _cli(env, "remove", VSM)
        assert removed.returncode == 0, removed.stderr
        assert VSM not in _listing(env, "Approved", "Deprecated", "Deleted")
        gone = _cli(env, "retrieve", VSM, "--out", str(tmp_path / "vsm.xml"))
        assert gone.returncode == 1 and not (tmp_path / "vsm.xml").exists()
    finally:
        stop_server(process)


def test_a_files_mime_type_is_what_its_bytes_are(tmp_path):
    """A PDF named .xml was recognised as a PDF but sent as text/xml (the type came from the
    name) and refused; a password file named .xml was called 'XML that is not a CDA' (issue
    18, m10)."""
    from xds_server.consumer.sources import SourceOptions, document_for_file, unsendable

    pdf = tmp_path / "report.xml"
    pdf.write_bytes(b"%PDF-1.4\n%%EOF\n")
    shadow = tmp_path / "shadow.xml"
    shadow.write_text("root:*:19000:0:99999:7:::\n")
    options = SourceOptions()
    assert unsendable(pdf, options) is None
    assert document_for_file(pdf, INS, options).mime_type == "application/pdf"
    assert unsendable(shadow, options) == "named .xml but not XML: neither a CDA, a PDF nor " \
        ".txt text"
    assert document_for_file(SAMPLES / "VSM_synthese.xml", INS, options).mime_type == "text/xml"
    given = SourceOptions(mime_type="application/x-custom")
    assert document_for_file(pdf, INS, given).mime_type == "application/x-custom"


def test_a_new_version_to_a_full_stdout_says_it_was_made(platform):
    """outsider 18f F2: exit 2 "cannot write the standard output" for a version that was
    made; a retry made a third one."""
    before = int(_listing(platform)[VSM]["version"])
    with open("/dev/full", "w") as full:
        done = subprocess.run([sys.executable, "-m", "xds_server.cli", "update", "version", VSM,
                               "--title", "T2"], stdout=full, stderr=subprocess.PIPE,
                              text=True, env=_environment(platform), timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"done (updated: {VSM} version {before + 1})" in done.stderr
    assert int(_listing(platform)[VSM]["version"]) == before + 1
