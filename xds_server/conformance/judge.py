"""Is what came back what the testplan expects? The toolkit's rules (BasicTransaction
eval_expected_status, scanResponseForErrors, RetrieveB.validate, AssertionEngine), each
problem said in one line."""

from __future__ import annotations

import copy
import datetime as dt

from lxml import etree

from .exchange import Reply, Retrieved
from .log import SectionLog
from .plan import Step

RIM = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"
XDSB = "urn:ihe:iti:xds-b:2007"


class PlanError(Exception):
    """The testplan asks for something that cannot be judged (an error of the run)."""


def expected_statuses(step: Step) -> list[str]:
    # A transaction step without ExpectedStatus is taken to expect Success (every step of the
    # reference kit that sends a message says what it expects).
    return step.expected_statuses or ["Success"]


# the statuses a testplan may expect: the ebRS ones, and the toolkit's Fault
KNOWN_STATUSES = frozenset({"Success", "PartialSuccess", "Failure", "Fault"})


def status_problems(step: Step, reply: Reply) -> list[str]:
    expected = expected_statuses(step)
    unknown = [s for s in expected if s not in KNOWN_STATUSES]
    if unknown:     # a typo in the plan is the run's error, never the endpoint's failure
        raise PlanError(f"ExpectedStatus {', '.join(unknown)} is not one of "
                        f"{', '.join(sorted(KNOWN_STATUSES))}")
    if step.expected_error_message and expected != ["Failure"]:
        raise PlanError("ExpectedErrorMessage is given but ExpectedStatus is not Failure")
    if reply.fault:
        return [] if "Fault" in expected else [f"SOAP Fault {reply.fault}"[:300]]
    problems = []
    if "Fault" in expected:
        problems.append("a SOAP Fault was expected")
    if not reply.status_in_namespace:
        problems.append(f"status {reply.status!r} is not an ebRS ResponseStatusType")
    elif reply.short_status not in expected:
        problems.append(f"status {reply.short_status}, expected {' or '.join(expected)}")
    errors = [e for e in reply.errors if e.is_error]
    if step.expected_error_message:
        texts = [e.context for e in errors] + [e.code for e in errors]
        if not any(step.expected_error_message in text for text in texts):
            problems.append(f"no error says {step.expected_error_message}")
    if step.expected_error_code and \
            step.expected_error_code not in [e.code for e in reply.errors]:
        problems.append(f"no error code {step.expected_error_code}")
    if expected == ["Success"] and errors:
        problems.append(f"errors in a Success answer: {errors[0]}")
    return problems


def retrieve_problems(requested: list[tuple[str, str]], reply: Reply,
                      reference: etree._Element | None, expected_mime: str | None,
                      files: dict[str, bytes], partial: bool = False) -> list[str]:
    """The documents of a Retrieve: each one asked for is there, from the repository asked,
    with the mime type, hash and size the registry holds (ReferenceMetadata) and, for a
    ReferenceDocument, the bytes of its file. `partial`: the answer is the PartialSuccess the
    step expects, so some documents asked for are missing by design; those returned are
    checked all the same."""
    problems = []
    if len(reply.documents) != len(requested) and not partial:
        problems.append(f"asked for {len(requested)} documents, got {len(reply.documents)}")
    entries = _entries_by_uid(reference) if reference is not None else None
    for repository, uid in requested:
        got: Retrieved | None = reply.documents.get(uid)
        if got is None:
            if not partial:
                problems.append(f"document {uid} not returned")
            continue
        if got.repository != repository:
            problems.append(f"document {uid} from repository {got.repository}, asked "
                            f"{repository}")
        if not got.data:
            problems.append(f"document {uid} has no content")
            continue
        mime = expected_mime
        if entries is not None:
            entry = entries.get(uid)
            if entry is None:
                problems.append(f"document {uid} is not in the reference query's answer")
            else:
                mime = entry["mimeType"] or mime
                if entry["hash"] and entry["hash"].lower() != got.sha1:
                    problems.append(f"document {uid}: hash {got.sha1}, the registry holds "
                                    f"{entry['hash']}")
                if entry["size"] and entry["size"] != str(len(got.data)):
                    problems.append(f"document {uid}: {len(got.data)} bytes, the registry "
                                    f"holds size {entry['size']}")
        if mime and got.mime_type != mime:
            problems.append(f"document {uid}: mimeType {got.mime_type}, expected {mime}")
        if uid in files and files[uid] != got.data:
            problems.append(f"document {uid}: bytes differ from the reference document")
    return problems


def failed_retrieve_problems(reply: Reply) -> list[str]:
    """A Retrieve that must fail returns no document (ITI TF-2b 3.43.4.2.3: Failure, "no
    documents are being returned"): the documents asked for are not compared, as the toolkit
    does not compare them either (RetrieveB ignores its checks when an error is expected)."""
    if reply.documents:
        return [f"a Failure answer returned {len(reply.documents)} documents"]
    return []


def _entries_by_uid(payload: etree._Element) -> dict[str, dict[str, str]]:
    entries = {}
    for eo in payload.iter(f"{{{RIM}}}ExtrinsicObject"):
        slots = {s.get("name"): (s.findtext(f"{{{RIM}}}ValueList/{{{RIM}}}Value") or "").strip()
                 for s in eo.findall(f"{{{RIM}}}Slot")}
        uid = next((e.get("value") for e in eo.findall(f"{{{RIM}}}ExternalIdentifier")
                    if e.get("identificationScheme") ==
                    "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab"), None)
        if uid:
            entries[uid] = {"hash": slots.get("hash", ""), "size": slots.get("size", ""),
                            "mimeType": eo.get("mimeType") or ""}
    return entries


def requested_documents(request: etree._Element) -> list[tuple[str, str]]:
    return [((r.findtext(f"{{{XDSB}}}RepositoryUniqueId") or "").strip(),
             (r.findtext(f"{{{XDSB}}}DocumentUniqueId") or "").strip())
            for r in request.iter(f"{{{XDSB}}}DocumentRequest")]


def assertion_problems(assertions: list[tuple[str, str]], data_refs: list[tuple[str, str]],
                       log: SectionLog) -> list[str]:
    """The toolkit's AssertionEngine: each XPath's string value over <Data><as>log</as></Data>
    must be 'true'. DataRef file="THIS" is this section's log so far."""
    data = etree.Element("Data")
    for file, name in data_refs:
        if file != "THIS":
            raise PlanError(f"DataRef file={file!r}: only THIS (this section's log) is read")
        wrapper = etree.SubElement(data, name or "output")
        wrapper.append(copy.deepcopy(log.root))
    problems = []
    today = dt.datetime.now(dt.UTC).strftime("%Y%m%d")     # the toolkit's $DATE$
    for ident, xpath in assertions:
        xpath = xpath.replace("$DATE$", today)
        if "equalsIgnoreCase" in xpath:
            left, _, right = xpath.partition("equalsIgnoreCase")
            xpath = f"{left.lower()} = {right.lower()}"
        try:
            value = data.xpath(f"string({xpath})")
        except etree.XPathError as exc:
            raise PlanError(f"assertion {ident}: {exc}: {xpath}") from None
        if str(value).lower() != "true":
            problems.append(f"assertion {ident} does not hold: {xpath}"[:300])
    return problems
