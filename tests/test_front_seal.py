"""The fronts' seal (dsig/on_behalf.py), in process on every database: with the DMP's
signed-set requirement on (cisis), an ITI-65 Bundle and an HL7 v2 ORU are refused without a
seal (their sources cannot sign a set they never see) and accepted with one, their set then
signed by the server, verified like any other and named in the audit. A seal the server would
refuse itself stops it at start, not at the first message."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from xds_server.app import create_app
from xds_server.config import ConfigError
from xds_server.consumer.sources import SourceOptions, submission_for_files
from xds_server.dsig.vocabulary import SIGNATURE_FORMAT
from xds_server.model.hl7 import patient_key
from xds_server.model.stored_queries import GetSubmissionSetAndContents
from xds_server.security.principal import SYSTEM
from xds_server.store import audit_store

from .cda_data import LEVEL1, TEST_INS
from .dsig_data import SealAuthority
from .fhir_data import fhir, provide_bundle
from .hl7v2_data import adt, hl7_setups, nir
from .registry_data import open_patient
from .test_hl7v2_feed import oru_for


@pytest.fixture(scope="module")
def authority(tmp_path_factory) -> SealAuthority:
    return SealAuthority.create(tmp_path_factory.mktemp("front-seal-pki"))


def seal_settings(authority: SealAuthority, name: str = "seal") -> dict[str, object]:
    key, certificate = authority.files(name)
    return {"signature_trusted_certs": str(authority.trusted),
            "front_seal_key": str(key), "front_seal_cert": str(certificate)}


def _bundle(path: Path) -> tuple[dict, str]:
    """(an ITI-65 Bundle of the file, its set's uniqueId)"""
    submission, _ = submission_for_files([path], TEST_INS, SourceOptions())
    for document in submission.documents:
        document.entry_uuid = f"urn:uuid:{uuid.uuid4()}"
    package = submission.submission_set
    package.entry_uuid = f"urn:uuid:{uuid.uuid4()}"
    return (provide_bundle(package, [(submission.documents[0], path.read_bytes())]),
            package.unique_id)


def _set_contents(app, unique_id: str):
    answer = app.registry.query(GetSubmissionSetAndContents(unique_ids=(unique_id,)),
                                SYSTEM)
    return answer.result


def _signed_on_behalf(database, patient: str) -> list[str]:
    with database.reading() as uow:
        return [e.detail for e in audit_store.trail(uow, patient)
                if "signed_on_behalf_by=" in e.detail]


def test_iti65_is_refused_unsigned_without_a_seal(make_app, authority):
    app = make_app(profile="cisis", accept_test_ins=True,
                   signature_trusted_certs=str(authority.trusted))
    open_patient(app, TEST_INS)
    answer = fhir(app, "POST", "", _bundle(LEVEL1)[0])
    assert answer.status == 422, answer.json
    assert "not signed" in str(answer.json)


def test_iti65_is_signed_on_behalf_verified_and_audited(make_app, authority):
    app = make_app(profile="cisis", accept_test_ins=True, **seal_settings(authority))
    open_patient(app, TEST_INS)
    bundle, unique_id = _bundle(LEVEL1)
    answer = fhir(app, "POST", "", bundle)
    assert answer.status == 200, answer.json
    contents = _set_contents(app, unique_id)
    signatures = [d for d in contents.documents
                  if SIGNATURE_FORMAT.code.encode() in (d.stored or b"")]
    assert len(signatures) == 1 and len(contents.documents) == 2
    details = _signed_on_behalf(app.database, patient_key(TEST_INS))
    assert len(details) == 1 and "ORG-SIGN 1750099991" in details[0]


def test_hl7v2_documents_are_signed_on_behalf(make_settings, database_url, authority):
    with hl7_setups(make_settings, database_url) as make:
        setup = make(require_submission_signature=True, **seal_settings(authority))
        ins = nir()
        assert setup.send(adt("A28", ins)).code == "AA"
        message, document_id = oru_for(ins)
        ack = setup.send(message)
        assert ack.code == "AA", ack
        registered = setup.xds.registry.registered_documents([document_id])
        patient = registered[document_id].patient_id
        assert _signed_on_behalf(setup.xds.database, patient)


@pytest.mark.parametrize(("seal", "says"), [
    ("other-authority", "would be refused by this server's own verification"),
    ("expired", "would be refused by this server's own verification"),
    ("key-only", "go together"),
])
def test_a_seal_the_server_would_refuse_stops_it_at_start(make_settings, authority, seal,
                                                         says):
    settings = seal_settings(authority, "seal" if seal == "key-only" else seal)
    if seal == "key-only":
        settings["front_seal_cert"] = ""
    with pytest.raises(ConfigError, match=says):
        create_app(make_settings(profile="cisis", **settings))
