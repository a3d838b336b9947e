"""Just enough FHIR Shorthand to read the PDSm examples into JSON at test time (no SUSHI, no
copy of the reference files): `Instance:` blocks of `* path = value` rules, with indexes
`[0]`, `[+]`, `[=]`, slice names, codes `system#code "display"`, `#code`, strings, numbers,
booleans, `Reference(id)`, and `contained = <instance>`. Slice names are resolved by the
table below (the PDSm profiles' slices the examples use)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

# slice name → how the profile discriminates it (what an element of the slice holds)
SLICES: dict[tuple[str, str], dict[str, Any]] = {
    ("extension", "isArchived"): {
        "url": "https://interop.esante.gouv.fr/ig/fhir/pdsm/StructureDefinition/"
               "pdsm-ext-is-archived"},
    ("extension", "designationType"): {
        "url": "https://profiles.ihe.net/ITI/MHD/StructureDefinition/ihe-designationType"},
    ("extension", "ihe-sourceId"): {
        "url": "https://profiles.ihe.net/ITI/MHD/StructureDefinition/ihe-sourceId"},
    ("extension", "PDSmintendedRecipient"): {
        "url": "https://interop.esante.gouv.fr/ig/fhir/pdsm/StructureDefinition/"
               "pdsm-ext-intended-recipient"},
    ("extension", "authorOrg"): {
        "url": "https://profiles.ihe.net/ITI/MHD/StructureDefinition/ihe-authorOrg"},
    ("identifier", "uniqueId"): {"use": "usual"},
    ("identifier", "entryUUID"): {"use": "official"},
}
_RULE = re.compile(r"^\*\s+(\S+)\s*=\s*(.+?)\s*$")
_CODE = re.compile(r'^(\S*)#("?)([^"\s]+)\2(?:\s+"([^"]*)")?\s*(?:"[^"]*")?$')
_STEP = re.compile(r"^([\w-]+)(?:\[([^\]]+)\])?$")


def _uncommented(line: str) -> str:
    """The line without a // comment outside of quotes."""
    quoted = False
    for position, char in enumerate(line):
        if char == '"':
            quoted = not quoted
        elif not quoted and line.startswith("//", position) and (
                position == 0 or line[position - 1] in " \t"):
            return line[:position].rstrip()
    return line.rstrip()


def aliases(*paths: Path) -> dict[str, str]:
    found = {}
    for path in paths:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith("Alias:"):
                name, _, value = line[len("Alias:"):].partition("=")
                found[name.strip()] = value.strip()
    return found


def instances(path: Path, alias: dict[str, str] | None = None) -> dict[str, dict[str, Any]]:
    """Instance id → {'of': InstanceOf, 'rules': [(path, raw value)]}."""
    found: dict[str, dict[str, Any]] = {}
    current: dict[str, Any] | None = None
    for line in path.read_text(encoding="utf-8").splitlines():
        line = _uncommented(line)
        for name, value in (alias or {}).items():
            line = line.replace(f"{name}#", f"{value}#")
        if line.startswith("Instance:"):
            current = {"id": line.split(":", 1)[1].strip(), "of": "", "rules": []}
            found[current["id"]] = current
        elif current is not None and line.startswith("InstanceOf:"):
            current["of"] = line.split(":", 1)[1].strip()
        elif current is not None and (match := _RULE.match(line)):
            current["rules"].append(match.groups())
    return found


RESOURCE_TYPES = {"PDSm_ComprehensiveDocumentReference": "DocumentReference",
                  "pdsm-simplified-publish": "DocumentReference",
                  "PDSm_SubmissionSetComprehensive": "List",
                  "PDSm_FolderComprehensive": "List", "FRCorePatientProfile": "Patient",
                  "IHE.MHD.ProvideDocumentBundleResponse": "Bundle"}


def to_json(name: str, known: dict[str, dict[str, Any]], refer=None) -> dict[str, Any]:
    """The instance as a JSON resource; `refer(id)` writes Reference(id) (default
    'Type/id')."""
    instance = known[name]
    kind = RESOURCE_TYPES.get(instance["of"], instance["of"])
    resource: dict[str, Any] = {"resourceType": kind}
    if kind != "Bundle":
        resource["id"] = name
    cursors: dict[tuple, int] = {}
    for path, raw in instance["rules"]:
        if path == "contained" or path.startswith("contained["):
            resource.setdefault("contained", []).append(to_json(raw, known, refer))
            continue
        _assign(resource, path, _value(raw, known, refer), cursors)
    return resource


def _value(raw: str, known, refer) -> Any:
    if raw.startswith("Reference(") and raw.endswith(")"):
        target = raw[len("Reference("):-1]
        if refer is not None:
            return refer(target)
        kind = RESOURCE_TYPES.get(known[target]["of"], known[target]["of"]) \
            if target in known else "Resource"
        return {"reference": f"{kind}/{target}"}
    if raw.startswith('"') and raw.endswith('"'):
        return raw[1:-1]
    if raw in ("true", "false"):
        return raw == "true"
    if re.fullmatch(r"-?\d+", raw):
        return int(raw)
    if match := _CODE.match(raw):
        system, _, code, display = match.groups()
        if not system:
            return code
        coding = {"system": system, "code": code}
        if display:
            coding["display"] = display
        return {"__coding__": coding}
    return raw


def _assign(resource: dict, path: str, value: Any, cursors: dict) -> None:
    node: Any = resource
    steps = path.split(".")
    prefix: tuple = ()
    for position, step in enumerate(steps):
        match = _STEP.match(step)
        assert match, step
        name, index = match.groups()
        prefix += (name,)
        last = position == len(steps) - 1
        slice_spec = SLICES.get((name, index)) if index and not index.lstrip("+=").isdigit() \
            and index not in ("+", "=") else None
        if slice_spec is not None:
            items = node.setdefault(name, [])
            for item in items:
                if all(item.get(k) == v for k, v in slice_spec.items()):
                    break
            else:
                items.append(dict(slice_spec))
                item = items[-1]
            node = item
            continue
        if index is not None:
            items = node.setdefault(name, [])
            if index == "+":
                cursors[prefix] = cursors.get(prefix, -1) + 1
            elif index == "=":
                cursors.setdefault(prefix, 0)
            else:
                cursors[prefix] = int(index)
            at = cursors[prefix]
            while len(items) <= at:
                items.append({})
            if last:
                items[at] = _typed(name, value)
            else:
                node = items[at]
            continue
        if last:
            _set(node, name, value)
        elif name in LIST_ELEMENTS:             # a list element without index: the first
            node = node.setdefault(name, [{}])[0]
        else:
            node = node.setdefault(name, {})


LIST_ELEMENTS = {"category", "securityLabel", "author", "event", "content", "given", "prefix",
                 "suffix", "identifier", "name", "telecom", "profile", "note", "entry",
                 "coding", "extension"}


def _typed(name: str, value: Any) -> Any:
    if isinstance(value, dict) and "__coding__" in value:
        coding = value["__coding__"]
        return coding if name in ("format", "valueCoding", "coding") else \
            {"coding": [coding]}
    return value


SCALARS = {("Organization", "name")}      # a list element elsewhere, one value here


def _set(node: dict, name: str, value: Any) -> None:
    value = _typed(name, value)
    if (node.get("resourceType"), name) in SCALARS:
        node[name] = value
    elif name in LIST_ELEMENTS and not isinstance(value, list) and name != "coding":
        node[name] = [value]
    else:
        node[name] = value
