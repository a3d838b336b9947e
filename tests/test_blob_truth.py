"""A file under its final name is a committed document: retrieval reads the blob store, and
asks the database only for what is not in place; removal takes the file away before its rows.

Each case checks the outcome a consumer sees (ITI-43 over SOAP, in-process) and what is left
on disk, on every database.
"""

from __future__ import annotations

import errno
import os

import pytest

from xds_server.consumer.documents import REMOVE, remove_request
from xds_server.repository.actor import DocumentRequest
from xds_server.security.principal import SYSTEM
from xds_server.store import repository_store
from xds_server.store.documents import MIME_TYPE_XATTR, WITHDRAWN, blob_key

from .registry_data import single_document_submission
from .test_repository import PDF, exchange, held_files, provide, retrieve

TEXT = b"<ClinicalDocument xmlns='urn:hl7-org:v3'/>\n"


@pytest.fixture
def app(make_app):
    return make_app(profile="ihe", spool_threshold_bytes=16 * 1024)


def _provided(app, patient, content=PDF, mime_type="application/pdf") -> str:
    submission = single_document_submission(patient, hash=None, size=None,
                                            repository_unique_id=None, mime_type=mime_type)
    assert provide(app, submission, {"Document01": content})[:2] == ("Success", [])
    return submission.documents[0].unique_id


def _final(app, unique_id):
    return app.document_store.final_path(blob_key(unique_id))


def _no_database_lookup(monkeypatch):
    def refuse(*_args, **_kwargs):
        raise AssertionError("the repository table was asked for a document in place")
    monkeypatch.setattr(repository_store, "documents", refuse)


def test_document_in_place_is_served_without_asking_the_database(app, patient, monkeypatch):
    unique_id = _provided(app, patient, TEXT, "text/xml")
    assert os.getxattr(_final(app, unique_id), MIME_TYPE_XATTR) == b"text/xml"
    _no_database_lookup(monkeypatch)
    [doc] = retrieve(app, [(app.settings.repository_unique_id, unique_id)]).documents
    assert (doc.data, doc.mime_type) == (TEXT, "text/xml")


def test_file_without_mime_type_attribute_is_served_through_the_database(app, patient):
    """Files written before the attribute existed, or copied by a tool that drops it."""
    unique_id = _provided(app, patient)
    os.removexattr(_final(app, unique_id), MIME_TYPE_XATTR)
    [doc] = retrieve(app, [(app.settings.repository_unique_id, unique_id)]).documents
    assert (doc.data, doc.mime_type) == (PDF, "application/pdf")


def test_filesystem_without_user_attributes_still_stores_and_serves(app, patient, monkeypatch):
    def unsupported(*_args, **_kwargs):
        raise OSError(errno.ENOTSUP, "Operation not supported")
    monkeypatch.setattr(os, "setxattr", unsupported)
    unique_id = _provided(app, patient)
    monkeypatch.undo()
    with pytest.raises(OSError):
        os.getxattr(_final(app, unique_id), MIME_TYPE_XATTR)
    [doc] = retrieve(app, [(app.settings.repository_unique_id, unique_id)]).documents
    assert (doc.data, doc.mime_type) == (PDF, "application/pdf")


def test_unknown_document_is_still_answered_by_the_database(app, patient):
    ours = app.settings.repository_unique_id
    known = _provided(app, patient)
    result = retrieve(app, [(ours, known), (ours, "1.2.250.1.999.404")])
    assert result.status == "PartialSuccess"
    assert [d.document_unique_id for d in result.documents] == [known]


def test_removal_that_does_not_commit_puts_the_file_back(app, patient, monkeypatch):
    ours = app.settings.repository_unique_id
    unique_id = _provided(app, patient)

    def fails(*_args, **_kwargs):
        raise RuntimeError("the database went away before the removal committed")
    monkeypatch.setattr(repository_store, "remove", fails)
    with pytest.raises(RuntimeError):
        app.repository.remove([DocumentRequest(ours, unique_id)], SYSTEM)
    monkeypatch.undo()
    assert _final(app, unique_id).is_file()
    assert app.document_store.staged_keys(suffixes=(WITHDRAWN,)) == []
    [doc] = retrieve(app, [(ours, unique_id)]).documents
    assert doc.data == PDF


def test_crash_after_withdrawal_before_commit_is_undone_by_recovery(app, patient):
    ours = app.settings.repository_unique_id
    unique_id = _provided(app, patient)
    app.document_store.withdraw(unique_id)   # the process dies here: the row is still there
    got = retrieve(app, [(ours, unique_id)])
    assert got.documents == []               # a removal in progress: not served meanwhile,
    assert app.document_store.staged_keys(suffixes=(WITHDRAWN,))   # and the retrieval left it alone
    assert app.repository.recover()["finished"] == 1
    [doc] = retrieve(app, [(ours, unique_id)]).documents
    assert doc.data == PDF


def test_crash_after_the_removal_committed_is_finished_by_recovery(app, patient):
    ours = app.settings.repository_unique_id
    unique_id = _provided(app, patient)
    app.document_store.withdraw(unique_id)
    with app.database.transaction() as uow:   # committed; the process dies before the unlink
        repository_store.remove(uow, [unique_id])
    assert app.repository.recover()["dropped"] == 1
    assert held_files(app) == []
    assert retrieve(app, [(ours, unique_id)]).documents == []


def test_removal_over_soap_of_registered_bytes_leaves_them_whole(app, patient):
    """RMD: the metadata goes first (ITI-62); bytes a registry entry names stay, file and row
    (a removal after ITI-62 leaving nothing: test_repository.test_remove_documents_iti86)."""
    ours = app.settings.repository_unique_id
    unique_id = _provided(app, patient)
    reply = exchange(app, REMOVE, remove_request([(ours, unique_id)]))
    assert reply.payload.get("status").endswith(":Failure")
    assert len(held_files(app)) == 1
    assert retrieve(app, [(ours, unique_id)]).documents[0].data == PDF


def test_a_sweep_with_an_age_leaves_a_removal_in_progress_alone(app, patient):
    """A withdrawn file is as young as its removal, whatever the document's age."""
    ours = app.settings.repository_unique_id
    unique_id = _provided(app, patient)
    os.utime(_final(app, unique_id), (1_000_000_000, 1_000_000_000))   # stored in 2001
    app.document_store.withdraw(unique_id)
    assert app.repository.recover(older_than=60.0)["finished"] == 0
    assert app.document_store.staged_keys(suffixes=(WITHDRAWN,))
    assert retrieve(app, [(ours, unique_id)]).documents == []


def test_a_platform_without_extended_attributes_keeps_working(app, patient, monkeypatch):
    """os.setxattr and os.getxattr exist on Linux only (a developer's macOS has neither)."""
    from xds_server.store import documents
    monkeypatch.setattr(documents, "_HAS_XATTR", False)
    unique_id = _provided(app, patient)
    with pytest.raises(OSError):
        os.getxattr(_final(app, unique_id), MIME_TYPE_XATTR)
    assert app.document_store.open(unique_id) is None
    [doc] = retrieve(app, [(app.settings.repository_unique_id, unique_id)]).documents
    assert (doc.data, doc.mime_type) == (PDF, "application/pdf")
