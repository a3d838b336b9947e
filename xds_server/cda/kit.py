"""Installing the official ANS TestContenuCDA kit into the data directory: its CDA schema
(`infrastructure/cda/`), schematrons (`schematrons/`) and value sets (`jeuxDeValeurs/`), in the
upstream layout so the schematrons' relative `doc()` paths resolve.

Installation is all or nothing: the tree is copied beside the old one, completed (the J07 value
set file the published kit lacks), checked (the schema compiles), then swapped in. The value sets
the `cisis` profile checks are refreshed from the kit's `jeuxDeValeurs/`.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from ..valuesets import KIT_FILE, load_value_sets
from ..valuesets.build import build, read_svs
from .schema import KIT_SCHEMA, CdaSchema

REQUIRED = (KIT_SCHEMA, Path("schematrons"), Path("jeuxDeValeurs"))
J07_SOURCE = Path("jeuxDeValeurs") / "JDV_J07_XdsTypeCode_CISIS.xml"
J07_TARGET = (Path("schematrons") / "profils" / "structurationMinimale" / "include"
              / "voc-1.2.250.1.213.1.1.5.471-DYNAMIC.xml")


class KitError(ValueError):
    """The folder is not an ANS kit, or installing it failed; nothing was changed."""


@dataclass
class KitSummary:
    target: Path
    schematrons: int
    value_set_files: int
    generated: list[str]
    value_sets: list[str]


def art_decor_value_set(svs_file: Path) -> bytes:
    """An SVS value set in the ART-DECOR `valueSets` form the StrucMin schematron reads."""
    data = read_svs(svs_file)
    root = etree.Element("{urn:hl7-org:v3}valueSets", nsmap={"hl7": "urn:hl7-org:v3"})
    # ART-DECOR writes valueSet and what it holds in no namespace (xmlns="")
    value_set = etree.SubElement(root, "valueSet", id=data["oid"], name=data["title"],
                                 displayName=data["title"], versionLabel=data["version"],
                                 statusCode="final")
    concepts = etree.SubElement(value_set, "conceptList")
    for code, system, display in data["concepts"]:
        etree.SubElement(concepts, "concept", code=code, codeSystem=system,
                         displayName=display, level="0", type="L")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


INSTALL_STEPS = 4     # copied, J07 generated, schema compiled, value sets built


def install_kit(source: Path, kit_dir: Path,
                on_step: Callable[[str], None] = lambda step: None) -> KitSummary:
    """Copy the kit in, all or nothing; `on_step` hears each of the INSTALL_STEPS as it ends
    (the command's progress bar)."""
    source = source.resolve()
    missing = [str(p) for p in REQUIRED if not (source / p).exists()]
    if missing:
        raise KitError(f"{source} is not an ANS TestContenuCDA tree: missing "
                       + ", ".join(missing))
    staging = kit_dir.with_name(kit_dir.name + ".installing")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        shutil.copytree(source, staging, ignore=shutil.ignore_patterns(".git"))
        on_step("copied")
        generated = []
        if not (staging / J07_TARGET).exists() and (staging / J07_SOURCE).exists():
            (staging / J07_TARGET).parent.mkdir(parents=True, exist_ok=True)
            (staging / J07_TARGET).write_bytes(art_decor_value_set(staging / J07_SOURCE))
            generated.append(str(J07_TARGET))
        on_step("value set J07")
        try:
            CdaSchema(staging / KIT_SCHEMA, "ANS kit")
        except etree.XMLSchemaParseError as exc:
            raise KitError(f"the kit's schema does not compile: {exc}") from None
        on_step("schema compiled")
        value_sets = build([staging / "jeuxDeValeurs"])
        (staging / KIT_FILE).write_text(json.dumps(value_sets, ensure_ascii=False, indent=1),
                                        encoding="utf-8")
        on_step("value sets built")
        old = kit_dir.with_name(kit_dir.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        if kit_dir.exists():
            kit_dir.rename(old)
        staging.rename(kit_dir)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    load_value_sets.cache_clear()
    return KitSummary(kit_dir, len(list((kit_dir / "schematrons").rglob("*.sch"))),
                      len(list((kit_dir / "jeuxDeValeurs").glob("*.xml"))), generated,
                      sorted(value_sets["sets"]))
