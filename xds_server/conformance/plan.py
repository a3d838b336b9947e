"""A NIST XDS Toolkit testplan.xml read as data: steps, their transaction and its instructions.

The vocabulary is the toolkit's own (test-engine StepContext and BasicTransaction): each
instruction the runner does not honour is kept in `unsupported`, so the step is reported as not
run instead of being run without it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

PARSER = etree.XMLParser(remove_comments=True, resolve_entities=False, no_network=True)

# The toolkit transaction element → the IHE transaction it plays (None: no message sent).
TRANSACTIONS = {
    "RegisterTransaction": "ITI-42",
    "ProvideAndRegisterTransaction": "ITI-41",
    "StoredQueryTransaction": "ITI-18",
    "RetrieveTransaction": "ITI-43",
    "MuTransaction": "ITI-57",
    "RemoveMetadataTransaction": "ITI-62",
    "RmdTransaction": "ITI-62",
    "RdTransaction": "ITI-86",
    "PatientIdentityFeedTransaction": "ITI-8",
    "NullTransaction": None,
}

# Transactions the toolkit runs without metadata processing (BasicTransaction
# noMetadataProcessing): their UseId, UseRepositoryUniqueId and UseObjectRef instructions are
# logged, never applied; only UseReport and $now$/$lastyear$ fill their message.
NO_METADATA_PROCESSING = frozenset({"RetrieveTransaction"})

# Step-level instructions (StepContext.run) and transaction-level ones (parseBasicInstruction and
# each transaction's parseInstruction) that change nothing the runner sends or checks.
_INERT = {"Rule", "Goal", "Standard", "XDSb", "InteractionSequence", "SOAP12"}


def _text(element: etree._Element | None) -> str:
    return "" if element is None else " ".join((element.text or "").split())


@dataclass(frozen=True)
class UseId:
    """A value an earlier step assigned (`section` is the log part: AssignedUuids, …)."""

    id: str
    step: str
    section: str
    symbol: str
    testdir: str | None = None
    value: str | None = None


@dataclass(frozen=True)
class UseReport:
    report: str
    section: str
    step: str
    use_as: str
    test: str | None = None


@dataclass(frozen=True)
class Report:
    name: str
    section: str
    xpath: str
    escaped: bool = False


@dataclass(frozen=True)
class UseResult:
    """UseRepositoryUniqueId / UseObjectRef: a value read in an earlier step's Result."""

    kind: str                   # repository_unique_id | object_ref
    step: str
    symbol: str
    testdir: str | None = None
    index: int = 0


@dataclass
class Transaction:
    kind: str                   # the toolkit element name, e.g. RegisterTransaction
    metadata_file: str | None = None
    assign_uuids: bool = False
    uuid_exclusions: frozenset[str] = frozenset()
    assign_uids: bool = True
    no_assign_uid_to: str | None = None
    assign_patient_id: bool = True
    parse_metadata: bool = True
    convert: bool = True
    no_metadata: bool = False
    mtom: bool = True
    use_ids: list[UseId] = field(default_factory=list)
    use_reports: list[UseReport] = field(default_factory=list)
    use_results: list[UseResult] = field(default_factory=list)
    new_uuid_symbols: list[str] = field(default_factory=list)
    reports: list[Report] = field(default_factory=list)
    documents: list[tuple[str, str]] = field(default_factory=list)     # (id, file)
    expected_contents: etree._Element | None = None
    data_refs: list[tuple[str, str]] = field(default_factory=list)     # (file, as)
    assertions: list[tuple[str, str]] = field(default_factory=list)    # (id, xpath)
    reference_documents: list[tuple[str, str]] = field(default_factory=list)  # (uid, file)
    reference_metadata: tuple[str, str] | None = None                  # (testdir, step)
    expected_mime_type: str | None = None
    create_new_patient: bool = False
    feed_patient: str | None = None
    wait_ms: int = 0
    unsupported: list[str] = field(default_factory=list)

    @property
    def iti(self) -> str | None:
        return TRANSACTIONS.get(self.kind)

    @property
    def applies_use_ids(self) -> bool:
        """Whether UseId, UseRepositoryUniqueId and UseObjectRef fill this message."""
        return self.kind not in NO_METADATA_PROCESSING


@dataclass
class Step:
    id: str
    expected_statuses: list[str] = field(default_factory=list)
    expected_error_message: str = ""
    expected_error_code: str = ""
    new_patient_id: bool = False
    alt_patient_id: bool = False
    goal: str = ""
    transaction: Transaction | None = None
    unsupported: list[str] = field(default_factory=list)

    @property
    def expected(self) -> str:
        words = [" or ".join(self.expected_statuses) or "Success"]
        words += [w for w in (self.expected_error_code, self.expected_error_message) if w]
        return " ".join(words)


def use_id_of(e: etree._Element) -> UseId:
    return UseId(e.get("id") or "", e.get("step") or "", e.get("section") or "",
                 e.get("symbol") or "", e.get("testdir") or None, e.get("value") or None)


def _transaction(element: etree._Element) -> Transaction:
    t = Transaction(etree.QName(element).localname)
    for part in element:
        if not isinstance(part.tag, str):
            continue
        name = etree.QName(part).localname
        if name in _INERT:
            continue
        if name == "MetadataFile":
            t.metadata_file = _text(part)
        elif name == "AssignUuids":
            t.assign_uuids = True
            t.uuid_exclusions = frozenset(e.get("value") for e in part.iter("Exclude")
                                          if e.get("value"))
        elif name == "NoAssignUids":
            t.assign_uids = bool(part.get("id"))
            t.no_assign_uid_to = part.get("id") or None
        elif name == "NoPatientId":
            t.assign_patient_id = False
        elif name == "ParseMetadata":
            t.parse_metadata = _text(part) != "False"
        elif name == "NoConvert":
            t.convert = False
        elif name == "NoMetadata":
            t.no_metadata = True
        elif name == "NoMTOM":
            t.mtom = False
        elif name == "UseId":
            t.use_ids.append(use_id_of(part))
        elif name == "UseReport":
            t.use_reports.append(UseReport(part.get("reportName") or "",
                                           part.get("section") or "None",
                                           part.get("step") or "", part.get("useAs") or "",
                                           part.get("test") or None))
        elif name == "UseRepositoryUniqueId":
            t.use_results.append(UseResult("repository_unique_id", part.get("step") or "",
                                           part.get("symbol") or "", part.get("testdir")))
        elif name == "UseObjectRef":
            t.use_results.append(UseResult("object_ref", part.get("step") or "",
                                           part.get("symbol") or "", part.get("testdir"),
                                           int(part.get("index") or 0)))
        elif name == "AssignNewUuid":
            t.new_uuid_symbols.append(part.get("symbol") or "")
        elif name == "Report":
            t.reports.append(Report(part.get("name") or "", part.get("section") or "",
                                    _text(part), part.get("escapedCharsInXml") == "true"))
        elif name == "Document":
            t.documents.append((part.get("id") or "", _text(part)))
        elif name == "ExpectedContents":
            t.expected_contents = part
        elif name == "Assertions":
            for child in part:
                if not isinstance(child.tag, str):
                    continue
                local = etree.QName(child).localname
                if local == "DataRef":
                    t.data_refs.append((child.get("file") or "", child.get("as") or ""))
                elif local == "Assert" and (child.get("process") or len(child)):
                    t.unsupported.append(f"Assert {child.get('id')} (simulator or plugin "
                                         "validation)")
                elif local == "Assert":
                    t.assertions.append((child.get("id") or "", _text(child)))
                else:
                    t.unsupported.append(f"Assertions/{local}")
        elif name == "ReferenceDocument":
            t.reference_documents.append((part.get("uid") or "", _text(part)))
        elif name == "ReferenceMetadata":
            t.reference_metadata = (part.get("testdir") or "", part.get("step") or "")
        elif name == "ExpectedMimeType":
            t.expected_mime_type = _text(part)
        elif name == "CreateNewPatientId":
            t.create_new_patient = True
        elif name == "PatientID":
            t.feed_patient = _text(part)
        elif name == "WaitBefore" and _text(part).isdigit() and 0 < int(_text(part)) <= 60000:
            t.wait_ms = int(_text(part))        # the toolkit waits; a minute at most here
        else:
            t.unsupported.append(name)
    if t.kind not in TRANSACTIONS:
        t.unsupported.insert(0, t.kind)
    return t


def parse_step(element: etree._Element) -> Step:
    step = Step(element.get("id") or "")
    for part in element:
        if not isinstance(part.tag, str):
            continue
        name = etree.QName(part).localname
        if name == "ExpectedStatus":
            step.expected_statuses = [s.strip() for s in _text(part).split(",") if s.strip()]
        elif name == "ExpectedErrorMessage":
            step.expected_error_message = _text(part)
        elif name == "ExpectedErrorCode":
            step.expected_error_code = _text(part)
        elif name == "NewPatientId":
            step.new_patient_id = True
        elif name == "AltPatientId":
            step.alt_patient_id = True
        elif name == "Goal":
            step.goal = _text(part)
        elif name in _INERT:
            continue
        elif name.endswith("Transaction"):
            if step.transaction is not None:
                step.unsupported.append(f"second transaction {name}")
            else:
                step.transaction = _transaction(part)
        else:
            step.unsupported.append(name)
    return step


def load_plan(path: Path) -> list[Step]:
    """The steps of one testplan.xml, in order."""
    root = etree.parse(str(path), PARSER).getroot()
    return [parse_step(e) for e in root if isinstance(e.tag, str)
            and etree.QName(e).localname == "TestStep"]
