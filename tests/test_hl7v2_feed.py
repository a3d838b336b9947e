"""The HL7 v2 front with messages of the same volets written here: PAM-FR identities (INS and
its status, local identifiers, refusals), A40 merges and A47 identifier changes, idempotence,
several documents in one message, other segment orders, escape sequences and character sets.
"""

from __future__ import annotations

import pytest

from xds_server.model import vocabulary as v
from xds_server.model.stored_queries import GetDocuments
from xds_server.security.principal import SYSTEM
from xds_server.store import audit_store

from .hl7v2_data import (
    ORU_INIT,
    TEST_NIR,
    adt,
    cda_of,
    field,
    hl7_setups,
    join,
    load,
    new_control_id,
    new_oid,
    nir,
    parse_ack,
    rewrite_cda,
    segments,
    set_field,
    with_cda,
)


@pytest.fixture
def make_hl7(make_settings, database_url):
    with hl7_setups(make_settings, database_url) as make:
        yield make


@pytest.fixture
def setup(make_hl7):
    return make_hl7()


def key(ins: str, oid: str = TEST_NIR) -> str:
    return f"{ins}^^^&{oid}&ISO"


def oru_for(ins: str, document_id: str | None = None) -> tuple[bytes, str]:
    """The ANS ORU first transmission, for another patient and with a new document id (the
    README's integration instructions)."""
    message = load(ORU_INIT / "message_ORU_CR_Bio_INIT_N3_SEGUR.hl7")
    document_id = document_id or new_oid()
    cda = rewrite_cda(cda_of(message), document_id=document_id, patient=ins)
    message = set_field(with_cda(message, cda), "PID", 3,
                        f"{ins}^^^ASIP-SANTE-INS-NIR&{TEST_NIR}&ISO^INS^^20101207")
    return new_control_id(message), document_id


def forms_agree(record) -> None:
    """The DocumentReference kept with a moved record (fhir/stored_forms.py) is the one its
    LeafClass gives, so ITI-67 names the new patient as ITI-18 does."""
    from xds_server.ebxml.stored import model_object, stored_second_form
    from xds_server.fhir.stored_forms import document_form

    form = stored_second_form(record)
    assert form is not None and form == document_form(model_object(record))
    assert model_object(record).patient_id.split("^")[0].encode() in form


def trail(setup, patient: str, transaction: str | None = None):
    with setup.xds.database.reading() as uow:
        events = audit_store.trail(uow, patient)
    return [e for e in events if transaction is None or e.transaction == transaction]


# --- identities ---------------------------------------------------------------------------------

def test_a28_creates_and_a31_updates_with_local_identifiers(setup):
    ins = nir()
    ack = setup.send(adt("A28", ins, local="IPP-1"))
    assert ack.code == "AA", ack.raw
    assert setup.xds.records.record(key(ins)).status == "open"
    ack = setup.send(adt("A31", ins, local="IPP-1",
                         zfa="ZFA|ACTIF|20261202||||Y|N||IO|20261202|NA|"))
    assert ack.code == "AA"
    assert setup.xds.records.record(key(ins)).opposed_modes == {"bris_de_glace",
                                                                 "alimentation"}
    identifiers = setup.hl7.service.patients.identities.identifiers(key(ins))
    assert identifiers == [("IPP-1^^^&1.2.250.1.999.7&ISO", "local")]
    events = trail(setup, key(ins))
    assert {e.transaction for e in events} == {"ITI-30"}
    assert all(e.subject_id == "GAM^CHU-Y" and e.structure_id == "CHU-Y" for e in events)


def test_identity_not_qualified_changes_nothing(setup):
    """PID-32 PROV: acknowledged (the ADT sends every patient) with a warning, no record."""
    ins = nir()
    ack = setup.send(adt("A28", ins, status="PROV"))
    assert ack.code == "AA"
    [error] = ack.errors
    assert error[2] == "PID^1^32" and error[4] == "W" and "VALI" in error[8]
    assert setup.xds.records.record(key(ins)) is None


def test_ins_refused_with_the_field(make_hl7):
    setup = make_hl7(accept_test_ins=False)
    ack = setup.send(adt("A28", nir()))           # the test NIR OID on a production server
    assert ack.code == "AE" and ack.errors[0][2] == "PID^1^3^1"
    assert ack.errors[0][3].startswith("103") and "XDS_ACCEPT_TEST_INS" in ack.texts
    bad_key = nir()[:13] + "00"
    ack = setup.send(adt("A28", bad_key, oid="1.2.250.1.213.1.4.8"))
    assert ack.code == "AE" and ack.errors[0][3].startswith("102") and "key" in ack.texts
    good = nir()
    assert setup.send(adt("A28", good, oid="1.2.250.1.213.1.4.8")).code == "AA"


def test_local_identifier_of_another_patient_is_refused(setup):
    assert setup.send(adt("A28", nir(), local="IPP-9")).code == "AA"
    other = nir()
    ack = setup.send(adt("A28", other, local="IPP-9"))
    assert ack.code == "AE" and ack.errors[0][3].startswith("205")
    assert setup.xds.records.record(key(other)) is None


@pytest.mark.parametrize(("message", "code", "error"), [
    (b"garbage\r", "AR", "100"),
    (b"MSH|^~\\&|A|B|C|D|20260101||SIU^S12|1|P|2.5\r", "AR", "200"),
    (b"MSH|^~\\&|A|B|C|D|20260101||ADT^A09|1|P|2.5\r", "AR", "201"),
    (b"MSH|^~\\&|A|B|C|D|20260101||ADT^A28|1|X|2.5\r", "AR", "202"),
    (b"MSH|^~\\&|A|B|C|D|20260101||ADT^A28|1|P|3.0\r", "AR", "203"),
    (b"MSH|^~\\&|A|B|C|D|20260101||ADT^A28||P|2.5\r", "AR", "101"),
    (b"MSH|^~\\&|A|B|C|D|20260101||ADT^A28|1|P|2.5\rEVN||1\r", "AE", "100"),
    (b"MSH|^~\\&|A|B|C|D|20260101||ADT^A28|1|P|2.5||||||ISO-2022\r", "AR", "103"),
    (b"MSH|^~\\&|A|B|C|D|20260101||ADT^A28|1|P|2.5\rPID|1||\xff\xfe\r", "AR", "102"),
    (b"MSH|^~\\&|A|B|C|D|20260101||ADT^A28|1|P|2.5\rP!D|1\r", "AR", "100"),
    # encoding characters (MSH-2): duplicated, too few, a letter
    (b"MSH|^^\\&|A|B|C|D|20260101||ADT^A28|ENC-1|P|2.5\rEVN||1\r", "AR", "102"),
    (b"MSH|^~|A|B|C|D|20260101||ADT^A28|ENC-2|P|2.5\rEVN||1\r", "AR", "102"),
    (b"MSH|^~\\a|A|B|C|D|20260101||ADT^A28|ENC-3|P|2.5\rEVN||1\r", "AR", "102"),
])
def test_malformed_messages_are_answered(setup, message, code, error):
    ack = setup.send(message)
    assert ack.code == code and ack.errors[0][3].split("^")[0] == error, ack.raw
    assert b"Traceback" not in ack.raw
    if b"|ENC-" in message:      # MSH-10 readable: answered with it (finding 9)
        assert ack.control_id.startswith("ENC-") and ack.errors[0][2] == "MSH^1^2"


def test_latin1_and_crlf_and_escapes(setup):
    ins = nir()
    message = adt("A28", ins, charset="8859/1", family="LÉGER\\S\\X").decode()
    raw = message.replace("\r", "\r\n").encode("latin-1")
    ack = setup.send(raw)
    assert ack.code == "AA", ack.raw
    assert setup.xds.records.record(key(ins)) is not None


# --- idempotence --------------------------------------------------------------------------------

def test_same_message_twice_acts_once(setup):
    ins = nir()
    message = adt("A31", ins, control_id="C-1", zfa="ZFA|ACTIF||||||||IO||NA|")
    first = setup.raw(message)
    audited = trail(setup, key(ins))
    assert {e.detail.split("\n")[0] for e in audited} >= {"message=ADT^A31"}
    again = setup.raw(message.replace(b"\r", b"\n"))   # the same message
    assert first == again and parse_ack(first).code == "AA"
    assert trail(setup, key(ins)) == audited


def test_same_control_id_other_content_is_refused(setup):
    ins = nir()
    assert setup.send(adt("A31", ins, control_id="C-2")).code == "AA"
    ack = setup.send(adt("A31", ins, control_id="C-2", zfa="ZFA|ACTIF||||||||IO||NA|"))
    assert ack.code == "AR" and ack.errors[0][2] == "MSH^1^10"
    assert ack.errors[0][3].startswith("205")
    assert setup.xds.records.record(key(ins)).opposed_modes == frozenset()


def test_refused_message_leaves_its_control_id_free(setup):
    """An AE had no effect: the corrected message may use the same control id."""
    ins = nir()
    assert setup.send(adt("A31", ins, control_id="C-3", zfa="ZFA|ACTIF||||||||XX||NA|")
                      ).code == "AE"
    assert setup.send(adt("A31", ins, control_id="C-3")).code == "AA"


def test_document_sent_twice_is_registered_once(setup):
    ins = nir()
    setup.send(adt("A28", ins))
    message, document_id = oru_for(ins)
    first = setup.raw(message)
    assert parse_ack(first).code == "AA", first
    assert setup.raw(message) == first
    assert setup.documents(patient=key(ins)) == [document_id]


# --- documents ----------------------------------------------------------------------------------

def test_several_documents_in_one_message_and_segment_orders(setup):
    """Two CDA documents in one ORU, each followed by its own flags; the second's PRT before
    its flags, and an escape sequence in OBR-4: both registered, each with its flags."""
    ins = nir()
    setup.send(adt("A28", ins))
    message, first_id = oru_for(ins)
    lines = segments(message)
    document = next(i for i, line in enumerate(lines) if line.startswith("OBX|1|ED|"))
    second_id = new_oid()
    second = rewrite_cda(cda_of(message), document_id=second_id, patient=ins)
    tail = [line for line in lines[document + 1:] if line.startswith(("OBX|", "PRT|"))]
    copy = [line for line in tail if line.startswith("PRT|")] + \
        [line.replace("MASQUE_PS^Masqué aux professionnels de Santé^MetaDMPMSS||N",
                      "MASQUE_PS^Masqué\\T\\caché^MetaDMPMSS||Y")
         for line in tail if line.startswith("OBX|")]
    lines = [line.replace("11502-2^CR d'examens biologiques^LN",
                          "11502-2^CR d'examens \\T\\ biologiques^LN")
             if line.startswith("OBR|") else line for line in lines]
    lines += [lines[document].replace("OBX|1|", "OBX|13|"), *copy]
    message = with_cda(join(lines), second, obx=2)
    ack = setup.send(message)
    assert ack.code == "AA", ack.raw
    assert setup.documents(patient=key(ins)) == sorted([first_id, second_id])
    answer = setup.xds.registry.query(GetDocuments(unique_ids=(first_id, second_id)), SYSTEM)
    flags = {d.unique_id: d.visibility_codes for d in answer.result.documents}
    assert flags == {first_id: frozenset(), second_id: {v.MASQUE_PS}}
    assert setup.retrieve(second_id) == second


def test_document_for_an_identity_not_qualified_is_refused(setup):
    ins = nir()
    setup.send(adt("A28", ins))
    message, _ = oru_for(ins)
    pid = field(message, "PID", 32)
    assert pid == "VALI"
    ack = setup.send(set_field(message, "PID", 32, "PROV"))
    assert ack.code == "AE" and ack.errors[0][2] == "PID^1^32"


def test_document_for_an_unknown_patient_is_refused(setup):
    message, _ = oru_for(nir())
    ack = setup.send(message)
    assert ack.code == "AE" and "XDSUnknownPatientId" in ack.texts and "OBX-1" in ack.texts


def test_bad_obx_values_name_the_field(setup):
    ins = nir()
    setup.send(adt("A28", ins))
    message, _ = oru_for(ins)
    lines = segments(message)
    index = next(i for i, line in enumerate(lines) if line.startswith("OBX|1|ED|"))
    parts = lines[index].split("|")
    parts[11] = "X"
    ack = setup.send(join([*lines[:index], "|".join(parts), *lines[index + 1:]]))
    assert ack.code == "AE" and ack.errors[0][2] == "OBX^1^11"
    value = parts[5].split("^")
    value[4] = "!!not base64!!"
    parts[5], parts[11] = "^".join(value), "F"
    ack = setup.send(join([*lines[:index], "|".join(parts), *lines[index + 1:]]))
    assert ack.code == "AE" and ack.errors[0][2] == "OBX^1^5^1^5"


# --- A40 and A47 --------------------------------------------------------------------------------

def test_a40_merge_moves_documents_and_keeps_the_history(setup):
    survivor, merged = nir(), nir()
    for ins in (survivor, merged):
        assert setup.send(adt("A28", ins)).code == "AA"
    kept_message, kept = oru_for(survivor)
    moved_message, moved = oru_for(merged)
    assert setup.send(kept_message).code == "AA"
    assert setup.send(moved_message).code == "AA"
    merge = adt("A40", survivor,
                mrg=f"{merged}^^^ASIP-SANTE-INS-NIR&{TEST_NIR}&ISO^INS")
    ack = setup.send(merge)
    assert ack.code == "AA", ack.raw
    assert setup.documents(patient=key(survivor)) == sorted([kept, moved])
    assert setup.documents(patient=key(merged)) == []
    # the registered form now names the survivor (what ITI-18 LeafClass returns)
    from xds_server.ebxml.stored import model_object

    answer = setup.xds.registry.query(GetDocuments(unique_ids=(moved,)), SYSTEM)
    assert model_object(answer.result.documents[0]).patient_id == key(survivor)
    forms_agree(answer.result.documents[0])       # and so does the kept DocumentReference
    assert setup.xds.records.record(key(merged)).status == "merged"
    merges = trail(setup, key(survivor), "ITI-8") + trail(setup, key(merged), "ITI-8")
    assert any(f"merged={key(merged)}" in e.detail and moved in e.documents.split()
               for e in merges)
    # sent again: the same ACK, nothing more
    assert setup.raw(merge) == ack.raw
    # the merged identifier takes no document any more, and no second merge (nor a cycle)
    again, _ = oru_for(merged)
    assert setup.send(again).code == "AE"
    cycle = adt("A40", merged, mrg=f"{survivor}^^^ASIP-SANTE-INS-NIR&{TEST_NIR}&ISO^INS")
    ack = setup.send(cycle)
    assert ack.code == "AE" and ack.errors[0][3].startswith("205")
    assert ack.errors[0][2] == "PID^1^3"           # the already-merged record is PID-3's


def test_a40_unknown_patient_is_refused(setup):
    survivor = nir()
    setup.send(adt("A28", survivor))
    ack = setup.send(adt("A40", survivor,
                         mrg=f"{nir()}^^^ASIP-SANTE-INS-NIR&{TEST_NIR}&ISO^INS"))
    assert ack.code == "AE" and ack.errors[0][2] == "MRG^1^1"
    assert ack.errors[0][3].startswith("204")
    ack = setup.send(adt("A40", survivor,
                         mrg=f"{survivor}^^^ASIP-SANTE-INS-NIR&{TEST_NIR}&ISO^INS"))
    assert ack.code == "AE"


def test_a40_by_local_identifier(setup):
    survivor, merged = nir(), nir()
    setup.send(adt("A28", survivor, local="IPP-S"))
    setup.send(adt("A28", merged, local="IPP-M"))
    ack = setup.send(adt("A40", survivor, local="IPP-S",
                         mrg="IPP-M^^^CHU-Y&1.2.250.1.999.7&ISO^PI"))
    assert ack.code == "AA", ack.raw
    assert setup.xds.records.record(key(merged)).status == "merged"
    identities = setup.hl7.service.patients.identities
    assert identities.resolve(["IPP-M^^^&1.2.250.1.999.7&ISO"]) == key(survivor)


def test_a47_changes_the_ins(setup):
    old, new = nir(), nir()
    setup.send(adt("A28", old))
    message, document = oru_for(old)
    assert setup.send(message).code == "AA"
    ack = setup.send(adt("A47", new, mrg=f"{old}^^^ASIP-SANTE-INS-NIR&{TEST_NIR}&ISO^INS"))
    assert ack.code == "AA", ack.raw
    assert setup.documents(patient=key(new)) == [document]
    assert setup.documents(patient=key(old)) == []
    answer = setup.xds.registry.query(GetDocuments(unique_ids=(document,)), SYSTEM)
    forms_agree(answer.result.documents[0])


def test_the_same_document_from_several_connections_at_once_acts_once(setup):
    """A sender that resends while the first is still being processed: one effect; every
    answer is the first's ACK, or an AR asking to send again (never an AE)."""
    import threading

    ins = nir()
    setup.send(adt("A28", ins))
    message, document_id = oru_for(ins)
    answers: list[bytes] = []

    def send() -> None:
        answers.append(setup.raw(message))

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    done = [a for a in answers if parse_ack(a).code == "AA"]
    assert done and all(a == done[0] for a in done), answers
    assert all(parse_ack(a).code in ("AA", "AR") for a in answers)
    assert setup.raw(message) == done[0]
    assert setup.documents(patient=key(ins)) == [document_id]


def test_documents_audited_like_soap_with_the_sender_as_caller(setup):
    """The registration is audited as ITI-42 by the author; the message itself with the
    sending application and facility (MSH-3^MSH-4) as the caller; both exportable as ATNA."""
    from xds_server.security.audit_export import export

    ins = nir()
    setup.send(adt("A28", ins))
    message, document_id = oru_for(ins)
    assert setup.send(message).code == "AA"
    events = trail(setup, key(ins))
    registration = [e for e in events if e.transaction == "ITI-42"]
    assert registration and document_id in registration[0].documents.split()
    assert registration[0].role == "professional"
    assert registration[0].structure_id == "1120459876"       # PRT-8.10 of SB
    [received] = [e for e in events if e.transaction == "ORU^R01"]
    assert (received.subject_id, received.outcome) == ("SIL-Y^labo", "success")
    assert "control_id=" in received.detail and document_id in received.documents
    feed = [e for e in events if e.transaction == "ITI-30"]
    atna = export(feed + registration, "xds-server").decode()
    assert "Patient Identity Management" in atna and "Register Document Set-b" in atna


def test_a47_renames_a_local_identifier(setup):
    ins = nir()
    setup.send(adt("A28", ins, local="IPP-OLD"))
    ack = setup.send(adt("A47", ins, local="IPP-NEW",
                         mrg="IPP-OLD^^^CHU-Y&1.2.250.1.999.7&ISO^PI"))
    assert ack.code == "AA", ack.raw
    identifiers = setup.hl7.service.patients.identities.identifiers(key(ins))
    assert [i for i, _ in identifiers] == ["IPP-NEW^^^&1.2.250.1.999.7&ISO"]


def test_an_admission_does_not_reopen_a_closed_record(setup):
    """Closing a record is the patient's act (the DMP services): an ADT message updates the
    identifiers and consent of a closed record but leaves it closed."""
    ins = nir()
    setup.send(adt("A28", ins))
    setup.xds.records.close(key(ins))
    ack = setup.send(adt("A01", ins, local="IPP-C", zfa="ZFA|FERME||||||||IO||NA|"))
    assert ack.code == "AA"
    record = setup.xds.records.record(key(ins))
    assert record.status == "closed" and "alimentation" in record.opposed_modes


# --- the structure of each message type (hl7v2/structure.py) -----------------------------------

def test_two_messages_in_one_are_rejected_and_neither_is_acted_on(setup):
    """Two A28 run together (one MLLP frame): AR 100 at the second MSH, neither patient made;
    an ORU followed by another ORU for another patient: nothing registered."""
    first, second = nir(), nir()
    ack = setup.send(adt("A28", first, control_id="TWO-1") + adt("A28", second))
    assert (ack.code, ack.control_id) == ("AR", "TWO-1")
    assert ack.errors[0][2] == "MSH^4" and ack.errors[0][3].startswith("100^")
    setup.send(adt("A28", first))
    one, first_id = oru_for(first)
    other, other_id = oru_for(second)
    ack = setup.send(one + other)
    assert ack.code == "AR" and "second MSH" in ack.texts
    assert setup.document(first_id) is None and setup.document(other_id) is None


@pytest.mark.parametrize(("change", "where", "says"), [
    # a second PID (another patient's) after the documents
    (lambda lines: [*lines, "PID|2||123^^^&1.2.3&ISO^PI"], "PID^", "one PID too many"),
    # segments out of order: OBR before PID
    (lambda lines: [lines[0], *[x for x in lines if x.startswith("OBR|")],
                    *[x for x in lines[1:] if not x.startswith("OBR|")]], "OBR^2",
     "PID (group PATIENT) expected"),
    # an ORU without a document group
    (lambda lines: [x for x in lines if not x.startswith(("ORC|", "OBR|", "OBX|", "PRT|"))],
     "", "OBR (group ORDER_OBSERVATION) expected"),
])
def test_a_document_message_out_of_its_structure_is_refused(setup, change, where, says):
    ins = nir()
    setup.send(adt("A28", ins))
    message, document_id = oru_for(ins)
    ack = setup.send(join(change(segments(message))))
    assert ack.code == "AE" and ack.errors[0][3].startswith("100^"), ack.raw
    assert ack.errors[0][2].startswith(where) and says in ack.texts, ack.texts
    assert setup.document(document_id) is None


@pytest.mark.parametrize(("message", "says"), [
    # ZFA before PID: not applied
    (lambda ins: join([segments(adt("A28", ins))[0], segments(adt("A28", ins))[1],
                       "ZFA|ACTIF||||||||IO||NA|", segments(adt("A28", ins))[2]]),
     "PID expected"),
    (lambda ins: adt("A28", ins, zfa="ZFA|ACTIF||||||||IO||NA|\rZFA|ACTIF||||||||INO||NA|"),
     "one ZFA too many"),
    (lambda ins: adt("A28", ins, extra=[f"PID|2||{ins}^^^&{TEST_NIR}&ISO^INS"]),
     "one PID too many"),
    (lambda ins: join([*segments(adt("A40", ins, mrg=f"{nir()}^^^&{TEST_NIR}&ISO^INS")),
                       *segments(adt("A40", ins, mrg=f"{nir()}^^^&{TEST_NIR}&ISO^INS"))[2:]]),
     "one PID too many"),
    (lambda ins: adt("A40", ins), "MRG expected"),
])
def test_a_feed_message_out_of_its_structure_is_refused(setup, message, says):
    ins = nir()
    ack = setup.send(message(ins))
    assert ack.code == "AE" and ack.errors[0][3].startswith("100^") and says in ack.texts, \
        ack.raw
    message_for_record, _ = oru_for(ins)
    assert "XDSUnknownPatientId" in setup.send(message_for_record).texts   # nothing made


def test_two_different_ins_in_pid3_is_an_identity_conflict(setup):
    first, second = nir(), nir()
    message = adt("A28", first).replace(
        f"{first}^^^ASIP-SANTE-INS-NIR&{TEST_NIR}&ISO^INS".encode(),
        f"{first}^^^ASIP-SANTE-INS-NIR&{TEST_NIR}&ISO^INS~{second}^^^ASIP-SANTE-INS-NIR&"
        f"{TEST_NIR}&ISO^INS".encode())
    ack = setup.send(message)
    assert ack.code == "AE" and ack.errors[0][2] == "PID^1^3^2", ack.raw
    assert ack.errors[0][3].startswith("205^")
    assert setup.xds.records.record(key(first)) is None
    assert setup.xds.records.record(key(second)) is None
    same = adt("A28", first).replace(          # the same INS twice is one INS
        f"{first}^^^ASIP-SANTE-INS-NIR&{TEST_NIR}&ISO^INS".encode(),
        f"{first}^^^ASIP-SANTE-INS-NIR&{TEST_NIR}&ISO^INS~{first}^^^ASIP-SANTE-INS-NIR&"
        f"{TEST_NIR}&ISO^INS".encode())
    assert setup.send(same).code == "AA"


def test_a_resend_with_a_new_msh7_is_the_same_message(setup):
    """A sender that regenerates MSH-7 when it sends again after a lost ACK: the ACK it was
    given, not AR 205 (the first copy was committed)."""
    ins = nir()
    setup.send(adt("A28", ins))
    message, _ = oru_for(ins)
    first = setup.raw(message)
    assert parse_ack(first).code == "AA"
    again = set_field(message, "MSH", 7, "20261202235959")
    assert setup.raw(again) == first
    other = set_field(message, "PV1", 2, "O")        # other content: refused
    ack = setup.send(other)
    assert ack.code == "AR" and ack.errors[0][3].startswith("205^")


def test_a_deleted_document_sent_again_is_refused(setup):
    ins = nir()
    setup.send(adt("A28", ins))
    message, document_id = oru_for(ins)
    assert setup.send(message).code == "AA"
    deletion = new_control_id(set_field(message, "OBX", 11, "D"))
    assert setup.send(deletion).code == "AA"
    ack = setup.send(new_control_id(message))
    assert ack.code == "AE" and "was deleted" in ack.texts and document_id in ack.texts
    assert setup.document(document_id).status == v.CISIS_DELETED


# --- registry refusals as HL7 codes (documents.XDS_TO_HL7) ------------------------------------

def test_registry_refusals_carry_their_hl7_codes(setup):
    ins = nir()
    message, document_id = oru_for(ins)
    ack = setup.send(message)                                    # no record yet
    assert ack.code == "AE" and ack.errors[0][3].startswith("204^"), ack.raw
    setup.send(adt("A28", ins))
    assert setup.send(new_control_id(message)).code == "AA"
    other = nir()                                                # the same id, other bytes
    setup.send(adt("A28", other))
    twin, _ = oru_for(other, document_id)
    ack = setup.send(twin)
    assert ack.code == "AE" and ack.errors[0][3].startswith("205^"), ack.raw
    opposed = nir()                                              # opposition to feeding
    setup.send(adt("A28", opposed, zfa="ZFA|ACTIF||||||||IO||NA|"))
    ack = setup.send(oru_for(opposed)[0])
    assert ack.code == "AE" and ack.errors[0][3].startswith("206^"), ack.raw
    assert "opposed the feeding" in ack.texts


def test_a_deletion_by_another_author_says_so(setup):
    """The deletion's CDA names another first author: 'only its author', not 'no such
    document' (the document is registered)."""
    ins = nir()
    setup.send(adt("A28", ins))
    message, document_id = oru_for(ins)
    assert setup.send(message).code == "AA"
    from lxml import etree

    root = etree.fromstring(cda_of(message))
    hl7 = "urn:hl7-org:v3"
    author = root.find(f"{{{hl7}}}author/{{{hl7}}}assignedAuthor/{{{hl7}}}id")
    author.set("extension", "810000000000")
    deletion = with_cda(set_field(message, "OBX", 11, "D"),
                        etree.tostring(root, xml_declaration=True, encoding="UTF-8"))
    ack = setup.send(new_control_id(deletion))
    assert ack.code == "AE" and "only its author" in ack.texts, ack.raw
    assert ack.errors[0][3].startswith("206^")
    assert setup.document(document_id).status == v.APPROVED


def test_identifier_and_base64_refusals_name_the_field(setup):
    ins = nir()
    setup.send(adt("A28", ins))
    ack = setup.send(adt("A40", ins, mrg="123^^^&1.2.3.4&ISO^INS"))   # an INS of no INS OID
    assert ack.code == "AE" and ack.errors[0][2] == "MRG^1^1^1", ack.raw
    assert ack.errors[0][3].startswith("103^")
    message, _ = oru_for(ins)
    lines = segments(message)
    lines = [line.replace("^Base64^", "^Base64^!!", 1) if line.startswith("OBX|1|ED|")
             else line for line in lines]
    ack = setup.send(join(lines))
    assert ack.code == "AE" and "OBX-1: OBX-5.5 is not Base64" in ack.texts, ack.texts


# --- every field the front reads, held to hl7v2/fields.py's table -------------------------------

ROL_RPPS = ("ROL||UC|ODRP|{id}^AGNES^Isabelle^^^^^^ASIP-SANTE-PS&1.2.250.1.71.4.2.1&ISO^L^^^"
            "{kind}")


@pytest.mark.parametrize(("change", "where", "code"), [
    (lambda m: set_field(m, "PID", 32, "vali"), "PID^1^32", "103"),
    (lambda m: m.replace(b"PID|1|", b"PID|1|\x00", 1), "PID^3", "102"),
    (lambda m: set_field(m, "ZFA", 9, "io"), "ZFA^1^9", "103"),
])
def test_a_field_out_of_its_rule_is_refused_naming_it(setup, change, where, code):
    ins = nir()
    ack = setup.send(change(adt("A28", ins, zfa="ZFA|ACTIF||||||||IO||NA|")))
    assert ack.code == "AE" and ack.errors[0][2] == where, ack.raw
    assert ack.errors[0][3].startswith(code + "^")
    assert setup.xds.records.record(key(ins)) is None


@pytest.mark.parametrize(("ident", "kind"), [("abc", "RPPS"), ("1234567890", "ADELI"),
                                             ("1234567890", "RPPS"), ("12345678", "ADELI")])
def test_a_consent_for_a_malformed_professional_id_is_refused(setup, ident, kind):
    ins = nir()
    ack = setup.send(adt("A28", ins, zfa="ZFA|ACTIF||||||||INO||IC|",
                         rol=ROL_RPPS.format(id=ident, kind=kind)))
    assert ack.code == "AE" and ack.errors[0][2] == "ROL^1^4^1", ack.raw
    good = adt("A28", ins, zfa="ZFA|ACTIF||||||||INO||IC|",
               rol=ROL_RPPS.format(id="10000023084", kind="RPPS"))
    assert setup.send(good).code == "AA"


def test_what_the_front_only_records_gets_a_warning(setup):
    """MSH-7 not a date: AA with a warning naming MSH-7 (the message is acted on)."""
    ins = nir()
    ack = setup.send(set_field(adt("A28", ins), "MSH", 7, "notadate"))
    assert ack.code == "AA" and [(e[2], e[4]) for e in ack.errors] == [("MSH^1^7", "W")]
    assert setup.xds.records.record(key(ins)) is not None


def test_a_prefixed_adeli_is_kept_as_it_is(setup):
    """0 + ADELI (idNat_PS) is not prefixed again (it was stored as 00123456789)."""
    ins = nir()
    ack = setup.send(adt("A28", ins, zfa="ZFA|ACTIF||||||||INO||IC|",
                         rol=ROL_RPPS.format(id="0123456789", kind="ADELI")))
    assert ack.code == "AA", ack.raw
    assert {a.professional_id for a in setup.xds.records.professionals(key(ins))} == \
        {"0123456789"}


def test_the_atna_export_of_the_feed(setup):
    """Finding 14: the ATNA message of a record created says C (of one updated U), carries the
    message's MSH-10; a refused registration is audited under its transaction, not '-'."""
    import base64

    from lxml import etree

    from xds_server.security.audit_export import export

    ins = nir()
    setup.send(adt("A28", ins, control_id="ATNA-1"))
    setup.send(adt("A31", ins, control_id="ATNA-2", zfa="ZFA|ACTIF||||||||IO||NA|"))
    root = etree.fromstring(export(trail(setup, key(ins), "ITI-30"), "xds-test"))
    actions = [m.find("EventIdentification").get("EventActionCode") for m in root]
    assert actions[0] == "C" and "U" in actions[1:], actions
    details = {base64.b64decode(d.get("value")).decode()
               for d in root.iter("ParticipantObjectDetail") if d.get("type") == "MSH-10"}
    assert {"ATNA-1", "ATNA-2"} <= details
    stranger = nir()                                   # a refused registration
    assert setup.send(oru_for(stranger)[0]).code == "AE"
    with setup.xds.database.reading() as uow:
        everything = audit_store.trail(uow, last=20)
    refused = [e.transaction for e in everything if e.outcome == "failure"]
    assert refused and "-" not in refused, refused


def test_a_record_held_by_another_writer_is_ar_207_soon(make_hl7):
    """Finding 15: the AR came after 60 s (two 30 s waits), longer than senders wait for an
    ACK. With XDS_MLLP_LOCK_WAIT the message gives up soon: AR 207, send again."""
    import threading

    from xds_server.store.locks import lock_records

    setup = make_hl7(mllp_lock_wait=0.3)
    ins = nir()
    assert setup.send(adt("A28", ins)).code == "AA"
    held, release = threading.Event(), threading.Event()

    def holder() -> None:
        with setup.xds.database.transaction() as uow:
            lock_records(uow, [key(ins)])
            held.set()
            release.wait(20)

    thread = threading.Thread(target=holder)
    thread.start()
    try:
        assert held.wait(10)
        # (the holder keeps the record 20 s: with the 30 s default wait, this would be AA)
        ack = setup.send(adt("A31", ins, zfa="ZFA|ACTIF||||||||IO||NA|"))
    finally:
        release.set()
        thread.join(20)
    assert ack.code == "AR" and ack.errors[0][3].startswith("207^"), ack.raw
    assert setup.send(adt("A31", ins, zfa="ZFA|ACTIF||||||||IO||NA|")).code == "AA"


def test_local_segments_after_the_structure_are_ignored_with_a_warning(setup):
    """HL7's receiver rule: an unexpected local (Z) segment at the end is no reason to refuse
    (a warning says it was not read); a Z segment the front reads (ZFA) out of its place is."""
    ins = nir()
    setup.send(adt("A28", ins))
    message, document_id = oru_for(ins)
    ack = setup.send(join([*segments(message), "ZZZ|1|local"]))
    assert ack.code == "AA" and [(e[2], e[4]) for e in ack.errors] == [("ZZZ^" + str(
        len(segments(message)) + 1), "W")], ack.raw
    assert setup.document(document_id) is not None
    late = join([*segments(adt("A28", nir())), "OBX|1|ST|X||y", "ZFA|ACTIF||||||||IO||NA|"])
    ack = setup.send(late)
    assert ack.code == "AE" and ack.errors[0][2].startswith("ZFA^"), ack.raw


def test_mllp_senders_appear_in_the_atna_export_as_applications(setup):
    """Re-test finding: the export showed every MLLP sender as a person of role
    "administrator" and left out how it was bound. A sender is the application it is: the
    Source participant is MSH-3|MSH-4 (ITI TF-2 3.30.5.1), with its address, no Human
    Requestor; the message's record says how the sender was bound (sender_bound_by) beside
    its MSH-10; the documents it registers are audited with their author as the person, as
    over SOAP. Every message valid by the DICOM schema's rules."""
    import base64

    from lxml import etree

    from xds_server.security.audit_export import export

    from .dicom_audit import problems

    ins = nir()
    assert setup.send(adt("A28", ins, control_id="APP-1")).code == "AA"
    message, _ = oru_for(ins)
    assert setup.send(message).code == "AA"
    refused = set_field(oru_for(ins)[0], "OBX", 11, "X")          # refused, still audited
    assert setup.send(refused).code == "AE"
    events = trail(setup, key(ins))
    senders = [e for e in events if e.transaction in ("ITI-30", "ORU^R01")]
    assert senders and {e.role for e in senders} == {"application"}
    root = etree.fromstring(export(events, "xds-test", "dicom"))
    assert "administrator" not in etree.tostring(root).decode()
    assert [problems(m) for m in root] == [[]] * len(root)
    for record, audit in zip(events, root, strict=True):
        people = audit.xpath("ActiveParticipant[@UserIsRequestor='true']")
        if record in senders:
            [source] = people
            assert source.get("UserID") == {"ITI-30": "GAM|CHU-Y",
                                            "ORU^R01": "SIL-Y|labo"}[record.transaction]
            assert source.get("NetworkAccessPointID") == "127.0.0.1"
            assert source.get("NetworkAccessPointTypeCode") == "2"
        elif record.transaction == "ITI-42":        # the registration: its author
            assert [p.get("UserID") for p in people][1:] == [record.subject_id]
            assert people[1].find("RoleIDCode").get("csd-code") == "professional"
    bindings = [base64.b64decode(d.get("value")).decode()
                for d in root.iter("ParticipantObjectDetail")
                if d.get("type") == "sender_bound_by"]
    assert bindings and set(bindings) == {"network"}
    with setup.xds.database.reading() as uow:     # a refusal is audited without a patient
        [failure] = [e for e in audit_store.trail(uow, last=20)
                     if f"control_id={field(refused, 'MSH', 10)}" in e.detail]
    assert failure.outcome == "failure" and "sender_bound_by=network" in failure.detail
    assert failure.role == "application"
