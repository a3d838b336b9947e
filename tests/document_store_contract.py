"""The contract every DocumentStore keeps (xds_server/repository/document_store.py), as tests
any implementation runs: subclass `DocumentStoreContract` and give it a `store` fixture (a new,
empty store) and a `spool` fixture (a directory for spooled uploads, on the store's disk when it
has one).

What it holds an implementation to: a document can be opened only once committed, byte for byte
with its size and mime type; staged, discarded and withdrawn documents cannot be opened; a
withdrawal is undone by `restore` and made final by `forget`; `sweep` makes visible exactly the
staged documents whose key the caller says committed, deletes the others past their age, and
touches withdrawn ones only when asked; and any uniqueId is a name, never a path.
"""

from __future__ import annotations

import hashlib
import os

from xds_server.model.content import Attachment

BYTES = b"<ClinicalDocument>" + os.urandom(5000) + b"</ClinicalDocument>"


def _read(content: Attachment) -> bytes:
    return content.read_bytes()


class DocumentStoreContract:
    """Tests every DocumentStore implementation passes (`store`, `spool` fixtures)."""

    def test_a_staged_document_is_invisible_until_committed(self, store):
        staged = store.stage("1.2.250.1.1", Attachment.from_bytes(BYTES), "text/xml")
        assert (staged.size, staged.sha1) == (len(BYTES), hashlib.sha1(BYTES).hexdigest())
        assert store.open("1.2.250.1.1") is None
        store.commit(staged)
        content = store.open("1.2.250.1.1")
        assert content is not None and _read(content) == BYTES
        assert (content.size, content.content_type) == (len(BYTES), "text/xml")

    def test_a_submissions_documents_are_staged_together_in_order(self, store):
        """stage_all: every document durable and invisible, in the order given; each then
        committed or discarded on its own."""
        contents = [BYTES, b"<Signature/>", BYTES[::-1]]
        staged = store.stage_all([(f"1.2.250.1.3.{n}", Attachment.from_bytes(data), "text/xml")
                                  for n, data in enumerate(contents)])
        assert [s.size for s in staged] == [len(data) for data in contents]
        assert all(store.open(f"1.2.250.1.3.{n}") is None for n in range(3))
        store.commit(staged[0])
        store.commit(staged[1])
        store.discard(staged[2])
        assert [_read(store.open(f"1.2.250.1.3.{n}")) for n in range(2)] == contents[:2]
        assert store.open("1.2.250.1.3.2") is None

    def test_a_spooled_upload_is_taken_as_it_is(self, store, spool):
        upload = spool / "part"
        upload.write_bytes(BYTES)
        staged = store.stage("1.2.250.1.2", Attachment.from_file(upload), "application/pdf")
        assert staged.sha1 == hashlib.sha1(BYTES).hexdigest()
        store.commit(staged)
        upload.unlink()                   # the spool is emptied after the request
        content = store.open("1.2.250.1.2")
        assert content is not None and _read(content) == BYTES
        assert content.content_type == "application/pdf"

    def test_a_discarded_document_never_appears(self, store):
        staged = store.stage("1.2.250.1.3", Attachment.from_bytes(BYTES), "text/xml")
        store.discard(staged)
        assert store.open("1.2.250.1.3") is None
        assert store.sweep(lambda key: True) == (0, 0)
        assert store.open("1.2.250.1.3") is None

    def test_the_mime_type_given_opens_a_committed_document(self, store):
        """The database's mime type (for documents the store keeps none for)."""
        store.commit(store.stage("1.2.250.1.4", Attachment.from_bytes(BYTES)))
        content = store.open("1.2.250.1.4", "text/plain")
        assert content is not None and content.content_type == "text/plain"
        assert store.open("1.2.250.1.5", "text/plain") is None     # never stored

    def test_a_withdrawal_hides_until_restored_or_forgotten(self, store):
        store.commit(store.stage("1.2.250.1.6", Attachment.from_bytes(BYTES), "text/xml"))
        withdrawn = store.withdraw("1.2.250.1.6")
        assert withdrawn is not None and store.open("1.2.250.1.6") is None
        store.restore(withdrawn)                      # the removal did not commit
        content = store.open("1.2.250.1.6")
        assert content is not None and _read(content) == BYTES
        withdrawn = store.withdraw("1.2.250.1.6")
        store.forget(withdrawn)                       # the removal committed
        assert store.open("1.2.250.1.6") is None and store.open("1.2.250.1.6", "text/xml") is None
        assert store.withdraw("1.2.250.1.6") is None  # nothing left to withdraw

    def test_a_sweep_finishes_committed_documents_and_drops_the_others(self, store):
        committed = store.stage("1.2.250.1.7", Attachment.from_bytes(BYTES), "text/xml")
        abandoned = store.stage("1.2.250.1.8", Attachment.from_bytes(b"orphan"), "text/xml")
        # a crash: the registration of the first committed, its commit() never ran
        assert store.sweep(lambda key: key == committed.key) == (1, 1)
        content = store.open("1.2.250.1.7")
        assert content is not None and _read(content) == BYTES
        assert store.open("1.2.250.1.8") is None
        assert abandoned.key != committed.key

    def test_a_sweep_leaves_recent_work_alone(self, store):
        staged = store.stage("1.2.250.1.9", Attachment.from_bytes(BYTES), "text/xml")
        assert store.sweep(lambda key: False, older_than=3600) == (0, 0)   # a provide in flight
        store.commit(staged)
        assert store.open("1.2.250.1.9") is not None

    def test_withdrawn_documents_are_swept_only_when_asked(self, store):
        kept = store.stage("1.2.250.1.10", Attachment.from_bytes(BYTES), "text/xml")
        gone = store.stage("1.2.250.1.11", Attachment.from_bytes(BYTES), "text/xml")
        store.commit(kept)
        store.commit(gone)
        assert store.withdraw("1.2.250.1.10") is not None   # a crash: its removal rolled back
        assert store.withdraw("1.2.250.1.11") is not None   # a crash: its removal committed
        assert store.sweep(lambda key: True) == (0, 0)      # a retrieval's sweep: untouched
        assert store.open("1.2.250.1.10") is None
        assert store.sweep(lambda key: key == kept.key, include_withdrawn=True) == (1, 1)
        content = store.open("1.2.250.1.10")
        assert content is not None and _read(content) == BYTES
        assert store.open("1.2.250.1.11") is None

    def test_any_unique_id_is_a_name_never_a_path(self, store):
        for unique_id in ("../../../etc/passwd", "/tmp/x", "a/../../b", "é\u0000\n*?"):
            staged = store.stage(unique_id, Attachment.from_bytes(BYTES), "text/xml")
            store.commit(staged)
            content = store.open(unique_id)
            assert content is not None and _read(content) == BYTES
        assert store.open("passwd") is None

    def test_documents_are_kept_apart(self, store):
        for n in range(20):
            store.commit(store.stage(f"1.2.250.2.{n}", Attachment.from_bytes(bytes([n]) * 10),
                                     "text/plain"))
        for n in range(20):
            content = store.open(f"1.2.250.2.{n}")
            assert content is not None and _read(content) == bytes([n]) * 10

    def test_it_says_whether_it_can_write(self, store):
        writable, detail = store.check_writable()
        assert writable and detail

