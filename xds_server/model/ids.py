"""Random identifiers: message ids, MIME boundaries and content ids, request ids, entry UUIDs.

Every answer needs five of them; `uuid.uuid4()` costs a getrandom(2) call and a UUID object
each (a tenth of the CPU of an ITI-43 answer). These come from the same kernel generator, read
4 KiB at a time: the same 122 random bits a version-4 UUID has, without the system call. The
pool is emptied in a forked child, so two workers never hand out the same bytes.
"""

from __future__ import annotations

import os
import threading

_POOL_BYTES = 4096
_VARIANT = "89ab"       # RFC 4122 variant: the first hex digit of the fourth group is 10xx


class _RandomPool:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buffer = b""
        self._offset = 0

    def empty(self) -> None:
        self._buffer = b""
        self._offset = 0

    def hex32(self) -> str:
        """128 random bits as 32 lower-case hex digits."""
        with self._lock:
            if self._offset + 16 > len(self._buffer):
                self._buffer = os.urandom(_POOL_BYTES)
                self._offset = 0
            start = self._offset
            self._offset = start + 16
            return self._buffer[start:start + 16].hex()


_pool = _RandomPool()
os.register_at_fork(after_in_child=_pool.empty)


def random_hex() -> str:
    """32 random hex digits (for names: boundaries, content ids, request ids)."""
    return _pool.hex32()


def random_uuid() -> str:
    """A version-4 UUID in its usual 8-4-4-4-12 form."""
    h = _pool.hex32()
    return (f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[int(h[16], 16) & 3]}{h[17:20]}-"
            f"{h[20:]}")


def urn_uuid() -> str:
    return f"urn:uuid:{random_uuid()}"
