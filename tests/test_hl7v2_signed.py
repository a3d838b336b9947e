"""The HL7 v2 front without the fronts' seal while signed sets are required (docs/hl7v2.md,
registry/signed_sets.py rule J): its sets are unsigned (an HL7 v2 message carries no XAdES), so
it may register and replace its own documents, but an unsigned replacement of a document a
signed set registered is refused: an OBX-11 'C' no longer silently replaces a signed CDA."""

from __future__ import annotations

import pytest

from xds_server.model import vocabulary as v

from .cda_data import TEST_INS
from .dsig_data import signed_submission
from .hl7v2_data import CONSENT, MDM_INIT, MDM_RPLC, cda_of, hl7_setups, load
from .test_signed_repository import provide

FIRST = "1.2.250.1.71.4.2.2.120456789.71024000081"
SECOND = "1.2.250.1.71.4.2.2.120456789.71024000082"


@pytest.fixture
def setup(make_settings, database_url, authority):
    with hl7_setups(make_settings, database_url) as make:
        setup = make(validate_cda=False, require_submission_signature=True,
                     signature_trusted_certs=str(authority.trusted))
        assert setup.send(load(CONSENT / "ConsentementConsultation_NonOppositionAlimentation"
                                         ".er7")).code == "AA"
        yield setup


def test_an_unsigned_replacement_of_a_signed_document_is_refused(setup, authority, tmp_path):
    """The first document registered by a signed ITI-41, its correction sent by MLLP."""
    initial = tmp_path / "initial.xml"
    initial.write_bytes(cda_of(load(MDM_INIT / "message_MDM_CR_Radio_INIT_N1_Base64.er7")))
    submission, documents, _ = signed_submission(authority, [initial], TEST_INS)
    provide(setup.xds, submission, documents)       # an ITI-41, as decoded
    assert setup.document(FIRST).status == v.APPROVED
    ack = setup.send(load(MDM_RPLC / "message_MDM_CR_Radio_RPLC_N1.er7"))
    assert ack.code in ("AE", "AR"), ack.raw
    assert "an unsigned submission set may not replace document" in ack.texts and \
        "rule J" in ack.texts, ack.texts
    assert setup.document(FIRST).status == v.APPROVED and setup.document(SECOND) is None


def test_the_front_replaces_its_own_unsigned_documents(setup):
    """The exemption stands for what the front registered itself (measured design: an HL7 v2
    source cannot sign)."""
    assert setup.send(load(MDM_INIT / "message_MDM_CR_Radio_INIT_N1_Base64.er7")).code == "AA"
    ack = setup.send(load(MDM_RPLC / "message_MDM_CR_Radio_RPLC_N1.er7"))
    assert ack.code == "AA", ack.raw
    assert setup.document(FIRST).status == v.DEPRECATED


@pytest.mark.parametrize("style", ["dmp", "dsg"])
def test_an_unsigned_replacement_after_a_metadata_update_is_refused(setup, authority,
                                                                    tmp_path, style):
    """Outside round 19c N1: a title-only ITI-57 first (version 2, a member of the update's
    unsigned set only), then the MLLP correction replacing version 2: rule J looked at version
    2 alone; rule K (registry/signed_state.py) follows its logicalId to the signed set."""
    from .dsig_data import with_uuids
    from .test_registry_signed_sets import update

    initial = tmp_path / "initial.xml"
    initial.write_bytes(cda_of(load(MDM_INIT / "message_MDM_CR_Radio_INIT_N1_Base64.er7")))
    submission, documents, signature = signed_submission(authority, [initial], TEST_INS)
    if style == "dmp":      # `signs` to the SubmissionSet only, as the DMP's clients write it
        submission.associations = [
            a for a in submission.associations
            if a.type != v.SIGNS or a.target == submission.submission_set.entry_uuid]
    with_uuids(submission, documents)
    provide(setup.xds, submission, documents)
    cda = next(d for d in submission.documents if d is not signature)
    held = setup.document(FIRST)
    reply = update(setup.xds, cda, title="Compte rendu corrigé", hash=held.hash,
                   size=str(held.size), repository_unique_id=held.repository_unique_id)
    assert reply.status.endswith(":Success"), reply.errors
    ack = setup.send(load(MDM_RPLC / "message_MDM_CR_Radio_RPLC_N1.er7"))
    assert ack.code in ("AE", "AR"), ack.raw
    assert "rule K1" in ack.texts or "rule J" in ack.texts, ack.texts
    assert setup.document(FIRST).status == v.APPROVED and setup.document(SECOND) is None
