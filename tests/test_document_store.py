"""The filesystem document store against the DocumentStore contract (document_store_contract.py)."""

from __future__ import annotations

import pytest

from xds_server.store.documents import FilesystemDocumentStore

from .document_store_contract import DocumentStoreContract


class TestFilesystemDocumentStore(DocumentStoreContract):
    @pytest.fixture
    def store(self, tmp_path):
        return FilesystemDocumentStore(tmp_path / "documents")

    @pytest.fixture
    def spool(self, tmp_path):
        directory = tmp_path / "spool"
        directory.mkdir()
        return directory


def test_a_failed_write_among_a_submissions_documents_leaves_none_staged(tmp_path,
                                                                        monkeypatch):
    """stage_all writes the documents together: when one fails (disk full), the ones written
    are discarded, and the error is the caller's to answer."""
    from xds_server.model.content import Attachment

    store = FilesystemDocumentStore(tmp_path / "documents")
    write = FilesystemDocumentStore._write

    def failing(self, unique_id, content, mime_type):
        if unique_id.endswith(".2"):
            raise OSError(28, "No space left on device")
        return write(self, unique_id, content, mime_type)

    monkeypatch.setattr(FilesystemDocumentStore, "_write", failing)
    with pytest.raises(OSError, match="No space"):
        store.stage_all([(f"1.2.3.{n}", Attachment.from_bytes(b"x" * 100), "text/plain")
                         for n in range(4)])
    assert list(store.staging.iterdir()) == []
