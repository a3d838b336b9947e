"""Every ANS HL7 v2 example (../shared/reference/hl7v2) gets the answer its folder says, in
process: the PAM-FR feed ones change the patient's record and consent, the ORU/MDM ones
register, replace and delete their documents, which ITI-18 then finds and ITI-43 returns byte
for byte. Each folder is a scenario of its own (the ANS reuse control ids across folders)."""

from __future__ import annotations

import pytest

from xds_server.model import vocabulary as v

from .hl7v2_data import (
    CONSENT,
    INS,
    MDM_DEL,
    MDM_INIT,
    MDM_RPLC,
    ORU_DEL,
    ORU_INIT,
    ORU_RPLC,
    SGL,
    cda_of,
    hl7_setups,
    load,
    new_control_id,
    new_oid,
    parse_ack,
    rewrite_cda,
    set_field,
    with_cda,
)

FEED_PERSON = "810000023084"   # ROL-4 of the consent examples: RPPS 10000023084 → idNat_PS


@pytest.fixture
def make_hl7(make_settings, database_url):
    with hl7_setups(make_settings, database_url) as make:
        yield make


@pytest.fixture
def setup(make_hl7):
    return make_hl7()


# --- PAM-FR -------------------------------------------------------------------------------------

def test_sgl_admission_and_discharge(setup):
    """SGL: the admission (A01) opens the record of PAT-TROIS with its local identifier (its
    ZFA-11 says IC but no ROL names a professional: a warning, nothing recorded for it); the
    discharge (A03) is acknowledged and changes nothing."""
    ack = setup.send(load(SGL / "admission.er7"))
    assert (ack.code, ack.control_id) == ("AA", "3975")
    assert [(e[2], e[4]) for e in ack.errors] == [("ZFA^1^11", "W")]
    assert "ZFA-11 is IC but no ROL-4" in ack.texts
    record = setup.xds.records.record(INS)
    assert record is not None and record.status == "open"
    assert not record.opposed_modes                      # ZFA-9 INO: not opposed to feeding
    identifiers = setup.hl7.service.patients.identities.identifiers(INS)
    assert ("000003^^^CHU-X&000897406&N", "local") in identifiers
    ack = setup.send(load(SGL / "sortie.er7"))
    assert (ack.code, ack.control_id) == ("AA", "3995")
    assert setup.xds.records.record(INS) == record


CONSENT_STEPS = [
    # file, the feeding opposition after it, the ROL professional authorised after it
    ("ConsentementConsultation_NonOppositionAlimentation.er7", False, True),
    ("NonConsentementConsultation_NonOppositionAlimentation.er7", False, False),
    ("NonConsentementConsultation_OppositionAlimentation.er7", True, False),
    ("NonRecueillieConsentementConsultation_NonOppositionAlimentation.er7", False, False),
    ("NonRecueillieConsentementConsultation_NonRecueillieOppositionAlimentation.er7",
     False, False),
]


def test_consent_examples_set_what_the_access_decision_reads(setup):
    """The five consent combinations, in the folder's order: ZFA-9 sets or withdraws the
    opposition to feeding, ZFA-11 authorises (IC) or no longer authorises (INC) the
    professional ROL names; NA leaves each as it was."""
    for name, opposed, authorised in CONSENT_STEPS:
        ack = setup.send(load(CONSENT / name))
        assert ack.code == "AA", (name, ack.raw)
        record = setup.xds.records.record(INS)
        assert ("alimentation" in record.opposed_modes) is opposed, name
        professionals = {a.professional_id for a in setup.xds.records.professionals(INS)}
        assert (FEED_PERSON in professionals) is authorised, name


def test_opposition_to_feeding_refuses_hl7_documents(setup):
    """After NonConsentementConsultation_OppositionAlimentation, an ORU for the patient is
    refused by the access decision's feeding rule, the document named."""
    setup.send(load(CONSENT / "NonConsentementConsultation_OppositionAlimentation.er7"))
    ack = setup.send(load(ORU_INIT / "message_ORU_CR_Bio_INIT_N3_SEGUR.hl7"))
    assert ack.code == "AE"
    assert "opposed the feeding" in ack.texts and "OBX-1" in ack.texts
    assert setup.documents() == []


# --- MDM ----------------------------------------------------------------------------------------

def _expected_ack(folder) -> tuple[str, str, str]:
    ack = parse_ack(load(folder / "ack.er7"))
    return ack.code, ack.control_id, ack.message_type


def test_mdm_examples_with_cisis_cda_rules(setup):
    """Under the CI-SIS CDA rules (the default), the first transmission is refused as an ITI-41
    of the same CDA is: the ANS example has no setId (the CI-SIS header requires one); the
    placeholder message (no CDA in OBX-5) is refused naming OBX-1."""
    setup.send(load(CONSENT / "ConsentementConsultation_NonOppositionAlimentation.er7"))
    ack = setup.send(load(MDM_INIT / "message_MDM_CR_Radio_INIT_N1.er7"))
    assert ack.code == "AE" and ack.errors[0][2] == "OBX^1^5^1^5"
    assert "not a CDA" in ack.texts
    ack = setup.send(load(MDM_INIT / "message_MDM_CR_Radio_INIT_N1_Base64.er7"))
    assert ack.code == "AE" and "CI-SIS-SETID" in ack.texts and "OBX-1" in ack.texts
    assert setup.documents() == []


def test_mdm_examples_initial_replacement_deletion(make_hl7):
    """With XDS_VALIDATE_CDA=false, the MDM folder's chain is answered as its ack.er7 files
    say: T02 registers (the document invisible to the patient and their representatives, as
    its OBX flags say), T10 replaces (now visible), T04 deletes."""
    setup = make_hl7(validate_cda=False)
    setup.send(load(CONSENT / "ConsentementConsultation_NonOppositionAlimentation.er7"))
    assert setup.send(load(MDM_INIT / "message_MDM_CR_Radio_INIT_N1.er7")).code == "AE"
    initial = load(MDM_INIT / "message_MDM_CR_Radio_INIT_N1_Base64.er7")
    ack = setup.send(initial)
    assert (ack.code, ack.control_id) == ("AA", "015"), ack.raw
    first_id = "1.2.250.1.71.4.2.2.120456789.71024000081"
    record = setup.document(first_id)
    assert record.status == v.APPROVED
    assert record.visibility_codes == {v.INVISIBLE_PATIENT, v.INVISIBLE_REPRESENTANTS}
    assert setup.retrieve(first_id) == cda_of(initial)

    replacement = load(MDM_RPLC / "message_MDM_CR_Radio_RPLC_N1.er7")
    # OBX-11 F contradicts the CDA's relatedDocument RPLC, and an MDM^T10 (replacement)
    for contradictory, says in ((replacement, "relatedDocument"),
                                (with_cda(replacement, cda_of(initial)), "MDM T10")):
        ack = setup.send(new_control_id(set_field(contradictory, "OBX", 11, "F")))
        assert ack.code == "AE" and ack.errors[0][2] == "OBX^1^11", ack.raw
        assert "OBX-11 is F" in ack.texts and says in ack.texts
    assert setup.document(first_id).status == v.APPROVED
    ack = setup.send(replacement)
    assert (ack.code, ack.control_id, ack.message_type) == _expected_ack(MDM_RPLC)
    second_id = "1.2.250.1.71.4.2.2.120456789.71024000082"
    assert setup.document(first_id).status == v.DEPRECATED
    assert setup.document(second_id).visibility_codes == frozenset()
    assert setup.documents() == [second_id]
    assert setup.retrieve(second_id) == cda_of(replacement)

    ack = setup.send(load(MDM_DEL / "message_MDM_CR_Radio_DEL_N1.er7"))
    assert (ack.code, ack.control_id, ack.message_type) == _expected_ack(MDM_DEL)
    assert setup.document(second_id).status == v.CISIS_DELETED
    assert setup.documents() == []


# --- ORU ----------------------------------------------------------------------------------------

def test_oru_initial_transmission(setup):
    setup.send(load(CONSENT / "ConsentementConsultation_NonOppositionAlimentation.er7"))
    message = load(ORU_INIT / "message_ORU_CR_Bio_INIT_N3_SEGUR.hl7")
    ack = setup.send(message)
    assert (ack.code, ack.control_id) == ("AA", "015"), ack.raw
    assert setup.documents() == ["1.2.250.1.213.1.1.9"]
    assert setup.retrieve("1.2.250.1.213.1.1.9") == cda_of(message)


def test_oru_examples_as_published(setup):
    """The ORU folders' messages are not one chain: all three reuse MSH-10 015 (refused for
    the second, as HL7 wants a control id per message), and with a new MSH-10 (the README's
    first instruction) the replacement names a document that was never sent
    (1.2.250.1.213.1.1.12) and the deletion's CDA is about another patient than PID-3: each
    refused AE, naming the document."""
    setup.send(load(CONSENT / "ConsentementConsultation_NonOppositionAlimentation.er7"))
    assert setup.send(load(ORU_INIT / "message_ORU_CR_Bio_INIT_N3_SEGUR.hl7")).code == "AA"
    replacement = load(ORU_RPLC / "message_ORU_CR_Bio_RPLC_N3_SEGUR.hl7")
    ack = setup.send(replacement)
    assert ack.code == "AR" and ack.errors[0][3].startswith("205")
    ack = setup.send(new_control_id(replacement))
    assert ack.code == "AE" and "1.2.250.1.213.1.1.12" in ack.texts and "OBX-1" in ack.texts
    ack = setup.send(new_control_id(load(ORU_DEL / "message_ORU_CR_Bio_DEL_N3_SEGUR.hl7")))
    assert ack.code == "AE" and "recordTarget" in ack.texts
    assert setup.documents() == ["1.2.250.1.213.1.1.9"]


def test_oru_chain_after_the_readme_instructions(setup):
    """The README's instructions for an integration test (a new MSH-10, the replaced
    document's id in relatedDocument, the deletion carrying the last version): the chain
    registers, replaces and deletes."""
    setup.send(load(CONSENT / "ConsentementConsultation_NonOppositionAlimentation.er7"))
    initial = load(ORU_INIT / "message_ORU_CR_Bio_INIT_N3_SEGUR.hl7")
    assert setup.send(initial).code == "AA"
    second = new_oid()
    replacement = load(ORU_RPLC / "message_ORU_CR_Bio_RPLC_N3_SEGUR.hl7")
    new_version = rewrite_cda(cda_of(replacement), document_id=second,
                              replaces="1.2.250.1.213.1.1.9")
    replacement = new_control_id(with_cda(replacement, new_version))
    ack = setup.send(replacement)
    assert ack.code == "AA", ack.raw
    assert setup.document("1.2.250.1.213.1.1.9").status == v.DEPRECATED
    assert setup.documents() == [second]
    assert setup.retrieve(second) == new_version
    deletion = new_control_id(with_cda(load(ORU_DEL / "message_ORU_CR_Bio_DEL_N3_SEGUR.hl7"),
                                       new_version))
    ack = setup.send(deletion)
    assert ack.code == "AA", ack.raw
    assert setup.document(second).status == v.CISIS_DELETED
    assert setup.documents() == []
