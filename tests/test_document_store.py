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
