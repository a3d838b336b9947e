"""What a query answer must hold: object counts and the toolkit's named expectations
(SSwithOneDoc, DocDep, ...), checked the same way against any registry."""

from __future__ import annotations

from lxml import etree

from ..model import vocabulary as v

RIM = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"


def _package_kinds(payload: etree._Element) -> dict[str, str]:
    """RegistryPackage id → 'set' or 'folder', from nested or top-level node classifications."""
    kinds = {}
    for classification in payload.iter(f"{{{RIM}}}Classification"):
        node = classification.get("classificationNode")
        target = classification.get("classifiedObject")
        if node == v.SUBMISSION_SET_NODE:
            kinds[target] = "set"
        elif node == v.FOLDER_NODE:
            kinds[target] = "folder"
    return kinds


def count_objects(payload: etree._Element) -> dict[str, int]:
    object_list = payload.find(f"{{{RIM}}}RegistryObjectList")
    children = [] if object_list is None else [c for c in object_list if isinstance(c.tag, str)]
    kinds = _package_kinds(payload)
    local = [etree.QName(c).localname for c in children]
    packages = [c.get("id") for c in children if etree.QName(c).localname == "RegistryPackage"]
    return {
        "Documents": local.count("ExtrinsicObject"),
        "SubmissionSets": sum(1 for p in packages if kinds.get(p) == "set"),
        "Folders": sum(1 for p in packages if kinds.get(p) == "folder"),
        "Associations": local.count("Association"),
        "ObjectRefs": local.count("ObjectRef"),
    }


_SHAPES = {
    "SSwithOneDoc": {"SubmissionSets": 1, "Documents": 1, "Folders": 0},
    "SSwithTwoDoc": {"SubmissionSets": 1, "Documents": 2, "Folders": 0},
    "SSwithOneDocOneFol": {"SubmissionSets": 1, "Documents": 1, "Folders": 1},
    "SSwithTwoDocOneFol": {"SubmissionSets": 1, "Documents": 2, "Folders": 1},
    "SSwithOneFol": {"SubmissionSets": 1, "Documents": 0, "Folders": 1},
}


def check_contents(payload: etree._Element, expected: dict) -> str:
    """'' when the answer holds what `expected` says, else what differs."""
    counts = count_objects(payload)
    problems = []
    for name, value in expected.items():
        if name in counts and isinstance(value, int) and not isinstance(value, bool):
            if counts[name] != value:
                problems.append(f"{name} {counts[name]} (expected {value})")
        elif name in _SHAPES:
            for kind, count in _SHAPES[name].items():
                if counts[kind] != count:
                    problems.append(f"{name}: {kind} {counts[kind]} (expected {count})")
        elif name == "None":
            if any(counts.values()):
                problems.append(f"objects returned {counts} (expected none)")
        elif name in ("OneDocApp", "OneDocDep"):
            wanted = v.DEPRECATED if name == "OneDocDep" else v.APPROVED
            statuses = [e.get("status") for e in payload.iter(f"{{{RIM}}}ExtrinsicObject")]
            if statuses != [wanted]:
                problems.append(f"{name}: statuses {[s.rsplit(':', 1)[-1] for s in statuses]}")
        elif name in ("SSApproved", "DocApp", "DocDep"):
            tag = "RegistryPackage" if name == "SSApproved" else "ExtrinsicObject"
            wanted = v.DEPRECATED if name == "DocDep" else v.APPROVED
            statuses = [e.get("status") for e in payload.iter(f"{{{RIM}}}{tag}")]
            if not statuses or any(s != wanted for s in statuses):
                problems.append(f"{name}: statuses {[s.rsplit(':', 1)[-1] for s in statuses]}")
        else:
            problems.append(f"unknown expectation {name}")
    return "; ".join(problems)
