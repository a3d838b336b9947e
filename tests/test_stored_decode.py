"""A registered object read back (ebxml/stored.py model_object, what the FHIR front decodes
each object it answers with) is what decode_submission makes of the same stored XML inside a
SubmitObjectsRequest of its own (how model_object read it before it was made fast), and the
DocumentReference written from it is the same JSON text: over generated objects of every kind
and field, and over every object of the reference submissions."""

from __future__ import annotations

import dataclasses
import json
import uuid
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from xds_server.ebxml.decode import decode_registered, decode_submission
from xds_server.ebxml.namespaces import LCM, RIM, lcm, rim
from xds_server.ebxml.stored import EbrimStoredForm, leaf_class, model_object
from xds_server.fhir.document_reference import to_fhir
from xds_server.model import vocabulary as v
from xds_server.model.errors import RegistryFailure
from xds_server.model.metadata import Association, DocumentEntry, Folder, SubmissionSet
from xds_server.model.registered import (
    AssociationRecord,
    DocumentRecord,
    FolderRecord,
    SubmissionSetRecord,
)

from .conftest import REFERENCE
from .test_ebxml_codec import TEXT, documents, folders, submission_sets
from .test_fhir_mapping import entries

STATUSES = st.sampled_from([v.APPROVED, v.DEPRECATED, v.CISIS_ARCHIVED, v.CISIS_DELETED])
RECORDS = {DocumentEntry: DocumentRecord, SubmissionSet: SubmissionSetRecord,
           Folder: FolderRecord, Association: AssociationRecord}


def _record(obj, status: str):
    """The record as the store reads it back (an association's with its ends: its stored XML
    has its ids marked, packing.py 0x03)."""
    stored = EbrimStoredForm().registered(obj)
    ends = (obj.type, obj.source, obj.target) if isinstance(obj, Association) else ()
    return RECORDS[type(obj)](getattr(obj, "patient_id", "") or "p", obj.entry_uuid, status,
                              stored, *ends)


def _in_a_request(record):
    """model_object as it was: the stored element moved into a request, decode_submission."""
    request = etree.Element(lcm("SubmitObjectsRequest"), nsmap={"lcm": LCM, "rim": RIM})
    etree.SubElement(request, rim("RegistryObjectList")).append(
        etree.fromstring(leaf_class(record)))
    submission = decode_submission(request).submission
    obj = next(iter([*([submission.submission_set] if submission.submission_set else []),
                     *submission.documents, *submission.folders, *submission.associations]))
    obj.status = record.status
    return obj


def _same(obj, status: str) -> None:
    record = _record(obj, status)
    fast, reference = model_object(record), _in_a_request(record)
    assert fast == reference
    assert fast == dataclasses.replace(obj, status=status)    # and the codec is lossless


@settings(max_examples=80, deadline=None)
@given(obj=st.one_of(documents, submission_sets, folders), status=STATUSES)
def test_every_kind_and_field_reads_back_as_in_a_request(obj, status):
    _same(obj, status)


@settings(max_examples=40, deadline=None)
@given(slots=st.dictionaries(TEXT, st.lists(TEXT, max_size=2), max_size=2),
       kind=st.sampled_from([v.HAS_MEMBER, v.RPLC, v.APND, v.XFRM, v.SIGNS]), status=STATUSES)
def test_associations_read_back_as_in_a_request(slots, kind, status):
    _same(Association(f"urn:uuid:{uuid.uuid4()}", kind, f"urn:uuid:{uuid.uuid4()}",
                      f"urn:uuid:{uuid.uuid4()}", slots=slots), status)


@settings(max_examples=80, deadline=None)
@given(entry=entries())
def test_the_document_reference_is_the_same_json_text(entry):
    record = _record(entry, entry.status)
    fast, reference = model_object(record), _in_a_request(record)
    url = f"http://h/fhir/Binary/{entry.unique_id}"
    text = json.dumps(to_fhir(fast, url), ensure_ascii=False)
    assert text == json.dumps(to_fhir(reference, url), ensure_ascii=False)
    assert text == json.dumps(to_fhir(entry, url), ensure_ascii=False)


def test_a_folder_with_a_new_last_update_time():
    folder = Folder(f"urn:uuid:{uuid.uuid4()}", unique_id="1.2.3", patient_id="p",
                    last_update_time="20200101")
    record = FolderRecord("p", folder.entry_uuid, v.APPROVED,
                          EbrimStoredForm().registered(folder), last_update_time="20250203040506")
    assert model_object(record) == _in_a_request(record)
    assert model_object(record).last_update_time == "20250203040506"


def _reference_objects() -> list:
    """Every object that decodes from the reference SubmitObjectsRequests (IHE, IPF, NIST),
    registered as the registry registers it."""
    objects = []
    for path in sorted(Path(REFERENCE, "xds-messages").rglob("*.xml")):
        try:
            root = etree.parse(str(path)).getroot()
        except etree.XMLSyntaxError:
            continue
        for request in root.iter(lcm("SubmitObjectsRequest")):
            submission = decode_submission(request).submission
            objects += [*([submission.submission_set] if submission.submission_set else []),
                        *submission.documents, *submission.folders, *submission.associations]
    return objects


REFERENCE_OBJECTS = _reference_objects()


def test_the_reference_submissions_are_read():
    assert len(REFERENCE_OBJECTS) > 100 and \
        any(isinstance(o, DocumentEntry) for o in REFERENCE_OBJECTS)


@pytest.mark.parametrize("status", [v.APPROVED, v.DEPRECATED])
def test_every_reference_object_reads_back_as_in_a_request(status):
    compared = 0
    for obj in REFERENCE_OBJECTS:
        try:
            record = _record(obj, status)
        except RegistryFailure:     # over the size an object may have
            continue
        fast, reference = model_object(record), _in_a_request(record)
        assert fast == reference, obj.entry_uuid
        if isinstance(obj, DocumentEntry):
            try:
                expected = json.dumps(to_fhir(reference, "http://h/fhir/Binary/x"))
            except ValueError:       # a value the mapping cannot write (e.g. a size that
                continue             # is no number): the same for both, checked above
            assert json.dumps(to_fhir(fast, "http://h/fhir/Binary/x")) == expected
        compared += 1
    assert compared > 100


def test_an_element_that_is_no_registered_object_is_refused():
    with pytest.raises(ValueError):
        decode_registered(etree.fromstring(f'<rim:ObjectRef xmlns:rim="{RIM}" id="urn:uuid:x"/>'))
    with pytest.raises(ValueError):     # a symbolic id was never registered
        decode_registered(etree.fromstring(f'<rim:ExtrinsicObject xmlns:rim="{RIM}" id="Doc1"/>'))
