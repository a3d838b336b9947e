"""Who may send what over MLLP (hl7v2/senders.py, XDS_MLLP_SENDERS): each rule of the sender
table tried by the attack it stops. MSH-3/4 are names a sender writes about itself; only the
table binds them to a connection (certificate or network), to message types and to the
organisations a sender acts for. (A TLS client whose certificate is not the one its MSH-3/4 is
bound to: tests/test_hl7v2_mllp.py, over a real connection.)"""

from __future__ import annotations

import pytest
from lxml import etree

from xds_server.hl7v2.senders import SenderTable, SenderTableError
from xds_server.hl7v2.service import Peer
from xds_server.model import vocabulary as v

from .hl7v2_data import (
    ADT_CHU_Y,
    HL7,
    ORU_INIT,
    TEST_NIR,
    adt,
    cda_of,
    hl7_setups,
    load,
    new_control_id,
    new_oid,
    nir,
    rewrite_cda,
    sender,
    senders_file,
    set_field,
    with_cda,
)

OTHER_LAB = "".join([
    sender("SIL-Y", "labo", ("ORU",), ("1120459876",)),
    ADT_CHU_Y,
    sender("LAB2", "ELSEWHERE", ("ORU",), ("1999999999",)),
    sender("FAR", "AWAY", ("ADT",), networks=("10.9.0.0/16",)),
])


@pytest.fixture
def setup(make_settings, database_url, tmp_path):
    with hl7_setups(make_settings, database_url) as make:
        yield make(mllp_senders=str(senders_file(tmp_path, OTHER_LAB)))


def key(ins: str) -> str:
    return f"{ins}^^^&{TEST_NIR}&ISO"


def oru(ins: str, document_id: str, sender: str = "SIL-Y^labo", status: str = "F",
        organisation: str | None = None) -> bytes:
    message = load(ORU_INIT / "message_ORU_CR_Bio_INIT_N3_SEGUR.hl7")
    cda = rewrite_cda(cda_of(message), document_id=document_id, patient=ins)
    if organisation is not None:       # the author's organisation, as a copy can be edited
        root = etree.fromstring(cda)
        for ident in root.iterfind(f"{{{HL7}}}author//{{{HL7}}}representedOrganization/"
                                   f"{{{HL7}}}id"):
            ident.set("extension", organisation)
        cda = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    message = set_field(with_cda(message, cda), "PID", 3,
                        f"{ins}^^^ASIP-SANTE-INS-NIR&{TEST_NIR}&ISO^INS^^20101207")
    app, facility = sender.split("^")
    message = set_field(set_field(message, "MSH", 3, app), "MSH", 4, facility)
    return new_control_id(set_field(message, "OBX", 11, status))


def registered(setup, ins: str) -> str:
    assert setup.send(adt("A28", ins)).code == "AA"
    document_id = new_oid()
    ack = setup.send(oru(ins, document_id))
    assert ack.code == "AA", ack.texts
    return document_id


def test_an_unlisted_sender_is_rejected_and_nothing_is_done(setup):
    """Attack: anyone reaching the port, calling itself anything (EVILAPP^NOWHERE), feeding
    identities or deleting a professional's document with a copy of its CDA."""
    ins = nir()
    ack = setup.send(adt("A28", ins, sender="EVILAPP^NOWHERE"))
    assert ack.code == "AR" and "'EVILAPP' of 'NOWHERE'" in ack.texts and \
        "XDS_MLLP_SENDERS" in ack.texts
    ack = setup.send(oru(ins, new_oid()))                # no record was made
    assert ack.code == "AE" and "XDSUnknownPatientId" in ack.texts
    assert setup.send(adt("A28", ins)).code == "AA"      # the listed ADT: the record exists
    document_id = new_oid()
    assert setup.send(oru(ins, document_id)).code == "AA"
    ack = setup.send(oru(ins, document_id, sender="EVILAPP^NOWHERE", status="D"))
    assert ack.code == "AR"
    assert setup.document(document_id).status == v.APPROVED


def test_a_sender_sends_only_its_message_types(setup):
    """Attack: a lab system (ORU only) sending merges or consent changes (ADT)."""
    ack = setup.send(adt("A28", nir(), sender="SIL-Y^labo"))
    assert ack.code == "AR" and "may not send ADT" in ack.texts


def test_a_network_bound_sender_from_elsewhere_is_rejected(setup):
    """Attack: another machine writing the MSH-3/4 of a sender bound to a network."""
    ack = setup.send(adt("A28", nir(), sender="FAR^AWAY"))
    assert ack.code == "AR" and "does not connect from this address" in ack.texts
    ack = setup.send(adt("A28", nir(), sender="FAR^AWAY"),
                     Peer(address="10.9.1.2:5000", host="10.9.1.2"))
    assert ack.code == "AA"
    ack = setup.send(adt("A28", nir(), sender="FAR^AWAY"),        # a listener on '::'
                     Peer(address="[::ffff:10.9.1.2]:5000", host="::ffff:10.9.1.2"))
    assert ack.code == "AA"


def test_a_listed_sender_cannot_act_for_another_organisation(setup):
    """Attack: a listed lab registering a document authored in another organisation (in its
    professionals' names): AE naming the organisation, nothing registered."""
    ins = nir()
    assert setup.send(adt("A28", ins)).code == "AA"
    document_id = new_oid()
    ack = setup.send(oru(ins, document_id, sender="LAB2^ELSEWHERE"))
    assert ack.code == "AE" and "1120459876" in ack.texts and "'LAB2' of 'ELSEWHERE'" in ack.texts
    assert setup.document(document_id) is None


def test_a_listed_sender_cannot_delete_or_replace_another_organisations_document(setup):
    """Attack: a listed sender deleting (or replacing) a document another organisation
    registered, with a copy of its CDA whose author organisation it rewrote as its own."""
    ins = nir()
    document_id = registered(setup, ins)
    ack = setup.send(oru(ins, document_id, sender="LAB2^ELSEWHERE", status="D",
                         organisation="1999999999"))
    assert ack.code == "AE" and "registered by an organisation" in ack.texts, ack.texts
    assert setup.document(document_id).status == v.APPROVED
    message = load(ORU_INIT / "message_ORU_CR_Bio_INIT_N3_SEGUR.hl7")
    replacement = rewrite_cda(cda_of(message), document_id=new_oid(), patient=ins,
                              replaces=document_id)
    root = etree.fromstring(replacement)
    for ident in root.iterfind(f"{{{HL7}}}author//{{{HL7}}}representedOrganization/"
                               f"{{{HL7}}}id"):
        ident.set("extension", "1999999999")
    replacement = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    ack = setup.send(with_cda(oru(ins, new_oid(), sender="LAB2^ELSEWHERE", status="C"),
                              replacement))
    assert ack.code == "AE" and "registered by an organisation" in ack.texts, ack.texts
    assert setup.document(document_id).status == v.APPROVED
    # its own organisation's sender may
    ack = setup.send(oru(ins, document_id, status="D"))
    assert ack.code == "AA", ack.texts


def test_no_table_rejects_every_message(make_settings, database_url):
    with hl7_setups(make_settings, database_url) as make:
        setup = make(mllp_senders="")
        ack = setup.send(adt("A28", nir()))
        assert ack.code == "AR" and "XDS_MLLP_SENDERS" in ack.texts


@pytest.mark.parametrize(("table", "says"), [
    ('[[sender]]\napplication="A"\nfacility="B"\nmessages=["ADT"]\n',
     "a certificate or to networks"),
    ('[[sender]]\napplication="A"\nfacility="B"\nmessages=["ORU"]\nnetworks=["10.0.0.0/8"]\n',
     "organisations"),
    ('[[sender]]\napplication="A"\nfacility="B"\nmessages=["ADT"]\nnetworks=["nowhere"]\n',
     "networks"),
    ('[[sender]]\napplication="A"\nfacility="B"\nmessages=["SIU"]\nnetworks=["10.0.0.0/8"]\n',
     "messages"),
    ('[[sender]]\napplication="A"\nfacility="B"\nmessages=["ADT"]\nnetwork=["10.0.0.0/8"]\n',
     "unknown keys"),
    ('[[sender]]\napplication="A"\nfacility="B"\nmessages=["ADT"]\nnetworks=["10.0.0.0/8"]\n'
     '[[sender]]\napplication="A"\nfacility="B"\nmessages=["ADT"]\nnetworks=["10.0.0.0/8"]\n',
     "listed twice"),
    ("[[sender]\n", "XDS_MLLP_SENDERS"),
])
def test_a_table_that_cannot_be_used_says_why(tmp_path, table, says):
    with pytest.raises(SenderTableError, match=says):
        SenderTable.load(senders_file(tmp_path, table))


def test_certificate_subjects_compare_whatever_the_names_and_order(tmp_path):
    table = SenderTable.load(senders_file(tmp_path, '[[sender]]\napplication="A"\n'
                                          'facility="B"\nmessages=["ADT"]\n'
                                          'certificate="CN=RIS, O=Hôpital Y"\n'))
    header = type("H", (), {"message_type": "ADT", "sending_application": "A",
                            "sending_facility": "B"})()
    assert table.authorise(header, "", "organizationName=Hôpital Y,commonName=RIS")
    with pytest.raises(Exception, match="another TLS client certificate"):
        table.authorise(header, "", "organizationName=Hôpital Y,commonName=RIS2")
    with pytest.raises(Exception, match="another TLS client certificate"):
        table.authorise(header, "", "")


def with_author(cda: bytes, professional: str) -> bytes:
    """The CDA with another first author (the same organisation)."""
    root = etree.fromstring(cda)
    root.find(f"{{{HL7}}}author/{{{HL7}}}assignedAuthor/{{{HL7}}}id").set("extension",
                                                                          professional)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def replacement_of(ins: str, document_id: str, sender: str = "SIL-Y^labo",
                   author: str | None = None, organisation: str | None = None,
                   status: str = "C") -> tuple[bytes, str]:
    """An ORU carrying a new version of `document_id` (relatedDocument RPLC)."""
    new_id = new_oid()
    message = oru(ins, new_id, sender=sender, status=status, organisation=organisation)
    cda = rewrite_cda(cda_of(message), replaces=document_id)
    return with_cda(message, with_author(cda, author) if author else cda), new_id


def test_a_replacement_by_another_author_of_the_organisation_names_the_rule(setup):
    """Re-test finding: a replacement whose CDA names another professional of the sender's
    organisation got "targetObject … neither in this submission nor in the registry" (the
    registry hides from a professional what they may not see). It is answered with the rule
    (as for ITI-41): a professional replaces their own documents, or another's once the
    patient authorised them to read the record; then it is done."""
    ins = nir()
    document_id = registered(setup, ins)
    message, new_id = replacement_of(ins, document_id, author="810000000000")
    ack = setup.send(message)
    assert ack.code == "AE" and ack.errors[0][3].startswith("206^"), ack.raw
    assert "of another author" in ack.texts and "authorised them" in ack.texts
    assert "neither in this submission" not in ack.texts
    assert setup.document(document_id).status == v.APPROVED
    assert setup.document(new_id) is None
    setup.xds.records.authorize(key(ins), "810000000000")
    ack = setup.send(new_control_id(message))
    assert ack.code == "AA", ack.raw
    assert setup.document(document_id).status == v.DEPRECATED
    assert setup.document(new_id).status == v.APPROVED


def test_a_replacement_by_another_organisation_says_so_whoever_the_author(setup):
    """The other organisation's sender, with the original author or another: the
    organisation rule, never "not in the registry"."""
    ins = nir()
    document_id = registered(setup, ins)
    for author in (None, "810000000000"):
        message, new_id = replacement_of(ins, document_id, sender="LAB2^ELSEWHERE",
                                         author=author, organisation="1999999999")
        ack = setup.send(message)
        assert ack.code == "AE" and "registered by an organisation" in ack.texts, ack.raw
        assert "neither in this submission" not in ack.texts
        assert setup.document(new_id) is None
    assert setup.document(document_id).status == v.APPROVED


def test_obx11_f_with_a_cda_that_replaces_is_refused(setup):
    """Re-test finding: OBX-11 F (first transmission) whose CDA carries relatedDocument
    RPLC was registered as new, the document it replaces left Approved beside it. The volet
    says a replacement is OBX-11 C with the link in the CDA: the two disagree, AE 103 at
    OBX-11 naming both, nothing done; sent as C it replaces."""
    ins = nir()
    document_id = registered(setup, ins)
    message, new_id = replacement_of(ins, document_id, status="F")
    ack = setup.send(message)
    assert ack.code == "AE" and ack.errors[0][2] == "OBX^1^11", ack.raw
    assert ack.errors[0][3].startswith("103^")
    assert "OBX-11 is F" in ack.texts and document_id in ack.texts and "RPLC" in ack.texts
    assert setup.document(new_id) is None
    assert setup.document(document_id).status == v.APPROVED
    ack = setup.send(new_control_id(set_field(message, "OBX", 11, "C")))
    assert ack.code == "AA", ack.raw
    assert setup.document(document_id).status == v.DEPRECATED
