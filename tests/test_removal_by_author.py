"""ITI-86 lets remove a document's bytes whoever ITI-62 let remove its registry entries (issue
18, outsider M1): an author who did not submit the document removed the entries, then was
refused the bytes as "not held by this repository", which left bytes no entry names. A caller
who may see the document and may not remove it is told so, with who may; a caller who may not
see it still gets the answer for bytes never held."""

from __future__ import annotations

import uuid

import pytest

from xds_server.consumer.documents import REMOVE, remove_request
from xds_server.consumer.metadata import has_member
from xds_server.consumer.transport import SoapClient
from xds_server.model.metadata import Author, Submission

from .registry_data import document, submission_set
from .test_trust_attacks import codes_of, remove_metadata, status_of
from .trust_data import AUTHOR_A, READER, REMOVE_METADATA, STRANGER, TrustServer

pytestmark = pytest.mark.http


def _urn() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


def _remove_bytes(server: TrustServer, unique_id: str, header):
    return SoapClient(server.url + "/xds/repository").call(
        REMOVE, remove_request([(server.repository_id, unique_id)]), extra_headers=[header])


def _texts(reply) -> str:
    return " ".join(e.get("codeContext") or "" for e in reply.payload.iter("{*}RegistryError"))


def test_an_author_who_did_not_submit_removes_entries_then_bytes(trust_server):
    server = trust_server
    patient = server.patient_a
    person = f"{AUTHOR_A}^AUTEUR^A^^^^^^&1.2.250.1.71.4.2.1&ISO"
    content = f"written by A, sent by the reader {uuid.uuid4()}".encode()
    entry = document(patient, _urn(), content=content, mime_type="text/plain",
                     repository_unique_id=None, authors=[Author(person=person)])
    package = submission_set(patient, _urn(), authors=[Author(person=person)])
    membership = has_member(package.entry_uuid, entry.entry_uuid, entry_uuid=_urn())
    reply = server.provide(Submission(package, [entry], associations=[membership]),
                           {entry.entry_uuid: content}, server.vihf(patient, READER))
    assert status_of(reply) == "Success"
    author = server.vihf(patient, AUTHOR_A)
    reply = server.registry(REMOVE_METADATA, remove_metadata(
        [entry.entry_uuid, package.entry_uuid, membership.entry_uuid]), author)
    assert status_of(reply) == "Success", codes_of(reply)
    reply = _remove_bytes(server, entry.unique_id, author)
    assert status_of(reply) == "Success", _texts(reply)
    again = _remove_bytes(server, entry.unique_id, server.vihf(patient, READER))
    assert "not held" in _texts(again)


def test_a_reader_who_sees_the_document_is_told_who_may_remove_it(trust_server):
    server = trust_server
    plain = server.documents["a_plain"]
    reply = _remove_bytes(server, plain.unique_id, server.vihf(server.patient_a, READER))
    assert status_of(reply) == "Failure"
    text = _texts(reply)
    assert "not held" not in text
    assert "you may not remove its bytes" in text and AUTHOR_A in text
    assert "administrator" in text


@pytest.mark.parametrize("who", ["stranger", "other patient"])
def test_a_caller_who_cannot_see_it_gets_the_never_held_answer(trust_server, who):
    """STRANGER has no authorisation to patient A's record; a VIHF about patient B is
    another record: neither learns that these bytes exist, nor whose they are."""
    server = trust_server
    patient = server.patient_a if who == "stranger" else server.patient_b
    for name in ("a_plain", "a_masked"):
        reply = _remove_bytes(server, server.documents[name].unique_id,
                              server.vihf(patient, STRANGER if who == "stranger" else READER))
        text = _texts(reply)
        assert status_of(reply) == "Failure" and "not held" in text
        assert AUTHOR_A not in text and "may not remove" not in text


def test_a_masked_document_stays_never_held_to_an_authorised_reader(trust_server):
    server = trust_server
    reply = _remove_bytes(server, server.documents["a_masked"].unique_id,
                          server.vihf(server.patient_a, READER))
    assert "not held" in _texts(reply) and AUTHOR_A not in _texts(reply)


def test_the_cli_says_who_finishes_a_removal_and_how():
    """When ITI-86 refuses after ITI-62 succeeded, the command to finish names every
    repository with its documents, and who may run it (not "once this is fixed")."""
    from xds_server.cli_update import _finish_removal

    text = _finish_removal([("1.2.3", "9.1"), ("1.2.3", "9.2"), ("1.2.4", "9.3")])
    assert "--repository-id 1.2.3 9.1 9.2`" in text and "--repository-id 1.2.4 9.3`" in text
    assert "administrator of the patient's record" in text and "author" in text
