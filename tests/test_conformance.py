"""The NIST XDS Toolkit tests of ../shared/reference, run unconverted by `xds-server conformance
run` over HTTP against a live server (once per database); and the runner's own honesty: a
wrong status, a wrong error code, a bad hash accepted, an assertion or instruction it does not
know, an endpoint that is down: each is reported as such, never as a pass."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from junitparser import Error, Failure, JUnitXml, Skipped
from lxml import etree

from xds_server.conformance import ebrs21
from xds_server.conformance.plan import load_plan
from xds_server.conformance.testkit import BadTestdir, discover, resolve

from .conftest import REFERENCE, free_port

TESTKIT = REFERENCE / "xds-messages" / "nist-testkit"
EBRS = REFERENCE / "schemas" / "ebxml" / "ebRS"
GROUPS = {"ITI-18": 8, "ITI-41": 6, "ITI-42": 9, "ITI-42-testdata-for-ITI-18": 1, "ITI-43": 1,
          "ITI-57": 6, "ITI-62": 2}


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("XDS_")}
    child_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "xds_server.cli", *args], capture_output=True,
                          text=True, env=child_env, timeout=600)


def run_kit(server, *dirs: Path, tmp_path: Path, feed: str = "cli",
            extra: list[str] | None = None) -> tuple[subprocess.CompletedProcess, dict, Path]:
    junit, report = tmp_path / "junit.xml", tmp_path / "report.json"
    args = ["conformance", "run", *[f"--nist-testkit={d}" for d in dirs],
            "--registry", server.url + "/xds/registry",
            "--repository", server.url + "/xds/repository",
            "--patient-feed", feed, "--data-dir", str(server.data_dir),
            "--junit", str(junit), "--json", str(report), *(extra or [])]
    result = run_cli(*args, env={"XDS_DATABASE_URL": server.database_url})
    data = json.loads(report.read_text()) if report.is_file() else {}
    return result, data, junit


def test_the_nist_tests_pass_as_shipped(live_server, tmp_path):
    result, report, junit = run_kit(live_server, TESTKIT, tmp_path=tmp_path)
    print(result.stdout[-4000:])
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    tests = report["tests"]
    assert len(tests) == 33 and all(t["verdict"] == "passed" for t in tests)
    counted = {group: sum(c.values()) for group, c in report["counts"]["tests"].items()}
    assert counted == GROUPS
    steps = [s for t in tests for s in t["steps"] if s["indexed"]]
    assert len(steps) >= 229 and all(s["verdict"] == "passed" for s in steps)
    # what the runner checked is what the testplans ask: error codes included
    codes = {s["expected"] for s in steps if s["expected"] != "Success"}
    assert {"Failure XDSMetadataVersionError", "Failure XDSMetadataUpdateOperationError",
            "Failure ReferencesExistException", "Failure XDSPatientIdDoesNotMatch"} <= codes
    # the section index.idx forgets is run and shown, not counted
    outside = [s for t in tests for s in t["steps"] if not s["indexed"]]
    assert {s["section"] for s in outside} >= {"no_matching_classcode", "patientFeed"}
    assert any(note.startswith("cleanup: ") and "refused" not in note
               for note in report["notes"])
    xml = JUnitXml.fromfile(str(junit))
    cases = [case for suite in xml for case in suite]
    assert xml.tests == len(cases) == len(steps) + len(outside)
    assert xml.failures == 0 and xml.errors == 0
    assert {suite.name for suite in xml} >= {"ITI-18/11897", "ITI-57/15801", "ITI-62/30001"}


def _copy_test(group: str, test: str, tmp_path: Path) -> Path:
    """A kit with one reference test (and 12346 when it needs it) to edit."""
    target = tmp_path / "kit" / group / test
    shutil.copytree(TESTKIT / group / test, target)
    return target


def _edit(path: Path, old: str, new: str, count: int = -1) -> None:
    text = path.read_text()
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, count))


def test_a_wrong_expectation_fails_the_step(live_server, tmp_path):
    """The registry answers right; the edited testplans expect otherwise: the error message,
    the error code, the status and the query contents are each checked."""
    test = _copy_test("ITI-42", "12004", tmp_path)
    _edit(test / "submit" / "testplan.xml",
          "<ExpectedErrorMessage>XDSNonIdenticalHash", "<ExpectedErrorMessage>XDSSomethingElse")
    _edit(test / "eval" / "testplan.xml", '<ObjectRefs count="2"/>', '<ObjectRefs count="7"/>')
    codes = _copy_test("ITI-57", "20002", tmp_path)
    _edit(codes / "eval" / "testplan.xml",      # the first step, invalid_slot
          "<ExpectedErrorCode>XDSMetadataUpdateOperationError</ExpectedErrorCode>",
          "<ExpectedErrorCode>XDSRegistryError</ExpectedErrorCode>", count=1)
    result, report, junit = run_kit(live_server, tmp_path / "kit", tmp_path=tmp_path)
    assert result.returncode == 1, result.stdout
    rows = {(s["test"], s["section"], s["step"]): s for t in report["tests"] for s in t["steps"]}
    wrong_message = rows[("12004", "submit", "resubmit_doc_diff_hash")]
    assert wrong_message["verdict"] == "failed"
    assert "no error says XDSSomethingElse" in wrong_message["detail"]
    assert "XDSNonIdenticalHash" in wrong_message["got"]
    assert rows[("12004", "eval", "submit_eval")]["verdict"] == "failed"
    wrong_code = rows[("20002", "eval", "invalid_slot")]
    assert wrong_code["verdict"] == "failed" and "no error code XDSRegistryError" in \
        wrong_code["detail"]
    assert rows[("20002", "eval", "missing_slot_newstatus")]["verdict"] == "passed"
    failures = [case for suite in JUnitXml.fromfile(str(junit)) for case in suite
                if any(isinstance(r, Failure) for r in case.result)]
    assert {case.name for case in failures} == {"resubmit_doc_diff_hash", "submit_eval",
                                                "invalid_slot"}


def test_a_bad_hash_is_sent_as_written_and_must_be_refused(live_server, tmp_path):
    """The metadata's own hash and size go to the repository with the testplan's document: a
    wrong hash gives XDSRepositoryMetadataError, and a testplan expecting Success fails."""
    test = _copy_test("ITI-41", "11966", tmp_path)
    metadata = test / "submit" / "single_doc.xml"
    text = metadata.read_text()
    first_slot = text.index("<rim:Slot")       # the template has none: the repository computes
    metadata.write_text(text[:first_slot] + '<rim:Slot name="hash"><rim:ValueList><rim:Value>'
                        + "0" * 40 + "</rim:Value></rim:ValueList></rim:Slot>"
                        + text[first_slot:])
    result, report, _ = run_kit(live_server, tmp_path / "kit", tmp_path=tmp_path)
    assert result.returncode == 1
    submit = report["tests"][0]["steps"][0]
    assert submit["verdict"] == "failed"
    assert "XDSRepositoryMetadataError" in submit["got"], submit
    _edit(test / "submit" / "testplan.xml", "<ExpectedStatus>Success</ExpectedStatus>",
          "<ExpectedStatus>Failure</ExpectedStatus><ExpectedErrorCode>"
          "XDSRepositoryMetadataError</ExpectedErrorCode>")
    _edit(test / "eval" / "testplan.xml", "<SSwithOneDoc/>\n        <DocApp/>",
          '<SubmissionSets count="0"/>')
    result, report, _ = run_kit(live_server, tmp_path / "kit", tmp_path=tmp_path)
    assert result.returncode == 0, result.stdout


def test_what_the_runner_cannot_judge_is_an_error_not_a_pass(live_server, tmp_path):
    """An ExpectedContents assertion it does not know (11990: the toolkit's schema check of
    the answer) and an instruction it does not know (11991): errors, and what depends on them
    is not run; none is a pass."""
    assertion = _copy_test("ITI-42", "11990", tmp_path)
    _edit(assertion / "eval" / "testplan.xml", "<ExpectedContents>",
          "<ExpectedContents><RegistryResponseIsValid/>")
    instruction = _copy_test("ITI-42", "11991", tmp_path)
    _edit(instruction / "submit" / "testplan.xml", "<XDSb/>",
          "<XDSb/><SomeFutureInstruction/>")
    result, report, junit = run_kit(live_server, tmp_path / "kit", tmp_path=tmp_path)
    assert result.returncode == 1
    rows = {(t["id"], s["step"]): s for t in report["tests"] for s in t["steps"]}
    unknown = rows[("11990", "by_uid")]
    assert unknown["verdict"] == "error" and "RegistryResponseIsValid" in unknown["detail"]
    assert rows[("11990", "submit")]["verdict"] == "passed"
    assert rows[("11991", "submit")]["verdict"] == "error"
    assert "SomeFutureInstruction" in rows[("11991", "submit")]["detail"]
    dependent = [s for (test, _), s in rows.items() if test == "11991" and s["step"] != "submit"]
    assert dependent and all(s["verdict"] == "not run" for s in dependent)
    errors = [case for suite in JUnitXml.fromfile(str(junit)) for case in suite
              if any(isinstance(r, Error) for r in case.result)]
    assert {case.name for case in errors} == {"by_uid", "submit"}
    assert {t["id"]: t["verdict"] for t in report["tests"]} == {"11990": "error",
                                                               "11991": "error"}


def test_without_a_feed_the_patient_feed_steps_are_not_run(live_server, tmp_path):
    """--patient-feed none: the registry does not know the test patients, submissions fail,
    and a toolkit Patient Identity Feed step is reported not run (skipped in JUnit)."""
    _copy_test("ITI-41", "11966", tmp_path)
    result, report, junit = run_kit(live_server, tmp_path / "kit", tmp_path=tmp_path,
                                    feed="none")
    assert result.returncode == 1
    steps = {s["section"]: s for s in report["tests"][0]["steps"]}
    assert steps["submit"]["verdict"] == "failed" and "XDSUnknownPatientId" in \
        steps["submit"]["got"]
    assert steps["patientFeed"]["verdict"] == "not run"
    skipped = [case for suite in JUnitXml.fromfile(str(junit)) for case in suite
               if any(isinstance(r, Skipped) for r in case.result)]
    assert [case.name for case in skipped] == ["register_new_patient_id"]


def test_a_server_that_is_down_stops_the_run_with_one_line(tmp_path):
    closed = f"http://127.0.0.1:{free_port()}/xds/registry"
    result = run_cli("conformance", "run", "--nist-testkit", str(TESTKIT), "--registry", closed)
    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1
    assert "cannot reach" in result.stderr and "nothing was run" in result.stderr


def test_no_test_in_the_directory_is_said_plainly(tmp_path):
    result = run_cli("conformance", "run", "--nist-testkit", str(tmp_path),
                     "--registry", "http://127.0.0.1:9/xds/registry")
    assert result.returncode != 0 and "no toolkit test" in result.stderr
    assert "Traceback" not in result.stderr


# --- the kit as the toolkit reads it -----------------------------------------------------------

def test_sections_come_from_index_then_the_forgotten_ones():
    kit, asked = discover([TESTKIT / "ITI-18" / "11897"])
    assert asked == ["11897"]
    sections = kit["11897"].sections
    listed = (TESTKIT / "ITI-18" / "11897" / "index.idx").read_text().split()
    assert [s.name for s in sections[:len(listed)]] == listed
    assert [(s.name, s.indexed) for s in sections[len(listed):]] == [
        ("no_matching_classcode", False)]


def test_a_top_level_plan_beside_sections_is_noted_not_run():
    kit, _ = discover([TESTKIT / "ITI-42-testdata-for-ITI-18" / "12346"])
    test = kit["12346"]
    assert "" not in [s.name for s in test.sections]
    assert any("beside the sections is not run" in note for note in test.notes)


@pytest.mark.parametrize("where, testdir, named", [
    (("12346", "rplc"), "../doc_for_rplc", ("12346", "doc_for_rplc")),
    (("11897", "approved"), "../../12346/single_doc", ("12346", "single_doc")),
    (("11966", ""), "../12346", ("12346", "")),
])
def test_testdir_is_relative_to_the_section_log(where, testdir, named):
    assert resolve(*where, testdir) == named


def test_a_testdir_that_names_nothing_is_the_plans_error():
    with pytest.raises(BadTestdir):
        resolve("12021", "retrieve", "submit")


def test_every_step_of_the_kit_is_read_without_an_unknown_instruction():
    """The reference kit uses only instructions the runner honours."""
    unknown = {(plan.parent.name, s.id): s.unsupported + s.transaction.unsupported
               for plan in TESTKIT.rglob("testplan.xml") for s in load_plan(plan)
               if s.unsupported or (s.transaction and s.transaction.unsupported)}
    assert unknown == {}


_SCHEMAS: dict[str, etree.XMLSchema] = {}


def _lcm_schema() -> etree.XMLSchema:
    if "lcm" not in _SCHEMAS:
        _SCHEMAS["lcm"] = etree.XMLSchema(etree.parse(str(EBRS / "lcm.xsd")))
    return _SCHEMAS["lcm"]


TEMPLATES_21 = sorted(p for p in TESTKIT.rglob("*.xml")
                      if b"registry:xsd:2.1" in p.read_bytes()[:400])


@pytest.mark.parametrize("path", TEMPLATES_21, ids=lambda p: str(p.relative_to(TESTKIT)))
def test_ebrs21_templates_translate_to_valid_ebrs30(path):
    translated = ebrs21.translate(etree.parse(str(path)).getroot())
    schema = _lcm_schema()
    assert schema.validate(translated), schema.error_log.last_error


def test_discovery_is_bounded_in_depth_and_follows_no_link(tmp_path):
    """`--nist-testkit /tmp` walked the whole tree before doing anything, and a link to a parent
    directory would never end (issue 18, m17): tests are looked for a few levels down, links
    to directories are not followed, hidden directories are skipped."""
    import time

    from xds_server.conformance import testkit

    shallow = tmp_path / "ITI-18" / "11897"
    shallow.mkdir(parents=True)
    (shallow / testkit.INDEX).write_text("")
    deep = tmp_path.joinpath(*["d"] * (testkit.MAX_DEPTH + 1), "12000")
    deep.mkdir(parents=True)
    (deep / testkit.INDEX).write_text("")
    hidden = tmp_path / ".git" / "13000"
    hidden.mkdir(parents=True)
    (hidden / testkit.INDEX).write_text("")
    (tmp_path / "ITI-18" / "loop").symlink_to(tmp_path)
    started = time.monotonic()
    assert testkit._walk(tmp_path) == [shallow]
    assert time.monotonic() - started < 5
