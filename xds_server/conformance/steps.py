"""One toolkit test step played against the endpoints: build the message, send it, judge the
answer, log what later steps read. Each step gives one Row with its verdict:

- passed: what came back is what the testplan expects;
- failed: it is not (the endpoint's doing);
- error: the runner cannot run or judge the step as written (an instruction or assertion it
  does not know, an unreadable file): never counted as passed;
- not run: the step needs what this run does not have (no --repository, no patient feed, a
  value an earlier step failed to give).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from . import contents, judge
from .exchange import REPOSITORY_SIDE, Reply, Unreachable
from .linkage import unfilled
from .log import Missing, StepRecord, add_xml, evaluate_report
from .patients import FeedError
from .plan import Step, Transaction, use_id_of
from .prepare import Prepared, TemplateError, prepare
from .scope import PATIENT, Scope
from .testkit import BadTestdir
from .transmit import send

PASSED, FAILED, ERROR, NOT_RUN = "passed", "failed", "error", "not run"


@dataclass
class Row:
    test: str
    group: str
    section: str
    step: str
    transaction: str
    expected: str
    got: str
    verdict: str
    detail: str = ""
    seconds: float = 0.0
    indexed: bool = True         # False: its section is not in index.idx (see testkit.py)


class _Verdict(Exception):
    def __init__(self, verdict: str, detail: str, got: str = "") -> None:
        super().__init__(detail)
        self.verdict, self.detail, self.got = verdict, detail, got


def play(scope: Scope, step: Step) -> Row | None:
    """Run `step`; None for a step that only sets the test's state (NewPatientId alone)."""
    alt_patient = scope.run.patients.new() if step.alt_patient_id else None
    if step.new_patient_id:
        scope.state.patient = scope.run.patients.new()
    t = step.transaction
    if t is None and not step.unsupported:
        return None
    kind = (t.iti or t.kind) if t else "-"
    row = Row(scope.test.id, scope.test.group, scope.section.name, step.id, kind,
              step.expected, "", PASSED, indexed=scope.section.indexed)
    record = scope.log.start(step.id, t.kind if t else "")
    started = time.monotonic()
    try:
        unsupported = step.unsupported + (t.unsupported if t else [])
        if unsupported:
            raise _Verdict(ERROR, "not supported by this runner: " + ", ".join(unsupported))
        assert t is not None
        row.got, problems = _run(scope, step, t, record, alt_patient)
        if problems:
            row.verdict, row.detail = FAILED, "; ".join(problems)
    except _Verdict as verdict:
        row.verdict, row.detail, row.got = verdict.verdict, verdict.detail, verdict.got
    except Missing as missing:
        row.verdict, row.detail = NOT_RUN, f"needs {missing}"
    except (TemplateError, judge.PlanError, contents.UnknownAssertion, BadTestdir) as exc:
        row.verdict, row.detail = ERROR, str(exc)
    except FeedError as exc:
        row.verdict, row.detail = NOT_RUN, f"patient feed failed: {exc}"
    except Unreachable:
        raise
    except Exception as exc:     # a test the runner chokes on is an ERROR row, not a crash
        row.verdict, row.detail = ERROR, f"the runner could not run this step: " \
                                         f"{type(exc).__name__}: {exc}"
    row.seconds = time.monotonic() - started
    record.verdict = row.verdict
    if row.verdict != PASSED:
        record.reports.clear()
    return row


def _run(scope: Scope, step: Step, t: Transaction, record: StepRecord,
         alt_patient: str | None) -> tuple[str, list[str]]:
    if t.kind == "NullTransaction":
        return _assertions(scope, t)
    if t.kind == "PatientIdentityFeedTransaction":
        return _feed(scope, t, record)
    if t.iti in REPOSITORY_SIDE and scope.run.endpoints.repository is None:
        raise _Verdict(NOT_RUN, f"{t.iti} needs --repository")
    if t.wait_ms:
        time.sleep(t.wait_ms / 1000)
    prepared = prepare(scope, step, t, record, alt_patient)
    left = unfilled(prepared.message)
    if left:
        raise _Verdict(NOT_RUN, f"the message still holds {', '.join(left)}: no step, report "
                                "or test parameter gave it a value (the toolkit's test "
                                "parameters, typed in its UI, are given with --param)")
    reply, documents, unbound = send(scope, t, prepared, record)
    add_xml(record, "Result", reply.payload)
    if t.iti == "ITI-43":
        problems = _retrieve_problems(scope, step, t, prepared, reply, documents)
    else:
        problems = judge.status_problems(step, reply)
    if t.expected_contents is not None:
        problems += contents.check(t.expected_contents, reply.payload,
                                   lambda e: scope.use_id(use_id_of(e), step.id))
    if not problems and "Fault" not in judge.expected_statuses(step):
        _publish_reports(scope, t, record, prepared, reply)
    detail_errors = "; ".join(str(e) for e in reply.errors)
    if problems and detail_errors:
        problems.append(f"the answer says: {detail_errors}"[:400])
    got = reply.summary()
    if unbound:
        got += f" (ReferenceDocument {', '.join(unbound)} not compared: bound by UseReport, " \
               "which the toolkit does not bind)"
    return got, problems


def _assertions(scope: Scope, t: Transaction) -> tuple[str, list[str]]:
    if any(file == "THIS" for file, _ in t.data_refs):
        unheard = [r.step for r in scope.log.steps.values() if r.verdict in (NOT_RUN, ERROR)]
        if unheard:     # their answers are not in the log: the assertions would judge nothing
            raise Missing(f"the answers of step {', '.join(unheard)} of {scope.path}, which "
                          "did not run")
    values = {use.use_as: scope.use_report(use) for use in t.use_reports}
    assertions = []
    for ident, xpath in t.assertions:
        for symbol, value in values.items():
            xpath = xpath.replace(symbol, value)
        assertions.append((ident, xpath))
    if not assertions:
        raise judge.PlanError("NullTransaction without assertions to evaluate")
    problems = judge.assertion_problems(assertions, t.data_refs, scope.log)
    return f"{len(assertions) - len(problems)}/{len(assertions)} assertions hold", problems


def _feed(scope: Scope, t: Transaction, record: StepRecord) -> tuple[str, list[str]]:
    patients = scope.run.patients
    if not patients.can_feed:
        raise _Verdict(NOT_RUN, "--patient-feed none: the registry must know the patient by "
                                "other means")
    if t.create_new_patient:
        scope.state.patient = patients.new()
    patient = t.feed_patient or scope.state.patient
    patients.ensure_fed(patient)
    record.reports[PATIENT] = patient
    return f"fed {patient}", []


def _retrieve_problems(scope: Scope, step: Step, t: Transaction, prepared: Prepared,
                       reply: Reply, files: dict[str, bytes]) -> list[str]:
    problems = judge.status_problems(step, reply)
    expected = judge.expected_statuses(step)
    if reply.fault or step.expected_error_message or step.expected_error_code:
        return problems
    if "Success" not in expected and "PartialSuccess" not in expected:
        return problems + judge.failed_retrieve_problems(reply)
    partial = "PartialSuccess" in expected and reply.short_status == "PartialSuccess"
    reference = None
    if t.reference_metadata:
        testdir, ref_step = t.reference_metadata
        reference = scope.record(testdir, ref_step, step.id).result()
    requested = judge.requested_documents(prepared.message)
    return problems + judge.retrieve_problems(requested, reply, reference,
                                              t.expected_mime_type, files, partial)


def _publish_reports(scope: Scope, t: Transaction, record: StepRecord, prepared: Prepared,
                     reply: Reply) -> None:
    """What later steps may UseReport: the test parameters, <id>_uid/<id>_uuid, the Report
    XPaths and, for a Retrieve, $repuid_docN$ and friends."""
    reports = dict(scope.params())
    reports.update(prepared.reports)
    for report in t.reports:
        reports[report.name] = evaluate_report(record, report.section, report.xpath)
    for index, document in enumerate(reply.documents.values()):
        reports.update({f"$repuid_doc{index}$": document.repository,
                        f"$mimetype_doc{index}$": document.mime_type,
                        f"$hash_doc{index}$": document.sha1,
                        f"$size_doc{index}$": str(len(document.data))})
    record.reports.update(reports)
