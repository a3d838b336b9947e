"""Build the product's value-set file from ANS sources: SVS XML value sets (the `jeuxDeValeurs/`
folder of the ANS TestContenuCDA kit, or `reference/value-sets/ans-svs`) and the derived CSV
tables (TRE_A03 classes, J10 format codes, ASS_X16 typeCode → classCode).

Output: one JSON file, `{"sets": {name: {...}}, "maps": {name: {...}}}`, each entry naming the
file and version it came from. Run: `python -m xds_server.valuesets.build SRC_DIR... -o FILE`.
"""

from __future__ import annotations

import argparse
import csv
import json
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

SVS = "urn:ihe:iti:svs:2008"


@dataclass(frozen=True)
class SvsSource:
    """A value set the product checks, and the SVS file it comes from."""

    name: str          # the product's name for it
    file: str          # the ANS file name (same in the kit and in the reference copy)
    purpose: str


SVS_SOURCES = (
    SvsSource("J01", "JDV_J01_XdsAuthorSpecialty_CISIS.xml", "authorSpecialty"),
    SvsSource("J02", "JDV_J02_XdsHealthcareFacilityTypeCode_CISIS.xml",
              "healthcareFacilityTypeCode"),
    SvsSource("J04", "JDV_J04_XdsPracticeSettingCode_CISIS.xml", "practiceSettingCode"),
    SvsSource("J07", "JDV_J07_XdsTypeCode_CISIS.xml", "typeCode"),
    SvsSource("J08", "JDV_J08_XdsConfidentialityCode_CISIS.xml", "confidentialityCode"),
    SvsSource("J143", "JDV_J143_AdministrativeGender_CISIS.xml", "administrativeGenderCode"),
)

# FHIR code-system URLs and aliases of the ANS CSV tables → the OIDs XDS metadata carries
# (CI-SIS "Partage de documents de santé"; MOS/NOS code systems).
SYSTEM_OIDS = {
    "http://loinc.org": "2.16.840.1.113883.6.1",
    "TRE-A03-ClasseDocument": "1.2.250.1.213.1.1.4.1",
    "TRE-A05-TypeDocComplementaire": "1.2.250.1.213.1.1.4.12",
    "TRE-A06-FormatCodeComplementaire": "1.2.250.1.213.1.1.4.2.282",
    "TRE-A09-DICOMuidRegistry": "1.2.840.10008.2.6.1",
    "TRE-A10-NomenclatureURN": "URN",
    "TRE-A11-IheFormatCode": "1.3.6.1.4.1.19376.1.2.3",
    "TRE-A12-NomenclatureASTM": "ASTM",
}


def system_oid(text: str) -> str:
    key = text.rstrip("/").rsplit("/", 1)[-1].lstrip("$")
    return SYSTEM_OIDS.get(text) or SYSTEM_OIDS.get(key) or text


def read_svs(path: Path) -> dict:
    root = etree.parse(str(path), etree.XMLParser(resolve_entities=False, no_network=True))
    value_set = root.find(f"{{{SVS}}}ValueSet")
    concepts = [[c.get("code"), c.get("codeSystem"), c.get("displayName") or ""]
                for c in value_set.iter(f"{{{SVS}}}Concept")
                if not (c.get("dateFin") or "").strip()]
    return {"oid": value_set.get("id"), "title": value_set.get("displayName") or "",
            "version": value_set.get("dateMaj") or value_set.get("revisionDate") or "",
            "source": path.name, "concepts": concepts}


def _csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def read_classes(path: Path) -> dict:
    rows = _csv_rows(path)
    return {"oid": "1.2.250.1.213.1.1.4.1", "title": "TRE_A03 ClasseDocument", "version": "",
            "source": path.name,
            "concepts": [[r["code"], r["codeSystem_oid"], r["display"]] for r in rows]}


def read_formats(path: Path) -> dict:
    rows = _csv_rows(path)
    return {"oid": "1.2.250.1.213.1.1.5.465", "title": "JDV_J10 XdsFormatCode CISIS",
            "version": "", "source": path.name,
            "concepts": [[r["code"], system_oid(r["system_alias"]),
                          r["display_from_J60_if_present"]] for r in rows]}


def read_type_to_class(path: Path) -> dict:
    rows = _csv_rows(path)
    header = list(rows[0]) if rows else []
    pairs = {}
    for row in rows:
        type_code, type_system, class_code, class_system = (row[h] for h in header[:4])
        pairs[f"{type_code}^^{system_oid(type_system)}"] = \
            f"{class_code}^^{system_oid(class_system)}"
    return {"oid": "1.2.250.1.213.1.1.5.587", "title": "ASS_X16 CorrespondanceType-Classe DMP",
            "source": path.name, "pairs": pairs}


CSV_SOURCES = {
    "TRE_A03_ClasseDocument.csv": ("sets", "J06", read_classes),
    "JDV_J10_XdsFormatCode_CISIS.csv": ("sets", "J10", read_formats),
    "ASS_X16_CorrespondanceType_Classe_DMP.csv": ("maps", "ASS_X16", read_type_to_class),
}


def build(sources: list[Path]) -> dict:
    """Later folders win: pass the reference copy first and an installed kit after it."""
    result: dict[str, dict] = {"sets": {}, "maps": {}}
    for folder in sources:
        for spec in SVS_SOURCES:
            path = folder / spec.file
            if path.is_file():
                result["sets"][spec.name] = {**read_svs(path), "purpose": spec.purpose}
        for file_name, (kind, name, reader) in CSV_SOURCES.items():
            path = folder / file_name
            if path.is_file():
                result[kind][name] = reader(path)
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("sources", nargs="+", type=Path)
    parser.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args(argv)
    data = build(args.sources)
    args.output.write_text(json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True) + "\n",
                           encoding="utf-8")
    print(f"{args.output}: " + ", ".join(f"{k} ({len(v.get('concepts', v.get('pairs', [])))})"
                                        for kind in data.values() for k, v in kind.items()))


if __name__ == "__main__":
    main()
