"""The FHIR JSON of registered objects, written once per worker and kept.

What is registered under an entryUUID never changes but for its availability status (a new
metadata version is a new entryUUID; a removal makes the entry unreachable, since no query
returns it again), and the status is part of the key: a kept form is never stale, so no
invalidation is needed. Bounded (least recently used out), per process; the first reading of
an object pays its decoding (the registered LeafClass → model → FHIR), the next ones copy text.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from ..model.registered import Record
from .document_reference import to_fhir
from .http import binary_url

MAX_KEPT = 16_384
_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


class FhirForms:
    def __init__(self, model_object: Callable[[Record], Any], size: int = MAX_KEPT) -> None:
        self.model_object = model_object
        self.size = size
        self._kept: OrderedDict[tuple[str, str, str], str] = OrderedDict()
        self._lock = threading.Lock()

    def document(self, record: Record, base: str) -> str:
        """The DocumentReference of a document record, as JSON text."""
        key = (record.entry_uuid, record.status, base)
        with self._lock:
            text = self._kept.get(key)
            if text is not None:
                self._kept.move_to_end(key)
                return text
        entry = self.model_object(record)
        text = _JSON(to_fhir(entry, binary_url(base, entry.unique_id)))
        with self._lock:
            self._kept[key] = text
            if len(self._kept) > self.size:
                self._kept.popitem(last=False)
        return text
