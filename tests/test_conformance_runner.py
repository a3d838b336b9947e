"""The runner on what unseen toolkit tests do (the toolkit's own kit, read in
usnistgov/iheos-toolkit2, issue #14), each case built by editing a reference test the way those
tests are written, played over HTTP against a live server (once per database):

- a Retrieve that must fail is judged on its status and codes, not on documents (50000);
- a PartialSuccess Retrieve checks the documents that came back (15816);
- ExpectedContents/DocumentEntries is evaluated (12000.1a);
- a Retrieve applies no UseId, as the toolkit's RetrieveTransaction (12021);
- a placeholder nothing fills is not sent: the step is not run, unless --param gives it
  (15816's $repuid$);
- $now$ comes after what earlier steps registered (11899 in_updatetime);
- cleanup removes every version (old ones only show at $MetadataLevel 2).
"""

from __future__ import annotations

import shutil

from lxml import etree

from xds_server.conformance import runner as runner_module
from xds_server.conformance.cleanup import clean
from xds_server.conformance.exchange import Error, Reply
from xds_server.conformance.runner import Runner

from .test_conformance import TESTKIT, _copy_test, _edit, run_cli, run_kit

RETRIEVE_REQUEST = """<tag0:DocumentRequest>
        <tag0:RepositoryUniqueId>$repuid$</tag0:RepositoryUniqueId>
        <tag0:DocumentUniqueId>$docuid1$</tag0:DocumentUniqueId>
    </tag0:DocumentRequest>"""


def _rows(report: dict) -> dict[tuple[str, str], dict]:
    return {(t["id"], s["step"]): s for t in report["tests"] for s in t["steps"]}


def test_a_retrieve_that_must_fail_is_judged_on_its_status(live_server, tmp_path):
    """NIST 50000 retrieves a removed document expecting Failure; the documents it names are
    not compared (the toolkit does not either), and a Failure that returns one fails."""
    test = _copy_test("ITI-43", "12029", tmp_path)
    _edit(test / "retrieve" / "query.xml", "$docuid1$", "1.2.3.4.5.6.7.999")
    _edit(test / "retrieve" / "testplan.xml", "<ExpectedStatus>Success", "<ExpectedStatus>Failure")
    result, report, _ = run_kit(live_server, tmp_path / "kit", tmp_path=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:]
    retrieve = _rows(report)[("12029", "retrieve")]
    assert retrieve["verdict"] == "passed" and "XDSDocumentUniqueIdError" in retrieve["got"]


def test_a_partial_success_checks_the_documents_returned(live_server, tmp_path):
    """NIST 15816 asks for a registered document and a made-up one, expecting
    PartialSuccess: the one returned is checked, the other is missing by design."""
    test = _copy_test("ITI-43", "12029", tmp_path)
    query = test / "retrieve" / "query.xml"
    _edit(query, RETRIEVE_REQUEST, RETRIEVE_REQUEST + RETRIEVE_REQUEST.replace(
        "$docuid1$", "1.2.3.4.5.6.7.999"))
    _edit(test / "retrieve" / "testplan.xml", "<ExpectedStatus>Success",
          "<ExpectedStatus>PartialSuccess")
    result, report, _ = run_kit(live_server, tmp_path / "kit", tmp_path=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:]
    assert _rows(report)[("12029", "retrieve")]["got"].startswith("PartialSuccess")
    _edit(test / "retrieve" / "testplan.xml", "<ExpectedStatus>PartialSuccess",
          "<ExpectedStatus>Success")            # then the missing document fails the step
    result, report, _ = run_kit(live_server, tmp_path / "kit", tmp_path=tmp_path)
    retrieve = _rows(report)[("12029", "retrieve")]
    assert retrieve["verdict"] == "failed" and "not returned" in retrieve["detail"]


DOCUMENT_ENTRIES = """<ExpectedContents>
        <DocumentEntries><{selection}><DocumentEntry>
          <UseId testdir="../submit" id="Document01" symbol="$uuid$" step="submit"
                 section="AssignedUuids"/>
          <DocumentEntryType>urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1</DocumentEntryType>
        </DocumentEntry></{selection}></DocumentEntries>"""


def test_document_entries_are_checked(live_server, tmp_path):
    """NIST 12000.1a: DocumentEntries/MustOnlyInclude names the entry a query must return,
    alone; Exclude one it must not."""
    kit = tmp_path / "kit" / "ITI-42"
    for name, selection in (("11990", "MustOnlyInclude"), ("11990-exclude", "Exclude")):
        shutil.copytree(TESTKIT / "ITI-42" / "11990", kit / name)
        _edit(kit / name / "submit" / "testplan.xml", "<XDSb/>", "<XDSb/><AssignUuids/>")
        _edit(kit / name / "eval" / "testplan.xml", "<ExpectedContents>",
              DOCUMENT_ENTRIES.format(selection=selection))
    _result, report, _ = run_kit(live_server, tmp_path / "kit", tmp_path=tmp_path)
    rows = _rows(report)
    assert rows[("11990", "by_uid")]["verdict"] == "passed", rows[("11990", "by_uid")]
    excluded = rows[("11990-exclude", "by_uid")]
    assert excluded["verdict"] == "failed" and "is in the answer (Exclude)" in \
        excluded["detail"]


def test_a_retrieve_applies_no_use_id(live_server, tmp_path):
    """NIST 12021 writes UseId testdir="submit" in a Retrieve, a path that names nothing: the
    toolkit never applies a Retrieve's UseId (no metadata processing), nor does the runner."""
    test = _copy_test("ITI-43", "12029", tmp_path)
    _edit(test / "retrieve" / "testplan.xml", "<XDSb/>", '<XDSb/><UseId testdir="submit" '
          'id="Document01" symbol="$docuid1$" step="submit" section="AssignedUids"/>')
    result, report, _ = run_kit(live_server, tmp_path / "kit", tmp_path=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:]
    assert _rows(report)[("12029", "retrieve")]["verdict"] == "passed"


def test_an_unfilled_placeholder_is_not_sent(live_server, tmp_path):
    """NIST 15816 leaves $repuid$ to the toolkit's UI: without it the step is not run (never
    failed on the endpoint's account); given with --param, it is run and passes."""
    test = _copy_test("ITI-43", "12029", tmp_path)
    testplan = test / "retrieve" / "testplan.xml"
    text = testplan.read_text()
    start = text.index('<UseReport reportName="repuid"')
    testplan.write_text(text[:start] + text[text.index("/>", start) + 2:])
    result, report, _ = run_kit(live_server, tmp_path / "kit", tmp_path=tmp_path)
    retrieve = _rows(report)[("12029", "retrieve")]
    assert retrieve["verdict"] == "not run" and "$repuid$" in retrieve["detail"]
    config = run_cli("config", "--data-dir", str(live_server.data_dir)).stdout
    repository = next(line.split()[1] for line in config.splitlines()
                      if line.startswith("repository_unique_id"))
    result, report, _ = run_kit(live_server, tmp_path / "kit", tmp_path=tmp_path,
                                extra=[f"--param=$repuid$={repository}"])
    assert result.returncode == 0, result.stdout[-3000:]
    assert _rows(report)[("12029", "retrieve")]["verdict"] == "passed"


def test_a_bad_parameter_is_said_plainly(tmp_path):
    result = run_cli("conformance", "run", "--nist-testkit", str(TESTKIT / "ITI-43" / "12029"),
                     "--registry", "http://127.0.0.1:9/xds/registry", "--param", "repuid=1")
    assert result.returncode == 2 and "expected '$NAME$=VALUE'" in result.stderr
    assert "Traceback" not in result.stderr


def test_now_comes_after_the_last_write(monkeypatch):
    """$now$ is to the second: filled in the second of a registration, a time range ending at
    $now$ (exclusive) would miss it. The runner waits for the next second, then only."""
    clock = {"now": 1000.25}
    slept: list[float] = []
    monkeypatch.setattr(runner_module.time, "time", lambda: clock["now"])
    monkeypatch.setattr(runner_module.time, "sleep", lambda s: slept.append(s))
    run = Runner({}, None, None)                      # type: ignore[arg-type]
    run.last_write = 1000.10
    run.after_last_write()
    assert len(slept) == 1 and 0.7 < slept[0] <= 0.8
    clock["now"] = 1001.02                            # already the next second
    run.after_last_write()
    assert len(slept) == 1


class _Endpoints:
    """A registry and repository that hold one document whose bytes a test removed already."""

    repository = "repository"

    def __init__(self) -> None:
        self.asked: list[etree._Element] = []

    def send(self, iti: str, payload: etree._Element, binaries=(), mtom: bool = True) -> Reply:
        self.asked.append(payload)
        if iti == "ITI-86":
            return Reply(status=RESPONSE + "Failure", errors=[Error(
                "XDSDocumentUniqueIdError", "not held", "", "")])
        leaf = payload.find("{*}ResponseOption").get("returnType") == "LeafClass"
        answer = etree.fromstring(ANSWER if leaf else EMPTY)
        return Reply(status=RESPONSE + "Success", payload=answer)


RESPONSE = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:"
EMPTY = ('<q:AdhocQueryResponse xmlns:q="urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0" '
         'xmlns:r="urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"><r:RegistryObjectList/>'
         '</q:AdhocQueryResponse>')
ANSWER = EMPTY.replace("<r:RegistryObjectList/>", (
    '<r:RegistryObjectList><r:ExtrinsicObject id="urn:uuid:1">'
    '<r:Slot name="repositoryUniqueId"><r:ValueList><r:Value>1.2.3</r:Value></r:ValueList>'
    '</r:Slot><r:ExternalIdentifier identificationScheme="urn:uuid:2e82c1f6-a085-4c72-9da3-'
    '8640a32e42ab" value="1.2.3.4"/></r:ExtrinsicObject></r:RegistryObjectList>'))


def test_cleanup_sees_every_version_and_what_is_gone_already():
    """Cleanup asks $MetadataLevel 2 (old versions, Deprecated associations: a level 1 answer
    would leave them, and ITI-62 refuse the rest); a document an ITI-86 test removed is gone
    already, not a refusal."""
    endpoints = _Endpoints()
    line = clean(endpoints, ["P1^^^&1.2&ISO"], {"1.2.3.4"})  # type: ignore[arg-type]
    assert "1 documents were gone already" in line and "refused" not in line, line
    levels = [slot.findtext("{*}ValueList/{*}Value") for request in endpoints.asked
              for slot in request.iter("{*}Slot") if slot.get("name") == "$MetadataLevel"]
    queries = [r for r in endpoints.asked if r.find("{*}ResponseOption") is not None]
    assert levels and len(levels) == len(queries) and set(levels) == {"2"}


class _GivenPatient:
    """A registry that holds the user's object u1 for a --param patient, then also the run's
    u2 (and its association a2)."""

    repository = None

    def __init__(self) -> None:
        self.held = {"urn:uuid:u1"}
        self.removed: list[set[str]] = []

    def send(self, iti: str, payload: etree._Element, binaries=(), mtom: bool = True) -> Reply:
        if iti == "ITI-62":
            self.removed.append({r.get("id") for r in payload.iter("{*}ObjectRef")})
            return Reply(status=RESPONSE + "Success")
        asked = payload.find("{*}AdhocQuery").get("id")
        ids = sorted(self.held) if asked.endswith("eddf3") else []   # GetAll; no associations
        refs = "".join(f'<r:ObjectRef id="{i}"/>' for i in ids)
        return Reply(status=RESPONSE + "Success", payload=etree.fromstring(
            EMPTY.replace("<r:RegistryObjectList/>", f"<r:RegistryObjectList>{refs}"
                                                     "</r:RegistryObjectList>")))


def test_cleanup_removes_what_the_run_added_to_a_given_patient_and_nothing_else():
    """A patient given with --param is the user's: the run's objects for it are removed (they
    were left behind), the ones it had before are not."""
    from xds_server.cli_conformance import _given_patients
    from xds_server.conformance.cleanup import snapshot

    patient = "T3A1^^^&1.3.6.1.4.1.21367.13.20.1000&ISO"
    assert _given_patients({"$patient_id1$": patient, "$repuid$": "1.2.3"}) == [patient]
    endpoints = _GivenPatient()
    before = snapshot(endpoints, [patient])                  # type: ignore[arg-type]
    endpoints.held |= {"urn:uuid:u2", "urn:uuid:a2"}         # what the run registered
    line = clean(endpoints, [], set(), before)                # type: ignore[arg-type]
    assert endpoints.removed == [{"urn:uuid:u2", "urn:uuid:a2"}], line
    assert "2 registry objects" in line and "given by --param" in line


def test_an_expected_status_nobody_knows_is_the_plans_error():
    """A typo (`Sucess`) in ExpectedStatus cannot be judged: an error of the run, never the
    endpoint's failure."""
    from types import SimpleNamespace

    import pytest

    from xds_server.conformance.judge import PlanError, status_problems

    step = SimpleNamespace(expected_statuses=["Sucess"], expected_error_message=None,
                           expected_error_code=None)
    with pytest.raises(PlanError, match="Sucess"):
        status_problems(step, Reply(status=RESPONSE + "Success"))   # type: ignore[arg-type]
