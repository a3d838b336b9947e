"""urn:uuid: ids are read in either case and kept in one, lower case (model/hl7.py
canonical_uuid; issue 16 re-test, M2): an entryUUID already registered, spelt in capitals, is
refused on every front (ITI-42, ITI-41, ITI-65) without naming the patient that holds it; a
query or read by the capital form finds the entry; ids sent in capitals are paged as any."""

from __future__ import annotations

import io
import json
import uuid
from urllib.parse import quote

import pytest

from xds_server.consumer.documents import PROVIDE, provide_request
from xds_server.consumer.metadata import has_member, submit_objects_request
from xds_server.consumer.transport import decode_reply, encode_request
from xds_server.model.content import Attachment
from xds_server.model.hl7 import canonical_uuid
from xds_server.model.metadata import Submission
from xds_server.model.stored_queries import (
    GetDocuments,
    GetSubmissionSetAndContents,
    GetSubmissionSets,
    parse,
)
from xds_server.security.principal import SYSTEM

from .conftest import call_wsgi
from .fhir_data import fhir, patient_query, provide_bundle
from .registry_data import (
    SUCCESS,
    document,
    new_patient,
    open_patient,
    register,
    submission_set,
)
from .test_remove_metadata import remove

GET_DOCUMENTS = "urn:uuid:5c4f972b-d56b-40ac-a5fc-c8ca9b40b9d4"


def _capitals(urn: str, prefix: str = "URN:UUID:") -> str:
    return prefix + urn.removeprefix("urn:uuid:").upper()


@pytest.mark.parametrize("value, canonical", [
    ("urn:uuid:ABCDEF01-2345-4789-89AB-0123456789AB",
     "urn:uuid:abcdef01-2345-4789-89ab-0123456789ab"),
    ("URN:Uuid:abcdef01-2345-4789-89ab-0123456789aB",
     "urn:uuid:abcdef01-2345-4789-89ab-0123456789ab"),
    ("urn:uuid:not-a-uuid", "urn:uuid:not-a-uuid"),            # refused elsewhere, as sent
    ("Document01", "Document01"), ("urn:oid:1.2.3", "urn:oid:1.2.3"), ("", ""),
])
def test_the_one_form_of_an_id(value, canonical):
    assert canonical_uuid(value) == canonical


def test_a_query_by_capitals_is_the_query_by_the_id():
    upper = "urn:uuid:ABCDEF01-2345-4789-89AB-0123456789AB"
    assert GetDocuments(entry_uuids=(upper,)).entry_uuids == (upper.lower(),)
    assert parse(GET_DOCUMENTS, {"$XDSDocumentEntryEntryUUID": [[upper]]}).entry_uuids == \
        (upper.lower(),)


@pytest.fixture
def two_records(make_app):
    """P1 with one document (its entryUUID returned); P2 open, empty."""
    app = make_app(profile="ihe", max_leaf_class_results=3)
    first, second = new_patient(), new_patient()
    open_patient(app, first)
    open_patient(app, second)
    entry = document(first, f"urn:uuid:{uuid.uuid4()}", content=b"x", mime_type="text/plain",
                     repository_unique_id=None)
    package = submission_set(first, f"urn:uuid:{uuid.uuid4()}")
    app.repository.provide(Submission(package, [entry], associations=[has_member(
        package.entry_uuid, entry.entry_uuid, entry_uuid=f"urn:uuid:{uuid.uuid4()}")]),
        {entry.entry_uuid: Attachment.from_bytes(b"x")}, SYSTEM, [])
    return app, first, second, entry.entry_uuid


def _submit(app, front: str, patient: str, entry_uuid: str) -> tuple[bool, bytes]:
    """(registered, the answer) of a one-document submission whose entry has this id."""
    entry = document(patient, entry_uuid, content=b"y", mime_type="text/plain",
                     repository_unique_id=None if front != "ITI-42" else "1.2.3.4.5")
    package = submission_set(patient)
    submission = Submission(package, [entry], associations=[has_member(
        package.entry_uuid, entry.entry_uuid)])
    if front == "ITI-42":
        reply = register(app, submit_objects_request(submission))
        return reply.status.endswith(":Success"), str(reply.errors).encode()
    if front == "ITI-41":
        payload, binaries = provide_request(submission, {entry_uuid: Attachment.from_bytes(
            b"y", "text/plain")})
        encoded = encode_request("http://testserver/xds/repository", PROVIDE, payload,
                                 binaries=binaries)
        result = call_wsgi(app, "POST", "/xds/repository", b"".join(encoded.chunks),
                           encoded.content_type)
        reply = decode_reply(result.status, result.headers, io.BytesIO(result.body),
                             result.headers["content-type"])
        return reply.payload.get("status", "").endswith(":Success"), result.body
    bundle = provide_bundle(package, [(entry, b"y")])
    bundle["entry"][1]["fullUrl"] = entry_uuid
    bundle["entry"][0]["resource"]["entry"][0]["item"]["reference"] = entry_uuid
    answer = fhir(app, "POST", "", bundle)
    return answer.status == 200, answer.body


@pytest.mark.parametrize("prefix", ["urn:uuid:", "URN:UUID:"])
@pytest.mark.parametrize("front", ["ITI-42", "ITI-41", "ITI-65"])
@pytest.mark.parametrize("whose", ["the same patient's", "another patient's"])
def test_a_registered_entry_uuid_in_capitals_is_refused(two_records, front, whose, prefix):
    app, first, second, taken = two_records
    patient = first if whose == "the same patient's" else second
    registered, answer = _submit(app, front, patient, _capitals(taken, prefix))
    assert not registered, answer[:600]
    assert b"already registered" in answer, answer[:600]
    assert first.split("^")[0].encode() not in answer     # nothing of the holder
    found = app.registry.query(GetDocuments(entry_uuids=(_capitals(taken),)), SYSTEM)
    assert [row.entry_uuid for row in found.result.documents] == [taken]
    held = fhir(app, "GET", f"/DocumentReference/{taken.removeprefix('urn:uuid:').upper()}")
    assert held.status == 200 and held.json["id"] == taken.removeprefix("urn:uuid:")


def test_ids_sent_in_capitals_are_paged_like_any(two_records):
    """Documents whose fullUrls are in capitals are registered under the lower-case ids, and
    a walk by the server's next links (their keyset cursor) sees every one."""
    app, _, patient, _ = two_records
    sent = []
    for _ in range(7):
        entry_uuid = _capitals(f"urn:uuid:{uuid.uuid4()}")
        registered, answer = _submit(app, "ITI-65", patient, entry_uuid)
        assert registered, answer[:600]
        sent.append(entry_uuid.lower().removeprefix("urn:uuid:"))
    seen, path = [], f"/DocumentReference?{patient_query(patient)}&status=current&_count=2"
    while path:
        page = fhir(app, "GET", path)
        assert page.status == 200, page.body
        seen += [e["resource"]["id"] for e in page.json.get("entry", [])]
        links = {link["relation"]: link["url"] for link in page.json["link"]}
        path = links["next"].split("/fhir", 1)[1] if "next" in links else None
        assert len(seen) < 30
    assert sorted(seen) == sorted(sent)
    assert json.dumps(seen) == json.dumps(seen).lower()


def _set_of(app, entry_uuid: str):
    return app.registry.query(GetSubmissionSets(uuids=(entry_uuid,)),
                              SYSTEM).result.submission_sets[0]


@pytest.mark.parametrize("prefix", ["URN:UUID:", "Urn:Uuid:"])
def test_every_id_a_fhir_client_names_is_read_in_either_case(two_records, prefix):
    """Issue 16 re-test c (5): a List read, an identifier= search and a conditional PATCH by
    an id in capitals (or URN:UUID:) answered 404 or found nothing."""
    app, patient, _, entry_uuid = two_records
    package = _set_of(app, entry_uuid)
    assert fhir(app, "GET", f"/List/{package.entry_uuid[9:].upper()}").status == 200
    named = quote(prefix + entry_uuid[9:].upper())
    for search in (f"identifier={named}", f"identifier=urn:ietf:rfc:3986|{named}",
                   f"_id={entry_uuid[9:].upper()}"):
        found = fhir(app, "GET", f"/DocumentReference?{patient_query(patient)}"
                                 f"&status=current&{search}")
        assert found.status == 200 and found.json["total"] == 1, (search, found.body)
    patch = [{"op": "add", "path": "/securityLabel/-", "value": {"coding": [{
        "system": "https://mos.esante.gouv.fr/NOS/TRE_A07-StatutVisibiliteDocument/FHIR/"
                  "TRE-A07-StatutVisibiliteDocument", "code": "MASQUE_PS"}]}}]
    answer = fhir(app, "PATCH", f"/DocumentReference?identifier={named}", patch,
                  "application/json-patch+json")
    assert answer.status == 200, answer.body


def test_iti62_reads_object_refs_in_either_case(two_records):
    """Issue 16 re-test c (5): ITI-62 with ObjectRefs in capitals answered "not in this
    registry"."""
    app, _, _, entry_uuid = two_records
    package = _set_of(app, entry_uuid)
    objects = app.registry.query(GetSubmissionSetAndContents(
        entry_uuids=(package.entry_uuid,)), SYSTEM).result
    ids = [row.entry_uuid for _, rows in objects.by_kind() for row in rows]
    assert len(ids) == 3
    removed = remove(app, [_capitals(i) for i in ids])
    assert removed.status == SUCCESS, removed.codes
    assert app.registry.query(GetDocuments(entry_uuids=(entry_uuid,)),
                              SYSTEM).result.documents == []
