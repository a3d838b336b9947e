"""ISO Schematron, assembled: includes inlined, abstract patterns instantiated with their
parameters, abstract rules expanded where `extends` names them, and the active patterns of the
chosen phase picked. What comes out is one schema the XSLT writer can turn into templates
(ISO/IEC 19757-3, sections 5 and 6.3; the ANS kit uses all four mechanisms)."""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

SCH = "http://purl.oclc.org/dsdl/schematron"
MAX_INCLUDE_DEPTH = 20
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                          remove_comments=True, huge_tree=True)


class SchematronError(Exception):
    """The schematron cannot be assembled (missing include, unknown abstract pattern…)."""


def sch(local: str) -> str:
    return f"{{{SCH}}}{local}"


@dataclass
class Rule:
    context: str
    body: list[etree._Element]     # let, assert, report and extends elements in order


@dataclass
class Pattern:
    id: str
    rules: list[Rule]


@dataclass
class Assembled:
    """A schema ready to be written as XSLT."""

    source: Path
    namespaces: dict[str, str]
    lets: list[etree._Element]                  # schema, phase and pattern variables: global
    patterns: list[Pattern]
    abstract_rules: dict[str, list[etree._Element]]  # bodies that `extends` calls
    files: list[Path] = field(default_factory=list)  # every file read, for cache freshness


def _load(path: Path) -> etree._Element:
    try:
        return etree.parse(str(path), _PARSER).getroot()
    except (OSError, etree.XMLSyntaxError) as exc:
        raise SchematronError(f"cannot read {path}: {exc}") from exc


def _inline_includes(element: etree._Element, base: Path, files: list[Path],
                     depth: int = 0) -> None:
    """Replace each sch:include by the root element of the file it names, recursively."""
    if depth > MAX_INCLUDE_DEPTH:
        raise SchematronError(f"includes nested deeper than {MAX_INCLUDE_DEPTH} in {base}")
    for include in list(element.iter(sch("include"))):
        target = (base / include.get("href", "")).resolve()
        files.append(target)
        included = _load(target)
        _inline_includes(included, target.parent, files, depth + 1)
        include.getparent().replace(include, included)


_PARAM = re.compile(r"\$([\w.\-]+)")


def _substitute(text: str, params: dict[str, str]) -> str:
    """`$name` → the parameter's value; longest names win (`$path_jdv1` is not `$path_jdv`)."""
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        while name and name not in params:
            name = name[:-1]
        return params[name] + match.group(1)[len(name):] if name else match.group(0)

    return _PARAM.sub(value, text)


def _instantiate(abstract: etree._Element, instance: etree._Element) -> etree._Element:
    params = {p.get("name"): p.get("value", "") for p in instance.iter(sch("param"))}
    pattern = copy.deepcopy(abstract)
    pattern.attrib.pop("abstract", None)
    pattern.set("id", instance.get("id") or abstract.get("id", ""))
    for element in pattern.iter():
        for attribute in ("context", "test", "select", "value", "path", "role", "subject"):
            if attribute in element.attrib:
                element.set(attribute, _substitute(element.get(attribute), params))
    return pattern


def _body(rule: etree._Element) -> list[etree._Element]:
    """The let, assert, report and extends elements of a rule, in order."""
    kept = (sch("let"), sch("assert"), sch("report"), sch("extends"))
    return [child for child in rule if child.tag in kept]


def _check_extends(rules: dict[str, list[etree._Element]], name: str,
                   path: tuple[str, ...] = ()) -> None:
    if name not in rules:
        raise SchematronError(f"extends names an unknown abstract rule: {name!r}")
    if name in path:
        raise SchematronError(f"abstract rules extend each other in a circle: {path}")
    for child in rules[name]:
        if child.tag == sch("extends"):
            _check_extends(rules, child.get("rule", ""), (*path, name))


def _active_pattern_ids(schema: etree._Element, phase: str | None) -> set[str] | None:
    """The ids the phase activates; None means every pattern (#ALL or no phase)."""
    chosen = phase or schema.get("defaultPhase")
    if not chosen or chosen == "#ALL":
        return None
    for element in schema.iter(sch("phase")):
        if element.get("id") == chosen:
            return {a.get("pattern") for a in element.iter(sch("active"))}
    raise SchematronError(f"no phase {chosen!r} in the schematron")


def assemble(path: Path, phase: str | None = None) -> Assembled:
    schema = _load(path)
    if schema.tag != sch("schema"):
        raise SchematronError(f"{path} is not an ISO Schematron schema")
    files = [path.resolve()]
    _inline_includes(schema, path.parent, files)
    namespaces = {ns.get("prefix"): ns.get("uri") for ns in schema.iter(sch("ns"))}
    abstract_patterns = {p.get("id"): p for p in schema.iter(sch("pattern"))
                         if p.get("abstract") == "true"}
    abstract_rules = {r.get("id"): _body(r) for r in schema.iter(sch("rule"))
                      if r.get("abstract") == "true"}
    active = _active_pattern_ids(schema, phase)
    lets = list(schema.findall(sch("let")))
    for element in schema.iter(sch("phase")):
        if active is None or element.get("id") == (phase or schema.get("defaultPhase")):
            lets += element.findall(sch("let"))
    patterns = []
    for number, element in enumerate(schema.iter(sch("pattern"))):
        if element.get("abstract") == "true":
            continue
        if element.get("is-a"):
            if element.get("is-a") not in abstract_patterns:
                raise SchematronError(f"pattern {element.get('id')!r} is an unknown abstract "
                                      f"pattern {element.get('is-a')!r}")
            element = _instantiate(abstract_patterns[element.get("is-a")], element)
        pattern_id = element.get("id") or f"pattern-{number}"
        if active is not None and pattern_id not in active:
            continue
        rules = [Rule(rule.get("context", ""), _body(rule))
                 for rule in element.findall(sch("rule")) if rule.get("abstract") != "true"]
        for rule in rules:
            for child in rule.body:
                if child.tag == sch("extends"):
                    _check_extends(abstract_rules, child.get("rule", ""))
        lets += element.findall(sch("let"))
        patterns.append(Pattern(pattern_id, rules))
    return Assembled(path.resolve(), namespaces, lets, patterns, abstract_rules, files)
