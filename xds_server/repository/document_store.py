"""What the repository needs of the store that keeps documents' bytes, whatever it is (the
filesystem today: store/documents.py; object storage next). The repository speaks only this.

The truth every implementation keeps: a document that can be opened is a committed one. Bytes
are staged (durable, invisible) before the registry commits, made visible only after, and
withdrawn (invisible again, still recoverable) before their removal commits. So a retrieval asks
the store alone, and the database only for a document it cannot open (written before the store
kept mime types, or a crash between commit and `commit`), which `sweep` then settles.

An implementation passes the contract suite in tests/document_store_contract.py.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from ..model.content import Attachment


class StagedDocument(Protocol):
    """Bytes written durably under the store's own name for the document, not yet visible."""

    @property
    def key(self) -> str:
        """The store's name for the document (never client text), recorded with its row so a
        sweep can ask whether that row committed."""
        ...

    @property
    def size(self) -> int: ...

    @property
    def sha1(self) -> str: ...


class DocumentStore(Protocol):
    def ensure(self) -> None:
        """Make the store usable (directories, buckets); called once by the wiring before the
        first request. Idempotent."""
        ...

    def stage(self, unique_id: str, content: Attachment,
              mime_type: str | None = None) -> StagedDocument:
        """Write `content` durably, invisible, with its mime type."""
        ...

    def stage_all(self, documents: Sequence[tuple[str, Attachment, str | None]]
                  ) -> list[StagedDocument]:
        """`stage` for each (uniqueId, content, mime type) of one submission, in order: all
        durable when it returns (an implementation may write them together)."""
        ...

    def commit(self, staged: StagedDocument) -> None:
        """Make a staged document visible (atomically). Called once its registration
        committed; if a crash loses this step, `sweep` redoes it."""
        ...

    def discard(self, staged: StagedDocument) -> None:
        """Forget a staged document whose registration did not commit."""
        ...

    def open(self, unique_id: str, mime_type: str | None = None) -> Attachment | None:
        """The committed document's content (its size known, its bytes read when sent: from a
        file, by sendfile), or None when it is not visible. Without `mime_type`, the store's
        own record of it: None too when it keeps none (the database then has it)."""
        ...

    def withdraw(self, unique_id: str) -> object | None:
        """Make a committed document invisible before its removal commits; the handle is then
        given to `forget` (committed) or `restore` (not). None: nothing was visible. A withdrawn
        document stays known under the key it was staged with: after a crash, `sweep` (with
        `include_withdrawn`) asks `is_committed(key)` of that key, and makes it visible again
        when its row is still there (the removal did not commit), else deletes it."""
        ...

    def restore(self, withdrawn: object) -> None: ...

    def forget(self, withdrawn: object) -> None: ...

    def sweep(self, is_committed: Callable[[str], bool], older_than: float = 0.0,
              include_withdrawn: bool = False) -> tuple[int, int]:
        """Settle what a crash left: staged (and, with `include_withdrawn`, withdrawn)
        documents older than `older_than` seconds whose key `is_committed` are made visible,
        the others deleted. A retrieval sweeps without the withdrawn ones, or it would undo a
        removal in progress. Returns (made visible, deleted)."""
        ...

    def check_writable(self) -> tuple[bool, str]:
        """(writable, detail) for /health; never raises."""
        ...
