"""Runs the installed kit's schematrons on a CDA with Saxon (saxonche, XSLT 2.0).

Which schematrons: the ANS minimal structure profile (every CI-SIS document) and the volet the
document declares by its templateId, in the newest version the kit holds (or the one asked
for). Each schematron is compiled to XSLT once and the XSLT kept beside its `.sch`, where the
kit's relative value-set paths (`../jeuxDeValeurs/…`, `include/voc-…`) still resolve; Saxon
compiles it once per process."""

from __future__ import annotations

import re
import threading
from pathlib import Path

from lxml import etree

from ..findings import Finding, Kind
from .assemble import SchematronError, assemble
from .volets import VoletIndex
from .xslt import OWN, SVRL, to_xslt

COMPILER_VERSION = "3"
SKELETON_STAGES = ("iso_dsdl_include.xsl", "iso_abstract_expand.xsl", "iso_svrl_for_xslt2.xsl")
STRUCTURE_MIN = Path("profils") / "structurationMinimale" / "ASIP-STRUCT-MIN-StrucMin.sch"
NOT_ERRORS = {"warning", "warn", "info", "information"}
MAX_FINDINGS = 200

_VERSION = re.compile(r"_(\d{4})\.(\d{2})\.sch$")
# a location step: ours (`item[2]`) or the ISO skeleton's (`*:item[namespace-uri()='…'][2]`)
_STEP = re.compile(r"^(?:\*:)?([^\[:]+)(?:\[namespace-uri\(\)='[^']*'\])?\[(\d+)\]$")

_saxon_lock = threading.Lock()
_saxon: dict[str, object] = {}


def _processor():
    """One Saxon processor per process, created on first use (it starts a Java-free VM)."""
    if "processor" not in _saxon:
        from saxonche import PySaxonProcessor

        _saxon["processor"] = PySaxonProcessor(license=False)
        _saxon["xslt"] = _saxon["processor"].new_xslt30_processor()
    return _saxon["processor"]


def compiled_path(sch: Path, engine: str = f"xds-{COMPILER_VERSION}") -> Path:
    return sch.with_name(f".{sch.name}.{engine}.xsl")


def kit_skeleton(schematrons: Path) -> list[Path] | None:
    """The kit's own ISO Schematron compile stylesheets (`schematrons/moteur/`), when the
    installed kit has all three stages; the published reference copy leaves them out."""
    moteur = schematrons / "moteur"
    found = {p.name: p for p in moteur.rglob("*.xsl")} if moteur.is_dir() else {}
    return [found[s] for s in SKELETON_STAGES] if all(s in found for s in SKELETON_STAGES) \
        else None


def _write(target: Path, content: bytes) -> Path:
    staging = target.with_name(target.name + ".tmp")
    staging.write_bytes(content)
    staging.replace(target)
    return target


def compile_schematron(sch: Path, skeleton: list[Path] | None = None) -> Path:
    """The XSLT for `sch`, written beside it unless an up-to-date one is there already: by the
    kit's skeleton when given, else by the product's compiler."""
    target = compiled_path(sch, "kit-skeleton" if skeleton else f"xds-{COMPILER_VERSION}")
    if target.is_file() and target.stat().st_mtime >= sch.stat().st_mtime:
        return target
    if skeleton:
        return _write(target, _run_skeleton(sch, skeleton).encode("utf-8"))
    stylesheet = to_xslt(assemble(sch))
    return _write(target, etree.tostring(stylesheet, xml_declaration=True, encoding="UTF-8"))


def _run_skeleton(sch: Path, stages: list[Path]) -> str:
    """include → abstract expansion → SVRL stylesheet, as the kit's own tools chain them."""
    processor = _processor()
    text = ""
    for number, stage in enumerate(stages):
        executable = _saxon["xslt"].compile_stylesheet(stylesheet_file=str(stage))
        if number == 0:       # the first stage reads the file itself, so includes resolve
            text = executable.transform_to_string(source_file=str(sch.resolve()))
        else:
            text = executable.transform_to_string(
                xdm_node=processor.parse_xml(xml_text=text))
    return text


def _steps(location: str) -> list[str]:
    """The steps of a location path; a slash inside a predicate does not split."""
    steps, current, depth = [], "", 0
    for char in location:
        if char == "/" and depth == 0:
            steps.append(current)
            current = ""
            continue
        depth += (char == "[") - (char == "]")
        current += char
    return [*steps, current]


def node_at(root: etree._Element, location: str) -> etree._Element | None:
    """The element a schematron location (/local[n]/…/@attribute) points at."""
    steps = [s for s in _steps(location) if s and not s.startswith("@") and s != "text()"]
    if not steps:
        return root
    match = _STEP.match(steps[0])
    if not match or etree.QName(root).localname != match.group(1):
        return None
    node = root
    for step in steps[1:]:
        match = _STEP.match(step)
        if not match:
            return None
        same = [c for c in node if isinstance(c.tag, str)
                and etree.QName(c).localname == match.group(1)]
        index = int(match.group(2)) - 1
        if index >= len(same):
            return None
        node = same[index]
    return node


class KitSchematrons:
    """A SchematronRunner over an installed kit (`DATA_DIR/kit/schematrons`)."""

    def __init__(self, kit_dir: Path, volet: str | None = None) -> None:
        self.directory = kit_dir / "schematrons"
        self.volet = volet
        self.skeleton = kit_skeleton(self.directory)
        self._executables: dict[Path, object] = {}
        self._volets: VoletIndex | None = None

    def schematrons_for(self, root: etree._Element) -> list[Path]:
        chosen = [self.directory / STRUCTURE_MIN]
        if self.volet:
            chosen.append(self.directory / f"CI-SIS_{self.volet}.sch")
        else:
            roots = [str(r) for r in root.xpath("/*/*[local-name()='templateId']/@root")]
            if self._volets is None:
                self._volets = VoletIndex.of(self.directory)
            if (volet := self._volets.choose(roots)) is not None:
                chosen.append(volet)
        return chosen

    def _executable(self, sch: Path):
        with _saxon_lock:
            if sch not in self._executables:
                processor = _processor()
                compiled = compile_schematron(sch, self.skeleton)
                executable = _saxon["xslt"].compile_stylesheet(stylesheet_file=str(compiled))
                for document in etree.parse(str(compiled)).getroot().iter(f"{{{OWN}}}document"):
                    path = compiled.parent / document.get("href", "")
                    if path.is_file():        # else the stylesheet's own doc() call reports it
                        executable.set_parameter(document.get("param"), processor.parse_xml(
                            xml_file_name=str(path.resolve())))
                self._executables[sch] = executable
            return self._executables[sch]

    def check(self, root: etree._Element, source: str) -> tuple[list[str], list[Finding]]:
        names, findings = [], []
        text = etree.tostring(root, encoding="unicode")
        for sch in self.schematrons_for(root):
            name = sch.name
            try:
                if not sch.is_file():
                    raise SchematronError(f"{name} is not in the installed kit")
                executable = self._executable(sch)
                with _saxon_lock:
                    node = _processor().parse_xml(xml_text=text)
                    output = executable.transform_to_string(xdm_node=node)
            except Exception as exc:      # compile or run: the document is not checked
                findings.append(Finding(Kind.NOT_CHECKED, name, "the schematron could not be "
                                        f"run, the document is not checked against it: "
                                        f"{str(exc)[:300]}"))
                continue
            names.append(name)
            findings += self._findings(name, output, root)
        return names, findings

    @staticmethod
    def _findings(name: str, output: str, root: etree._Element) -> list[Finding]:
        svrl = etree.fromstring(output.encode("utf-8"))
        findings = []
        for result in svrl.iter(f"{{{SVRL}}}failed-assert", f"{{{SVRL}}}successful-report"):
            location = result.get("location", "")
            node = node_at(root, location)
            message = " ".join("".join(result.itertext()).split())
            findings.append(Finding(
                Kind.SCHEMATRON, result.get("id") or name, message, location,
                node.sourceline if node is not None else None,
                is_error=(result.get("role") or "error").lower() not in NOT_ERRORS))
            if len(findings) >= MAX_FINDINGS:
                findings.append(Finding(Kind.SCHEMATRON, name, f"more than {MAX_FINDINGS} "
                                        "schematron findings: the rest are not shown",
                                        is_error=False))
                break
        return findings
