"""Plays conformance scenarios over HTTP against any XDS.b registry (and repository).

It does what the NIST toolkit does with its test plans: feeds a patient, gives each submission
fresh uniqueIds (and UUIDs when asked), fills placeholders from earlier steps, sends, and checks
the status, the error code and what a query returns. Every step gives one row: scenario, step,
expected, got.
"""

from __future__ import annotations

import copy
import dataclasses
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

from lxml import etree

from ..consumer.transport import SoapClient, TransportError
from ..model import vocabulary as v
from ..model.content import Attachment
from .checks import check_contents
from .scenario import Scenario, Step, Use

RIM = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"
LCM = "urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0"
RS = "urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0"
ACTIONS = {"ITI-42": "urn:ihe:iti:2007:RegisterDocumentSet-b",
           "ITI-18": "urn:ihe:iti:2007:RegistryStoredQuery",
           "ITI-41": "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b",
           "ITI-43": "urn:ihe:iti:2007:RetrieveDocumentSet",
           "ITI-57": "urn:ihe:iti:2010:UpdateDocumentSet",
           "ITI-62": "urn:ihe:iti:2010:DeleteDocumentSet"}
REPOSITORY_TRANSACTIONS = {"ITI-41", "ITI-43"}
REGISTRATIONS = ("ITI-42", "ITI-41", "ITI-57")   # messages whose ids the runner assigns
XDSB = "urn:ihe:iti:xds-b:2007"
REGISTRY_TRANSACTIONS = {"ITI-42", "ITI-18", "ITI-57", "ITI-62", "patient-feed", "new-patient",
                         "assert", "none"}
UNIQUE_ID_SCHEMES = (v.DE_UNIQUE_ID, v.SS_UNIQUE_ID, v.FOL_UNIQUE_ID)
PATIENT_SCHEMES = (v.DE_PATIENT_ID, v.SS_PATIENT_ID, v.FOL_PATIENT_ID)
REFERENCE_ATTRIBUTES = ("sourceObject", "targetObject", "classifiedObject", "registryObject")
NIST_AUTHORITY = "1.3.6.1.4.1.21367.13.20.1000"
GET_SS_AND_CONTENTS = "urn:uuid:e8e3cb2c-e39c-46b9-99e4-c12f57260b83"

PatientFeed = Callable[[str], None]


@dataclass
class StepRecord:
    patient: str | None = None
    uids: dict[str, str] = field(default_factory=dict)
    uuids: dict[str, str] = field(default_factory=dict)
    reports: dict[str, str] = field(default_factory=dict)
    output: etree._Element | None = None
    input: etree._Element | None = None     # the metadata a registration or update sent
    set_uid: str | None = None
    sent: dict[str, bytes] = field(default_factory=dict)  # uniqueId -> document bytes


@dataclass
class Row:
    scenario: str
    step: str
    expected: str
    got: str
    passed: bool
    detail: str = ""


class StepFailure(Exception):
    pass


def new_patient_id() -> str:
    return f"CONF{uuid.uuid4().hex[:12].upper()}^^^&{NIST_AUTHORITY}&ISO"


def new_oid() -> str:
    return f"2.25.{uuid.uuid4().int}"


class Runner:
    def __init__(self, registry_url: str, patient_feed: PatientFeed | None,
                 scenarios: dict[str, Scenario], repository_url: str | None = None,
                 timeout: float = 60.0) -> None:
        self.registry = SoapClient(registry_url, timeout=timeout)
        self.repository = SoapClient(repository_url, timeout=timeout) if repository_url else None
        self.feed = patient_feed
        self.scenarios = scenarios
        self.records: dict[tuple[str, str, str], StepRecord] = {}
        self.rows: list[Row] = []
        self._done: set[str] = set()
        self._patients: dict[tuple[str, str], str] = {}

    # --- scenarios ----------------------------------------------------------------------------

    def run(self, selected: list[Scenario]) -> list[Row]:
        for scenario in selected:
            self._run_with_requirements(scenario)
        return self.rows

    def _run_with_requirements(self, scenario: Scenario) -> None:
        if scenario.id in self._done:
            return
        self._done.add(scenario.id)
        for required in scenario.requires:
            if required in self.scenarios:
                self._run_with_requirements(self.scenarios[required])
        last_output: etree._Element | None = None
        for step in scenario.steps:
            record = StepRecord()
            expected = step.expected_status + (f" {step.expected_error}"
                                               if step.expected_error else "")
            try:
                got, detail, passed = self._play(scenario, step, record, last_output)
            except StepFailure as failure:
                got, detail, passed = "not run", str(failure), False
            except TransportError as failure:
                got, detail, passed = "no answer", str(failure), False
            except Exception as failure:  # a bad scenario file must not stop the whole run
                got, detail, passed = "runner error", f"{type(failure).__name__}: {failure}", False
            self.records[(scenario.id, step.section, step.step)] = record
            if record.output is not None:
                last_output = record.output
            if step.transaction not in ("none", "new-patient"):
                self.rows.append(Row(scenario.id, step.key, expected, got, passed, detail))

    # --- one step ------------------------------------------------------------------------------

    def _play(self, scenario: Scenario, step: Step, record: StepRecord,
              last_output: etree._Element | None) -> tuple[str, str, bool]:
        if step.transaction in ("none", "new-patient"):
            return "", "", True
        if step.transaction == "patient-feed":
            record.patient = self._fresh_fed_patient()
            return "Success", f"fed {record.patient}", True
        if step.transaction == "assert":
            return self._assert(scenario, step, last_output, record)
        if step.transaction not in ACTIONS:
            raise StepFailure(f"transaction {step.transaction} is not played by this runner")
        record.patient = self._patient_for(scenario, step)
        text = self._substitute(scenario, step, scenario.message(step), record.patient)
        message = etree.fromstring(text.encode("utf-8"))
        binaries: list = []
        if etree.QName(message).localname == "ProvideAndRegisterDocumentSetRequest":
            message = message.find(f"{{{LCM}}}SubmitObjectsRequest")  # documents come from step
            if message is None:
                raise StepFailure("the provide template holds no lcm:SubmitObjectsRequest")
        if step.transaction in REGISTRATIONS:
            self._prepare_registration(step, message, record)
        if step.transaction == "ITI-41":
            message, binaries = self._provide_request(scenario, step, message, record)
        client = self.registry
        if step.transaction in REPOSITORY_TRANSACTIONS:
            if self.repository is None:
                raise StepFailure("this step needs --repository")
            client = self.repository
        reply = client.call(ACTIONS[step.transaction], message, binaries=binaries)
        if reply.fault is not None:
            return (f"SOAP fault {reply.fault.code}", reply.fault.reason,
                    step.expected_status == "Failure")
        payload = reply.payload
        if step.transaction == "ITI-43":
            return self._check_retrieval(scenario, step, reply, record)
        record.output = payload
        for name, xpath, where in step.reports:
            if where == "output":
                record.reports[name] = _xpath_text(payload, xpath)
        status = (payload.get("status") or "").rsplit(":", 1)[-1]
        codes = [e.get("errorCode") for e in payload.iter(f"{{{RS}}}RegistryError")
                 if (e.get("severity") or "").endswith("Error")]
        got = status + (f" {' '.join(codes)}" if codes else "")
        detail = "; ".join(f"{e.get('errorCode')}: {e.get('codeContext')}"
                           for e in payload.iter(f"{{{RS}}}RegistryError"))[:300]
        passed = status == step.expected_status and (
            step.expected_error is None or step.expected_error in codes)
        if passed and status == "Success" and step.transaction in REGISTRATIONS \
                and not step.assign_uuids:
            self._learn_uuids(record)
        if passed and step.expected_contents:
            problems = check_contents(payload, step.expected_contents)
            if problems:
                return f"{got}, {problems}", detail, False
        return got, detail, passed

    # --- patients -------------------------------------------------------------------------------

    def _fresh_fed_patient(self) -> str:
        patient = new_patient_id()
        if self.feed is not None:
            self.feed(patient)
        return patient

    def _patient_for(self, scenario: Scenario, step: Step) -> str:
        if step.patient == "unknown":
            return new_patient_id()  # never fed: the registry must not know it
        if step.patient == "new":
            return self._fresh_fed_patient()
        key = (scenario.id, "default")
        if key not in self._patients:
            self._patients[key] = self._fresh_fed_patient()
        return self._patients[key]

    # --- placeholders ---------------------------------------------------------------------------

    def _resolve(self, scenario: Scenario, use: Use) -> str:
        if use.source == "patient" and not use.step:  # a patient feed (UseReport test=...)
            # Used as the test's patient it is the scenario's patient; used as anything else
            # ($altpatientid$) it is a second patient, also known to the registry.
            main = use.symbol in ("$patientid$", "$patient_id$")
            key = (scenario.id, "default" if main else use.feed or use.symbol)
            if key not in self._patients:
                self._patients[key] = self._fresh_fed_patient()
            return self._patients[key]
        where = f"{use.test or scenario.id}/{use.section}/{use.step}".replace("//", "/")
        record = self.records.get((use.test or scenario.id, use.section, use.step or ""))
        if record is None:
            raise StepFailure(f"{use.symbol} needs step {where}, which has not run")
        if use.source == "patient":
            value = record.patient
        elif use.source == "report":
            name = use.name or ""
            value = record.reports.get(name)
            if value is None and name.endswith("_uid"):  # the toolkit's implicit reports
                value = record.uids.get(name[:-4])
            elif value is None and name.endswith("_uuid"):
                value = record.uuids.get(name[:-5])
        else:
            value = (record.uids if use.source == "uid" else record.uuids).get(use.id or "")
        if value is None:
            raise StepFailure(f"{use.symbol}: step {where} recorded no {use.source} "
                              f"for {use.id or use.name or 'it'}")
        return value

    def _substitute(self, scenario: Scenario, step: Step, text: str, patient: str) -> str:
        for use in step.uses:
            text = text.replace(use.symbol, escape(self._resolve(scenario, use)))
        for symbol in ("$patientid$", "$patient_id$"):
            text = text.replace(symbol, escape(patient))
        return text

    # --- registrations --------------------------------------------------------------------------

    def _prepare_registration(self, step: Step, message: etree._Element,
                              record: StepRecord) -> None:
        identifiers = list(message.iter(f"{{{RIM}}}ExternalIdentifier"))
        if step.replace_patient_id:
            for identifier in identifiers:
                if identifier.get("identificationScheme") in PATIENT_SCHEMES:
                    identifier.set("value", record.patient or "")
        for identifier in identifiers:
            if identifier.get("identificationScheme") not in UNIQUE_ID_SCHEMES:
                continue
            owner = identifier.get("registryObject") or identifier.getparent().get("id")
            if owner not in step.keep_unique_ids:
                identifier.set("value", new_oid())
            record.uids[owner] = identifier.get("value")
            if identifier.get("identificationScheme") == v.SS_UNIQUE_ID:
                record.set_uid = identifier.get("value")
        if step.assign_uuids:
            objects = message.find(f"{{{RIM}}}RegistryObjectList")
            if objects is None:
                raise StepFailure("the registration template holds no rim:RegistryObjectList")
            mapping = {e.get("id"): f"urn:uuid:{uuid.uuid4()}" for e in objects.iter()
                       if e.get("id") and not e.get("id").startswith("urn:uuid:")}
            for element in message.iter():
                for attribute in ("id", *REFERENCE_ATTRIBUTES):
                    value = element.get(attribute)
                    if value in mapping:
                        element.set(attribute, mapping[value])
            record.uuids.update(mapping)
        for name, xpath, where in step.reports:
            if where == "input":
                record.reports[name] = _xpath_text(message, xpath)
        record.input = message

    def _provide_request(self, scenario: Scenario, step: Step, metadata: etree._Element,
                         record: StepRecord) -> tuple[etree._Element, list]:
        request = etree.Element(f"{{{XDSB}}}ProvideAndRegisterDocumentSetRequest",
                                nsmap={"xdsb": XDSB})
        request.append(metadata)
        binaries = []
        for doc_id, relative in step.documents.items():
            data = scenario.document(relative)
            element = etree.SubElement(request, f"{{{XDSB}}}Document",
                                       id=record.uuids.get(doc_id, doc_id))
            binaries.append((element, Attachment.from_bytes(data, "application/octet-stream")))
            if doc_id in record.uids:
                record.sent[record.uids[doc_id]] = data
        return request, binaries

    def _check_retrieval(self, scenario: Scenario, step: Step, reply,
                         record: StepRecord) -> tuple[str, str, bool]:
        payload = reply.payload
        response = payload.find(f"{{{RS}}}RegistryResponse")
        status = (response.get("status") if response is not None else "").rsplit(":", 1)[-1]
        codes = [e.get("errorCode") for e in payload.iter(f"{{{RS}}}RegistryError")]
        got = status + (f" {' '.join(codes)}" if codes else "")
        returned = {}
        for item in payload.findall(f"{{{XDSB}}}DocumentResponse"):
            returned[item.findtext(f"{{{XDSB}}}DocumentUniqueId") or ""] = reply.binary(
                item.find(f"{{{XDSB}}}Document"))
        problems = []
        for symbol in step.reference_documents:
            use = next((u for u in step.uses if u.symbol == symbol), None)
            uid = self._resolve(scenario, use) if use else symbol
            sent = next((r.sent[uid] for r in self.records.values() if uid in r.sent), None)
            if uid not in returned:
                problems.append(f"document {uid} not returned")
            elif sent is not None and returned[uid] != sent:
                problems.append(f"document {uid}: bytes differ from those provided")
        passed = status == step.expected_status and not problems and (
            step.expected_error is None or step.expected_error in codes)
        return (got + (f", {'; '.join(problems)}" if problems else ""), "", passed)

    def _learn_uuids(self, record: StepRecord) -> None:
        """Symbolic ids were resolved by the registry: ask it which UUIDs it chose."""
        if not record.set_uid:
            return
        query = _adhoc(GET_SS_AND_CONTENTS, {"$XDSSubmissionSetUniqueId": f"'{record.set_uid}'"})
        reply = self.registry.call(ACTIONS["ITI-18"], query)
        if reply.fault is not None or reply.payload is None:
            return
        by_uid = {}
        for element in reply.payload.iter(f"{{{RIM}}}ExtrinsicObject",
                                          f"{{{RIM}}}RegistryPackage"):
            for identifier in element.findall(f"{{{RIM}}}ExternalIdentifier"):
                if identifier.get("identificationScheme") in UNIQUE_ID_SCHEMES:
                    by_uid[identifier.get("value")] = element.get("id")
        for symbolic, value in record.uids.items():
            if value in by_uid:
                record.uuids[symbolic] = by_uid[value]

    # --- assertions -----------------------------------------------------------------------------

    def _assert(self, scenario: Scenario, step: Step, output: etree._Element | None,
                record: StepRecord) -> tuple[str, str, bool]:
        """The step's XPath assertions on the last answer, its placeholders (reports of earlier
        steps; section THIS is the step's own) filled in first."""
        if output is None:
            raise StepFailure("no earlier answer to assert on")
        assertions = list(step.assertions)
        for use in step.uses:
            if use.section == "THIS":
                use = dataclasses.replace(use, section=step.section)
            value = self._resolve(scenario, use)
            assertions = [a.replace(use.symbol, value) for a in assertions]
        log = self._section_log(scenario, step)
        failed = [xpath for xpath in assertions if not log.xpath(f"boolean({xpath})")]
        record.output = output
        return ("assertions hold" if not failed else "assertion failed",
                "; ".join(failed)[:300], not failed)


    def _section_log(self, scenario: Scenario, step: Step) -> etree._Element:
        """What the toolkit asserts on (`DataRef file="THIS"`): the log of the step's section,
        i.e. the metadata its earlier steps sent and the answers they got, in order."""
        log = etree.Element("SectionLog")
        for earlier in scenario.steps:
            if earlier.section != step.section or earlier is step:
                continue
            record = self.records.get((scenario.id, earlier.section, earlier.step))
            for part in (record.input, record.output) if record else ():
                if part is not None:
                    log.append(copy.deepcopy(part))
        return log


def _xpath_text(root: etree._Element, xpath: str) -> str:
    result = root.xpath(xpath)
    value = result[0] if isinstance(result, list) and result else result
    if isinstance(value, etree._Element):
        return (value.text or "").strip()
    return str(value) if value not in (None, []) else ""


def _adhoc(query_id: str, params: dict[str, str]) -> etree._Element:
    query_ns = "urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0"
    request = etree.Element(f"{{{query_ns}}}AdhocQueryRequest", nsmap={"query": query_ns,
                                                                       "rim": RIM})
    etree.SubElement(request, f"{{{query_ns}}}ResponseOption", returnType="LeafClass",
                     returnComposedObjects="true")
    adhoc = etree.SubElement(request, f"{{{RIM}}}AdhocQuery", id=query_id)
    for name, value in params.items():
        slot = etree.SubElement(adhoc, f"{{{RIM}}}Slot", name=name)
        etree.SubElement(etree.SubElement(slot, f"{{{RIM}}}ValueList"),
                         f"{{{RIM}}}Value").text = value
    return request
