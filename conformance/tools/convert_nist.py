"""Convert NIST XDS Toolkit test cases into this project's conformance scenarios.

    python conformance/tools/convert_nist.py [--reference ../shared/reference] [--out conformance]

Reads `xds-messages/nist-testkit/<group>/<test>/` (testplan.xml per section, index.idx for the
section order, the metadata and query templates) and writes, per test:

- `conformance/scenarios/<test>/scenario.json`: the steps, in order, with their transaction,
  message, expected status and error code, placeholder sources and expected contents;
- the messages, with ebRS 2.1 registration templates rewritten as ebRS 3.0
  (`rs:SubmitObjectsRequest`/`rim:LeafRegistryObjectList` → `lcm:SubmitObjectsRequest`/
  `rim:RegistryObjectList`, short association types → their URNs, ObjectRefs to scheme UUIDs
  dropped). Placeholders (`$patientid$`, `$ssuid$`, …) are kept for the runner to fill.

The toolkit's templates are data for the converter, not part of the product; what it writes is
the project's own scenario format, played by `xds-server conformance run`.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
from pathlib import Path

from lxml import etree

RIM21 = "urn:oasis:names:tc:ebxml-regrep:rim:xsd:2.1"
RS21 = "urn:oasis:names:tc:ebxml-regrep:registry:xsd:2.1"
RIM = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"
LCM = "urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0"
SHORT_ASSOCIATIONS = {
    "HasMember": "urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember",
    "RPLC": "urn:ihe:iti:2007:AssociationType:RPLC",
    "APND": "urn:ihe:iti:2007:AssociationType:APND",
    "XFRM": "urn:ihe:iti:2007:AssociationType:XFRM",
    "XFRM_RPLC": "urn:ihe:iti:2007:AssociationType:XFRM_RPLC",
    "signs": "urn:ihe:iti:2007:AssociationType:signs",
}
TRANSACTIONS = {
    "RegisterTransaction": "ITI-42",
    "StoredQueryTransaction": "ITI-18",
    "ProvideAndRegisterTransaction": "ITI-41",
    "RetrieveTransaction": "ITI-43",
    "UpdateDocumentSetTransaction": "ITI-57",
    "MuTransaction": "ITI-57",
    "DeleteDocumentSetTransaction": "ITI-62",
    "RemoveMetadataTransaction": "ITI-62",
    "RemoveDocumentsTransaction": "ITI-86",
    "PatientIdentityFeedTransaction": "patient-feed",
    "NullTransaction": "assert",
}
GROUPS = ("ITI-42-testdata-for-ITI-18", "ITI-42", "ITI-18", "ITI-41", "ITI-43", "ITI-57",
          "ITI-62")
PARSER = etree.XMLParser(remove_comments=True, remove_blank_text=True, resolve_entities=False,
                         no_network=True)


def convert_message(source: Path, origin: str, provided: bool = False) -> bytes:
    """`provided`: metadata of an ITI-41 whose documents are replaced by our own content, so
    the hash and size slots (of the toolkit's files) are dropped for the repository to fill."""
    root = etree.parse(str(source), PARSER).getroot()
    if etree.QName(root).namespace == RS21:
        root = _ebrs21_to_30(root)
    if provided:
        for slot in root.iter(f"{{{RIM}}}Slot"):
            parent = slot.getparent()
            if slot.get("name") in ("hash", "size") and \
                    etree.QName(parent).localname == "ExtrinsicObject":
                parent.remove(slot)
    etree.cleanup_namespaces(root)
    body = etree.tostring(root, pretty_print=True, encoding="unicode")
    return (f"<!-- Converted by conformance/tools/convert_nist.py from the NIST XDS Toolkit "
            f"testkit, {origin} -->\n{body}").encode()


def _ebrs21_to_30(root: etree._Element) -> etree._Element:
    def rename(element: etree._Element) -> etree._Element:
        local = etree.QName(element).localname
        if local == "SubmitObjectsRequest":
            tag = f"{{{LCM}}}SubmitObjectsRequest"
        elif local == "LeafRegistryObjectList":
            tag = f"{{{RIM}}}RegistryObjectList"
        else:
            tag = f"{{{RIM}}}{local}"
        copy = etree.Element(tag, dict(element.attrib), nsmap={"lcm": LCM, "rim": RIM})
        copy.text = element.text
        for child in element:
            if not isinstance(child.tag, str):
                continue
            if etree.QName(child).localname == "ObjectRef":
                continue  # 2.1 templates list the scheme UUIDs as ObjectRefs; 3.0 needs none
            copy.append(rename(child))
            copy[-1].tail = child.tail
        if local == "Association":
            kind = copy.get("associationType", "")
            copy.set("associationType", SHORT_ASSOCIATIONS.get(kind, kind))
        _reorder(copy)
        return copy

    converted = rename(root)
    # ebRIM 3.0 requires an id on every Identifiable; 2.1 templates leave some out.
    taken = {e.get("id") for e in converted.iter() if e.get("id")}
    counter = 0
    for element in converted.iter(f"{{{RIM}}}Association", f"{{{RIM}}}Classification",
                                  f"{{{RIM}}}ExternalIdentifier"):
        if not element.get("id"):
            counter += 1
            while f"{etree.QName(element).localname}{counter:02d}" in taken:
                counter += 1
            element.set("id", f"{etree.QName(element).localname}{counter:02d}")
    # ... and a nested Classification or ExternalIdentifier names the object it belongs to.
    for local, attribute in (("Classification", "classifiedObject"),
                             ("ExternalIdentifier", "registryObject")):
        for element in converted.iter(f"{{{RIM}}}{local}"):
            parent = element.getparent()
            if not element.get(attribute) and parent is not None and parent.get("id") \
                    and etree.QName(parent).localname != "RegistryObjectList":
                element.set(attribute, parent.get("id"))
    return converted


# ebRIM 3.0 RegistryObjectType content order (2.1 templates put Name before Slot)
_ORDER = {name: rank for rank, name in enumerate(
    ("Slot", "Name", "Description", "VersionInfo", "Classification", "ExternalIdentifier"))}


def _reorder(element: etree._Element) -> None:
    children = [c for c in element if isinstance(c.tag, str)]
    if not children or not all(etree.QName(c).localname in _ORDER for c in children):
        return
    children.sort(key=lambda c: _ORDER[etree.QName(c).localname])  # stable: keeps slot order
    for child in children:
        element.append(child)


def _our_document(name: str, where: str) -> bytes:
    """Content of our own for a test's document: the toolkit's files are not copied; what a
    test checks is that the bytes sent come back, not what they say."""
    text = f"Test document for conformance scenario {where} ({name}), xds-server.\n"
    if name.endswith(".pdf"):
        stream = f"BT /F1 12 Tf 72 720 Td ({text.strip()}) Tj ET".encode()
        return (b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
                b"2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 >> endobj\n"
                b"3 0 obj << /Type /Page /Parent 2 0 R /Contents 4 0 R >> endobj\n"
                + f"4 0 obj << /Length {len(stream)} >> stream\n".encode() + stream
                + b"\nendstream endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n")
    return text.encode()


def _sections(test_dir: Path) -> list[str]:
    index = test_dir / "index.idx"
    if index.is_file():
        return [line.strip() for line in index.read_text().splitlines() if line.strip()]
    return [""]


def _text(element: etree._Element | None) -> str | None:
    return None if element is None else " ".join((element.text or "").split()) or None


def _use_id(element: etree._Element, test: str, section: str) -> dict:
    """UseId/UseReport → where the value comes from: a test, section, step and what."""
    testdir = element.get("testdir")
    ref_test, ref_section = test, element.get("section") if element.tag == "UseReport" else section
    if testdir:
        parts = [p for p in (Path(section) / testdir).as_posix().split("/")]
        resolved: list[str] = []
        for part in parts:
            if part == "..":
                if resolved:
                    resolved.pop()
                else:
                    resolved.append("..")
            elif part not in ("", "."):
                resolved.append(part)
        if resolved and resolved[0] == "..":
            resolved = resolved[1:]
            ref_test, ref_section = resolved[0], "/".join(resolved[1:])
        else:
            ref_section = "/".join(resolved)
    if element.tag == "UseReport":
        if element.get("test"):
            return {"symbol": element.get("useAs") or element.get("reportName"),
                    "from": "patient", "feed": element.get("test")}
        return {"symbol": element.get("useAs"), "from": "report", "test": ref_test,
                "section": element.get("section") or "", "step": element.get("step"),
                "name": element.get("reportName")}
    kind = {"AssignedUids": "uid", "AssignedUuids": "uuid",
            "AssignedPatientId": "patient"}.get(element.get("section") or "", "uid")
    return {"symbol": element.get("symbol"), "from": kind, "test": ref_test,
            "section": ref_section, "step": element.get("step"), "id": element.get("id")}


def _contents(expected: etree._Element | None) -> dict:
    if expected is None:
        return {}
    contents: dict = {}
    for child in expected:
        if not isinstance(child.tag, str):
            continue
        contents[child.tag] = int(child.get("count")) if child.get("count") else True
    return contents


def convert_step(step: etree._Element, test: str, section: str, out_dir: Path,
                 source_dir: Path, origin: str) -> dict:
    transaction_element = next((c for c in step if isinstance(c.tag, str)
                                and c.tag in TRANSACTIONS), None)
    result: dict = {"section": section, "step": step.get("id"),
                    "expected_status": _text(step.find("ExpectedStatus")) or "Success"}
    if step.find("ExpectedErrorMessage") is not None:
        result["expected_error"] = _text(step.find("ExpectedErrorMessage"))
    goal = _text(step.find("Goal")) or _text(step.find("Rule/Assertion"))
    if goal:
        result["goal"] = goal
    if step.find("AltPatientId") is not None:
        result["patient"] = "unknown"
    if transaction_element is None:
        result["transaction"] = "new-patient" if step.find("NewPatientId") is not None else "none"
        return result
    result["transaction"] = TRANSACTIONS[transaction_element.tag]
    t = transaction_element
    if t.find("AltPatientId") is not None:
        result["patient"] = "unknown"
    if t.find("CreateNewPatientId") is not None:
        result["patient"] = "new"
    result["assign_uuids"] = t.find("AssignUuids") is not None
    result["replace_patient_id"] = t.find("NoPatientId") is None
    keep = [e.get("id") for e in t.findall("NoAssignUids")]
    if keep:
        result["keep_unique_ids"] = keep
    uses = [_use_id(e, test, section) for e in t if e.tag in ("UseId", "UseReport")]
    if uses:
        result["uses"] = uses
    reports = [{"name": e.get("name"), "xpath": _text(e),
                "on": "output" if e.get("section") == "Result" else "input"}
               for e in t.findall("Report")]
    if reports:
        result["reports"] = reports
    contents = _contents(t.find("ExpectedContents"))
    if contents:
        result["expected_contents"] = contents
    documents = {}
    for element in t.findall("Document"):
        name = _text(element) or "document.txt"
        target = out_dir / (section or ".") / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(_our_document(name, f"{test}/{section}"))
        documents[element.get("id")] = (Path(section) / name).as_posix() if section else name
    if documents:
        result["documents"] = documents
    references = [element.get("uid") for element in t.findall("ReferenceDocument")]
    if references:
        result["reference_documents"] = references
    asserts = [_text(a) for a in t.findall("Assertions/Assert")]
    if asserts:
        result["assertions"] = asserts
    metadata = _text(t.find("MetadataFile"))
    if metadata and (source_dir / metadata).is_file():
        target = out_dir / (section or ".") / metadata
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(convert_message(source_dir / metadata, f"{origin}/{metadata}",
                                           provided=t.tag == "ProvideAndRegisterTransaction"))
        result["message"] = (Path(section) / metadata).as_posix() if section else metadata
    return result


def convert_test(test_dir: Path, group: str, out_root: Path) -> dict:
    test = test_dir.name
    out_dir = out_root / test
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    readme = test_dir / "readme.txt"
    title = readme.read_text(errors="replace").strip().splitlines()[0] if readme.is_file() \
        else test
    steps: list[dict] = []
    for section in _sections(test_dir):
        source_dir = test_dir / section if section else test_dir
        plan = source_dir / "testplan.xml"
        if not plan.is_file():
            continue
        root = etree.parse(str(plan), PARSER).getroot()
        origin = f"{group}/{test}/{section}".rstrip("/")
        for step in root.findall("TestStep"):
            steps.append(convert_step(step, test, section, out_dir, source_dir, origin))
    requires = sorted({use["test"] for step in steps for use in step.get("uses", [])
                       if use.get("test") and use["test"] != test})
    scenario = {"id": test, "group": group, "title": title, "requires": requires,
                "source": f"NIST XDS Toolkit testkit {group}/{test}", "steps": steps}
    (out_dir / "scenario.json").write_text(json.dumps(scenario, indent=2) + "\n")
    return scenario


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    here = Path(__file__).resolve().parents[1]
    parser.add_argument("--reference", type=Path,
                        default=here.parent.parent / "shared" / "reference")
    parser.add_argument("--out", type=Path, default=here / "scenarios")
    parser.add_argument("--groups", nargs="*", default=list(GROUPS))
    args = parser.parse_args()
    testkit = args.reference / "xds-messages" / "nist-testkit"
    count = 0
    for group in args.groups:
        for test_dir in sorted(p for p in (testkit / group).iterdir() if p.is_dir()):
            if not re.fullmatch(r"[0-9A-Za-z_-]+", test_dir.name):
                continue
            scenario = convert_test(test_dir, group, args.out)
            count += 1
            print(f"{group}/{test_dir.name}: {len(scenario['steps'])} steps")
    print(f"{count} scenarios written to {args.out}")


if __name__ == "__main__":
    main()
