"""The DocumentReference kept beside each registered DocumentEntry (fhir/stored_forms.py,
packing format 0x02) is, spliced at answer time, the very text the FHIR front wrote by decoding
the LeafClass (FhirForms), for every status and field; the LeafClass ITI-18 returns is the one
kept before; rows without a kept form are answered as before; and every path that writes a
registered object's stored value (registration over SOAP and FHIR, ITI-57 new versions and
status changes, A40/A47 merges in tests/test_hl7v2_feed.py) leaves the two forms agreeing."""

from __future__ import annotations

import json
import uuid

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import update as sql_update

from xds_server.app import stored_form
from xds_server.consumer.metadata import status_update
from xds_server.ebxml import packing
from xds_server.ebxml.stored import EbrimStoredForm, leaf_class, model_object, stored_second_form
from xds_server.fhir.document_reference import to_fhir
from xds_server.fhir.forms import FhirForms
from xds_server.fhir.http import binary_url
from xds_server.fhir.stored_forms import base_text, document_form, document_text
from xds_server.model import vocabulary as v
from xds_server.model.metadata import DocumentEntry
from xds_server.model.registered import DocumentRecord
from xds_server.model.signature_entry import SIGNATURE_CLASS, SIGNATURE_FORMAT, SIGNATURE_TYPE
from xds_server.model.stored_queries import FindDocuments
from xds_server.security.principal import SYSTEM
from xds_server.store.tables import document_entries

from .registry_data import SUCCESS, single_document_submission, submission_set
from .test_fhir_mapping import entries
from .test_metadata_update import next_version, registered, update
from .test_stored_decode import REFERENCE_OBJECTS

STATUSES = [v.APPROVED, v.DEPRECATED, v.CISIS_ARCHIVED, v.CISIS_DELETED, "urn:x:other"]
BASES = ["http://127.0.0.1:8080/fhir", 'https://h/p "q" \\ é/fhir']


def decoded_text(record: DocumentRecord, base: str) -> str:
    """What ITI-67 wrote for a record before forms were kept (and still does for old rows)."""
    return FhirForms(model_object, size=0).document(record, base)


def spliced_text(record: DocumentRecord, base: str) -> str:
    form = stored_second_form(record)
    assert form is not None
    return document_text(form, record, base_text(base))


def agree(record: DocumentRecord) -> None:
    """The kept form is the one rendered from the LeafClass kept beside it."""
    assert stored_second_form(record) == document_form(model_object(record))


def _check(entry: DocumentEntry) -> None:
    stored = stored_form().registered(entry)
    assert stored[:1] == packing.PAIR
    plain = packing.pack(packing.unpack(stored))      # the same LeafClass, as kept before
    assert packing.unpack(stored).startswith(b"<rim:ExtrinsicObject")
    for status in STATUSES:
        record = DocumentRecord(entry.patient_id, entry.entry_uuid, status, stored)
        old = DocumentRecord(entry.patient_id, entry.entry_uuid, status, plain)
        assert leaf_class(record) == leaf_class(old)
        for base in BASES:
            text = spliced_text(record, base)
            assert text == decoded_text(old, base)
            json.loads(text)


@settings(max_examples=80, deadline=None)
@given(entry=entries())
def test_the_spliced_form_is_the_decoded_text_for_every_field_and_status(entry):
    _check(entry)


def test_every_reference_document_entry():
    checked = 0
    for obj in REFERENCE_OBJECTS:
        if not isinstance(obj, DocumentEntry):
            continue
        try:
            to_fhir(obj, "u")
            stored_form().registered(obj)
        except Exception:       # over the size an object may have, or a value FHIR cannot
            continue            # write: then no form is kept (the next test)
        _check(obj)
        checked += 1
    assert checked > 20


def _entry() -> DocumentEntry:
    entry = single_document_submission("1^^^&1.2.3&ISO").documents[0]
    entry.entry_uuid = f"urn:uuid:{uuid.uuid4()}"       # as registered
    return entry


def test_an_entry_the_mapping_cannot_write_keeps_no_form():
    """A size that is no number: no form is kept; ITI-67 answers as it did before."""
    entry = _entry()
    entry.size = "many"
    assert stored_form().registered(entry)[:1] == packing.CURRENT


def test_a_signature_entry_keeps_no_form_and_is_rendered_as_it_would_have_been_kept():
    """A signature document's entry (IHE DSG codes) is packed without its DocumentReference
    (issue 19), on registration, on a merge and by fill-forms; rendered on demand, its text is
    the one a kept form would give, for every status and base."""
    entry = _entry()
    entry.class_code, entry.type_code, entry.format_code = \
        SIGNATURE_CLASS, SIGNATURE_TYPE, SIGNATURE_FORMAT
    entry.mime_type, entry.language_code = "text/xml", "art"
    stored = stored_form().registered(entry)
    assert stored[:1] == packing.CURRENT
    assert stored_form().with_patient(stored, entry.patient_id)[:1] == packing.CURRENT
    assert stored_form().refilled(stored) is None
    kept = EbrimStoredForm(document_form).registered(entry)     # every entry keeping its form
    assert kept[:1] == packing.PAIR
    for status in STATUSES:
        record = DocumentRecord(entry.patient_id, entry.entry_uuid, status, kept)
        on_demand = DocumentRecord(entry.patient_id, entry.entry_uuid, status, stored)
        for base in BASES:
            assert decoded_text(on_demand, base) == spliced_text(record, base)


def test_a_row_of_before_has_no_form_and_is_decoded():
    entry = _entry()
    record = DocumentRecord("p", entry.entry_uuid, v.APPROVED,
                            EbrimStoredForm().registered(entry))
    assert stored_second_form(record) is None
    assert packing.second_form(None) is None


@settings(max_examples=30, deadline=None)
@given(entry=entries(), patient=st.sampled_from(["9^^^&1.2.250.1.213.1.4.10&ISO",
                                                 "IPP-1^^^&1.2.3.4&ISO"]))
def test_a_merge_rewrites_both_forms(entry, patient):
    for stored in (stored_form().registered(entry), EbrimStoredForm().registered(entry)):
        moved = stored_form().with_patient(stored, patient)
        record = DocumentRecord(patient, entry.entry_uuid, v.APPROVED, moved)
        assert model_object(record).patient_id == patient
        agree(record)
        plain = packing.pack(packing.unpack(moved))
        assert spliced_text(record, BASES[0]) == decoded_text(
            DocumentRecord(patient, entry.entry_uuid, v.APPROVED, plain), BASES[0])


def test_a_damaged_second_form_is_a_registry_error():
    entry = _entry()
    stored = stored_form().registered(entry)
    record = DocumentRecord("p", entry.entry_uuid, v.APPROVED, stored[:-8])
    try:
        stored_second_form(record)
    except Exception as exc:
        assert "cannot be read back" in str(exc)
    else:
        raise AssertionError("a truncated value was read")


def test_registration_and_updates_keep_agreeing_forms(app, patient):
    """SOAP registration, an ITI-57 new version and a status change (archived): every
    document row has its kept form, equal to the one rendered from its LeafClass, and ITI-67's
    text for it is the decoded one."""
    original, entry_uuid = registered(app, patient)
    assert update(app, next_version(patient, original, entry_uuid, title="Titre")).status \
        == SUCCESS
    _, other_uuid = registered(app, patient)
    assert update(app, status_update(submission_set(patient), other_uuid, v.APPROVED,
                                     v.CISIS_ARCHIVED)).status == SUCCESS
    found = app.registry.query(FindDocuments(patient_id=patient, statuses=(
        v.APPROVED, v.DEPRECATED, v.CISIS_ARCHIVED)), SYSTEM)
    records = found.result.documents
    # the new version (FindDocuments gives the latest) and the archived document
    assert {(r.status, model_object(r).version) for r in records} == {
        (v.APPROVED, "2"), (v.CISIS_ARCHIVED, "1")}
    for record in records:
        assert record.stored[:1] == packing.PAIR
        agree(record)
        assert spliced_text(record, BASES[0]) == decoded_text(record, BASES[0])


def test_binary_url_is_the_one_spliced():
    entry = _entry()
    record = DocumentRecord("p", entry.entry_uuid, v.APPROVED, stored_form().registered(entry))
    text = json.loads(spliced_text(record, BASES[1]))
    assert text["content"][0]["attachment"]["url"] == binary_url(BASES[1], entry.unique_id)


def test_fill_forms_gives_rows_of_before_their_form(app, patient):
    """`xds-server db fill-forms`: rows written before forms were kept (the LeafClass alone)
    get the form their LeafClass gives; a second run writes nothing; ITI-18's bytes stay."""
    from xds_server.store.form_fill import fill_document_forms

    for _ in range(3):
        registered(app, patient)
    query = FindDocuments(patient_id=patient, statuses=(v.APPROVED,))
    before = app.registry.query(query, SYSTEM).result.documents
    with app.database.transaction() as uow:      # as a release before issue 16 wrote them
        for record in before:
            uow.connection.execute(
                sql_update(document_entries).where(document_entries.c.entry_uuid
                                               == record.entry_uuid)
                .values(xml=packing.pack(packing.unpack(record.stored))))
    old = app.registry.query(query, SYSTEM).result.documents
    assert all(stored_second_form(r) is None for r in old)
    state = fill_document_forms(app.database, stored_form().refilled, batch=2)
    assert state.done and state.written >= 3 and state.read >= 3
    after = app.registry.query(query, SYSTEM).result.documents
    assert len(after) == 3
    for record in after:
        agree(record)
        assert leaf_class(record) == leaf_class(next(r for r in old
                                                     if r.entry_uuid == record.entry_uuid))
    assert fill_document_forms(app.database, stored_form().refilled).written == 0
