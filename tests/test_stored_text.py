"""The registered form written as text (ebxml/stored_text.py) is byte for byte what lxml
serialises of encode.py's elements: over generated objects of every kind and field (values
holding every character either escapes, empty objects and authors, extra slots with no value),
over every object of the reference submissions; and a value lxml refuses is still refused."""

from __future__ import annotations

import itertools
import uuid
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from xds_server.ebxml import encode, stored_text
from xds_server.ebxml.packing import unpack
from xds_server.ebxml.stored import EbrimStoredForm
from xds_server.model import vocabulary as v
from xds_server.model.errors import RegistryFailure
from xds_server.model.metadata import Association, Author, DocumentEntry, Folder, SubmissionSet

from .test_ebxml_codec import documents, folders, submission_sets
from .test_stored_decode import REFERENCE_OBJECTS

ELEMENTS = {DocumentEntry: encode.encode_document, SubmissionSet: encode.encode_submission_set,
            Folder: encode.encode_folder, Association: encode.encode_association}
# every character lxml escapes in an attribute or in text, and some it writes as they are
AWKWARD = st.text(alphabet="aZ09 &<>\"'\n\r\t]]é€😀\x7f\x85", max_size=12)


def _same_ids():
    """new_uuid giving the same sequence to both writers."""
    counter = itertools.count()
    return lambda: f"urn:uuid:00000000-0000-0000-0000-{next(counter):012d}"


def _both(obj) -> tuple[bytes, bytes]:
    with mock.patch.object(stored_text, "new_uuid", _same_ids()):
        text = stored_text.TEXT_WRITERS[type(obj)](obj).encode()
    with mock.patch.object(encode, "new_uuid", _same_ids()):
        element = etree.tostring(ELEMENTS[type(obj)](obj), encoding="UTF-8",
                                 xml_declaration=False)
    return text, element


def _awkward(obj, data) -> None:
    """Awkward text in the values the generated objects leave plain."""
    obj.title = data.draw(st.none() | AWKWARD)
    obj.comments = data.draw(st.none() | AWKWARD)
    obj.unique_id = data.draw(AWKWARD)
    obj.extra_slots = data.draw(st.dictionaries(AWKWARD, st.lists(AWKWARD, max_size=2),
                                                max_size=2))


@settings(max_examples=150, deadline=None)
@given(obj=st.one_of(documents, submission_sets, folders), data=st.data())
def test_every_kind_and_field_is_written_as_lxml_writes_it(obj, data):
    if data.draw(st.booleans()):
        _awkward(obj, data)
    text, element = _both(obj)
    assert text == element


@settings(max_examples=60, deadline=None)
@given(slots=st.dictionaries(AWKWARD, st.lists(AWKWARD, max_size=2), max_size=2),
       kind=st.sampled_from([v.HAS_MEMBER, v.RPLC, v.SIGNS]), home=st.none() | AWKWARD,
       status=st.sampled_from([v.APPROVED, v.DEPRECATED]))
def test_associations_are_written_as_lxml_writes_them(slots, kind, home, status):
    association = Association(f"urn:uuid:{uuid.uuid4()}", kind, f"urn:uuid:{uuid.uuid4()}",
                              f"urn:uuid:{uuid.uuid4()}", status, slots, home)
    text, element = _both(association)
    assert text == element


@pytest.mark.parametrize("obj", [
    DocumentEntry("urn:uuid:1"),                                   # no child at all
    DocumentEntry("urn:uuid:1", authors=[Author()], unique_id="u"),  # an author with no slot
    SubmissionSet("urn:uuid:1", authors=[Author(), Author("p")]),
    Folder("urn:uuid:1", extra_slots={"urn:x:empty": []}),
    Association("urn:uuid:1", v.HAS_MEMBER, "urn:uuid:2", "urn:uuid:3"),
], ids=["empty entry", "empty author", "empty set authors", "empty slot", "bare association"])
def test_empty_objects_and_parts(obj):
    text, element = _both(obj)
    assert text == element


def test_every_reference_object_is_written_as_lxml_writes_it():
    for obj in REFERENCE_OBJECTS:
        text, element = _both(obj)
        assert text == element, obj.entry_uuid


@pytest.mark.parametrize("value", ["a\x00b", "a\x0bb", "\ufffe", "a\ud800"],
                         ids=["NUL", "vertical tab", "U+FFFE", "lone surrogate"])
def test_a_value_lxml_refuses_is_refused_as_before(value):
    """Not written here: encode.py refuses it as it always has (no text lxml would refuse is
    stored, and no new way to store it)."""
    obj = DocumentEntry(f"urn:uuid:{uuid.uuid4()}", unique_id="1.2", title=value)
    with pytest.raises(stored_text.NotPlain):
        stored_text.document_text(obj)
    with pytest.raises((ValueError, UnicodeEncodeError)) as written:
        EbrimStoredForm.registered(obj)
    with pytest.raises(written.type):
        encode.encode_document(obj)


def test_a_value_that_is_not_text_is_left_to_lxml():
    obj = DocumentEntry(f"urn:uuid:{uuid.uuid4()}", unique_id="1.2",
                        size=123)       # type: ignore[arg-type]
    with pytest.raises(stored_text.NotPlain):
        stored_text.document_text(obj)
    with pytest.raises(TypeError):
        EbrimStoredForm.registered(obj)


def test_the_registered_form_is_the_text_packed_and_still_capped():
    obj = DocumentEntry(f"urn:uuid:{uuid.uuid4()}", unique_id="1.2", patient_id="p^^^&1&ISO")
    with mock.patch.object(stored_text, "new_uuid", _same_ids()):
        stored = EbrimStoredForm.registered(obj)
    assert unpack(stored) == _both(obj)[0]
    with pytest.raises(RegistryFailure) as refused:
        EbrimStoredForm.registered(DocumentEntry("urn:uuid:big", comments='"' * 100_000))
    assert "ExtrinsicObject urn:uuid:big: its metadata is 600" in str(refused.value.errors[0])
