"""The project's own CDA R2 schema (`schemas/cda/`, generated from `schemas/cda/model/`) against
the official ANS schema (`reference/schemas/cda-fr/CDA_extended.xsd`): the same verdict on every
sample document and on a seeded corpus of mutants of them."""

from __future__ import annotations

import collections
import subprocess
import sys
from pathlib import Path

import pytest
from lxml import etree

from xds_server.cda.document import NotCda, parse_cda
from xds_server.cda.schema import builtin_schema_path, schema_for

from .cda_mutants import MUTATIONS, mutants
from .conftest import REFERENCE

ROOT = Path(__file__).resolve().parents[1]
OFFICIAL = REFERENCE / "schemas" / "cda-fr" / "CDA_extended.xsd"
SAMPLES = sorted((REFERENCE / "cda-samples").rglob("*.xml"))
MUTANTS_PER_KIND = 70  # 8 kinds: 560 mutants, about 3 s for both schemas
PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                         huge_tree=True)


@pytest.fixture(scope="module")
def schemas() -> tuple[etree.XMLSchema, etree.XMLSchema]:
    ours = etree.XMLSchema(etree.parse(str(ROOT / "schemas" / "cda" / "CDA.xsd"), PARSER))
    official = etree.XMLSchema(etree.parse(str(OFFICIAL), PARSER))
    return ours, official


@pytest.fixture(scope="module")
def clinical_documents() -> dict[str, bytes]:
    """Every sample whose root is a ClinicalDocument (the rest never reach a schema)."""
    documents = {}
    for path in SAMPLES:
        content = path.read_bytes()
        if is_cda(content):
            documents[str(path.relative_to(REFERENCE))] = content
    return documents


def is_cda(content: bytes) -> bool:
    try:
        parse_cda(content)
    except NotCda:
        return False
    return True


def verdicts(schema: etree.XMLSchema, document: etree._Element) -> tuple[bool, str]:
    valid = schema.validate(document)
    return valid, "" if valid else schema.error_log[0].message


def test_the_committed_schema_is_what_the_model_generates():
    script = ROOT / "schemas" / "cda" / "model" / "generate.py"
    run = subprocess.run([sys.executable, str(script), "--check"], capture_output=True,
                         text=True, check=False)
    assert run.returncode == 0, run.stdout + run.stderr


def test_the_builtin_schema_is_the_default_without_a_kit(tmp_path):
    assert builtin_schema_path() == ROOT / "schemas" / "cda" / "CDA.xsd"
    assert schema_for(tmp_path / "no-kit").label == "xds-server CDA R2"


def test_every_sample_gets_the_same_verdict(schemas, clinical_documents):
    ours, official = schemas
    assert len(clinical_documents) >= 30
    disagreements = []
    for name, content in clinical_documents.items():
        document = etree.fromstring(content, PARSER)
        mine, theirs = verdicts(ours, document), verdicts(official, document)
        if mine[0] != theirs[0]:
            disagreements.append(f"{name}: ours {mine}, official {theirs}")
    assert not disagreements, "\n".join(disagreements)
    assert any(not official.validate(etree.fromstring(c, PARSER))
               for c in clinical_documents.values()), "the samples include invalid documents"


def test_samples_that_are_not_cda_are_refused_before_any_schema():
    not_cda = [p.name for p in SAMPLES if not is_cda(p.read_bytes())]
    # the XSLT self-presenting wrapper and an empty file: reported as such, never validated
    assert sorted(not_cda) == ["BIO-CR-BIO_2021.01_Auto-Presentable.xml",
                               "Sample_blank_Empty_Document.xml"]


def test_mutants_get_the_same_verdict(schemas, clinical_documents):
    ours, official = schemas
    tally: collections.Counter[tuple[str, bool]] = collections.Counter()
    disagreements = []
    corpus = list(mutants(clinical_documents, MUTANTS_PER_KIND))
    for mutant in corpus:
        document = etree.fromstring(mutant.document, PARSER)
        mine, theirs = verdicts(ours, document), verdicts(official, document)
        tally[(mutant.kind, theirs[0])] += 1
        if mine[0] != theirs[0]:
            disagreements.append(f"{mutant.kind} in {mutant.source}: {mutant.description}: "
                                 f"ours {mine}, official {theirs}")
    assert len(corpus) >= 500
    assert not disagreements, "\n".join(disagreements[:20])
    for kind in MUTATIONS:  # the corpus must hold real defects of every kind
        assert tally[(kind, False)] > 0, kind
