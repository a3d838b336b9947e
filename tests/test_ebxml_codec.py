"""The ebRIM codec is lossless: model → SubmitObjectsRequest → model gives back the same objects."""

from __future__ import annotations

import uuid

from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from xds_server.consumer.metadata import submit_objects_request
from xds_server.ebxml.decode import decode_submission
from xds_server.ebxml.fields import DOCUMENT_SLOTS, FOLDER_SLOTS, SUBMISSION_SET_SLOTS
from xds_server.model import vocabulary as v
from xds_server.model.metadata import (
    Association,
    Author,
    Code,
    DocumentEntry,
    Folder,
    Submission,
    SubmissionSet,
)

TEXT = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456789éèàçôÉ^&.-_:/ %'\"<>",
               min_size=1, max_size=24).map(str.strip).filter(bool)
OPTIONAL_TEXT = st.none() | TEXT
LISTS = st.lists(TEXT, max_size=3)
UUIDS = st.builds(lambda: f"urn:uuid:{uuid.uuid4()}")
CODES = st.builds(Code, TEXT, TEXT, st.just("") | TEXT)
AUTHORS = st.builds(Author, OPTIONAL_TEXT, LISTS, LISTS, LISTS, LISTS)
KNOWN_SLOTS = {f.slot for f in (*DOCUMENT_SLOTS, *SUBMISSION_SET_SLOTS, *FOLDER_SLOTS)}
EXTRA = st.dictionaries(TEXT.map(lambda s: "urn:x:" + s.replace(" ", "")).filter(
    lambda s: s not in KNOWN_SLOTS), st.lists(TEXT, min_size=1, max_size=2), max_size=2)


def common(**fields):
    return dict(entry_uuid=UUIDS, unique_id=TEXT, patient_id=TEXT, title=OPTIONAL_TEXT,
                comments=OPTIONAL_TEXT, logical_id=st.none() | UUIDS,
                version=st.none() | st.sampled_from(["1", "2"]), home=OPTIONAL_TEXT,
                extra_slots=EXTRA, **fields)


documents = st.builds(DocumentEntry, **common(
    object_type=st.sampled_from(v.DOCUMENT_ENTRY_TYPES), mime_type=TEXT,
    class_code=st.none() | CODES, type_code=st.none() | CODES, format_code=st.none() | CODES,
    healthcare_facility_type_code=st.none() | CODES, practice_setting_code=st.none() | CODES,
    confidentiality_codes=st.lists(CODES, max_size=3), event_codes=st.lists(CODES, max_size=3),
    authors=st.lists(AUTHORS, max_size=2), creation_time=OPTIONAL_TEXT,
    service_start_time=OPTIONAL_TEXT, service_stop_time=OPTIONAL_TEXT, hash=OPTIONAL_TEXT,
    size=OPTIONAL_TEXT, language_code=OPTIONAL_TEXT, legal_authenticator=OPTIONAL_TEXT,
    repository_unique_id=OPTIONAL_TEXT, source_patient_id=OPTIONAL_TEXT,
    source_patient_info=LISTS, uri=OPTIONAL_TEXT, reference_ids=LISTS,
    document_availability=OPTIONAL_TEXT))
submission_sets = st.builds(SubmissionSet, **common(
    source_id=TEXT, submission_time=OPTIONAL_TEXT, content_type_code=st.none() | CODES,
    authors=st.lists(AUTHORS, max_size=2), intended_recipients=LISTS))
folders = st.builds(Folder, **common(codes=st.lists(CODES, max_size=3),
                                     last_update_time=OPTIONAL_TEXT))


@settings(max_examples=60, deadline=None)
@given(package=submission_sets, docs=st.lists(documents, max_size=3),
       fols=st.lists(folders, max_size=2), data=st.data())
def test_round_trip_is_lossless(package, docs, fols, data):
    targets = [d.entry_uuid for d in docs] + [f.entry_uuid for f in fols]
    associations = [Association(f"urn:uuid:{uuid.uuid4()}", v.HAS_MEMBER, package.entry_uuid,
                                target, slots=data.draw(st.dictionaries(
                                    TEXT, st.lists(TEXT, max_size=2), max_size=2)))
                    for target in targets]
    original = Submission(package, docs, fols, associations)
    wire = etree.tostring(submit_objects_request(original))
    decoded = decode_submission(etree.fromstring(wire))
    assert decoded.errors == []
    result = decoded.submission
    assert result.submission_set == package
    assert result.documents == docs
    assert result.folders == fols
    assert result.associations == associations


def test_symbolic_ids_become_uuids_and_references_follow():
    package = SubmissionSet("SubmissionSet01", unique_id="1.2", patient_id="p")
    document = DocumentEntry("Document01", unique_id="1.3", patient_id="p")
    association = Association("as01", "HasMember", "SubmissionSet01", "Document01")
    wire = submit_objects_request(Submission(package, [document], associations=[association]))
    decoded = decode_submission(wire).submission
    assert decoded.documents[0].entry_uuid.startswith("urn:uuid:")
    assert decoded.associations[0].type == v.HAS_MEMBER
    assert decoded.associations[0].source == decoded.submission_set.entry_uuid
    assert decoded.associations[0].target == decoded.documents[0].entry_uuid
    assert decoded.source_name(decoded.documents[0].entry_uuid) == "Document01"


def test_unresolved_symbolic_reference_is_named():
    package = SubmissionSet("SubmissionSet01", unique_id="1.2", patient_id="p")
    wire = submit_objects_request(Submission(package, [], associations=[
        Association("as01", v.HAS_MEMBER, "SubmissionSet01", "Document99")]))
    errors = decode_submission(wire).errors
    assert [e.code.value for e in errors] == ["UnresolvedReferenceException"]
    assert "Document99" in errors[0].context
