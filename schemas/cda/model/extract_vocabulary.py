"""Transcribes the HL7 V3 vocabulary codes the CDA model's attributes use into `vocabulary.txt`
(one code system a line: NAME CODE...). HL7 publishes each as an enumeration or a union of
enumerations in `voc.xsd`; what the schema needs is the flat set of codes, so unions are
resolved here. Usage: `python schemas/cda/model/extract_vocabulary.py PATH/TO/voc.xsd`.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from lxml import etree

XS = "{http://www.w3.org/2001/XMLSchema}"
MODEL_DIR = Path(__file__).resolve().parent
MODEL_FILES = ("datatypes.model", "narrative.model", "cda.model", "extensions.model")
NAME = re.compile(r"^[A-Za-z_][\w.]*$")


def referenced_names() -> set[str]:
    """Type names the model uses but does not define: attribute types and list items."""
    used: set[str] = set()
    defined: set[str] = set()
    for name in MODEL_FILES:
        for raw in (MODEL_DIR / name).read_text(encoding="utf-8").splitlines():
            words = raw.split()
            if not words or words[0].startswith("#"):
                continue
            if words[0] in ("simple", "type", "class"):
                defined.add(words[1])
            if words[0] == "simple" and words[3:4] == ["list"]:
                used.add(words[4])
            if words[0].startswith("@") and len(words) > 1:
                used.add(words[1].removeprefix("hl7:"))
    return {n for n in used - defined if NAME.match(n) and not n.startswith("xs:")}


def codes_of(name: str, types: dict[str, etree._Element]) -> list[str]:
    element = types[name]
    codes = [e.get("value") for e in element.iter(f"{XS}enumeration")]
    for union in element.iter(f"{XS}union"):
        for member in (union.get("memberTypes") or "").split():
            codes += codes_of(member, types)
    return list(dict.fromkeys(codes))


def main(voc_path: str) -> None:
    root = etree.parse(voc_path).getroot()
    types = {e.get("name"): e for e in root if e.tag == f"{XS}simpleType"}
    lines = ["# HL7 V3 vocabulary (normative edition, as shipped with the CDA R2 schemas),",
             "# transcribed by extract_vocabulary.py: one code system a line, unions resolved."]
    for name in sorted(referenced_names()):
        lines.append(" ".join([name, *codes_of(name, types)]))
    (MODEL_DIR / "vocabulary.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1])
