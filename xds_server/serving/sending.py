"""An answer on its way to the client: where its bytes wait (memory, or a spool file when the
worker's memory budget is spent) and how far the client has read it (for the minimum send rate
and the time cap, limits.py). Files leave by sendfile(2) from the event loop (read in blocks
over TLS).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from dataclasses import dataclass
from typing import Any, BinaryIO

from ..soap.mime import FileSegment
from .budget import WorkerBudget
from .wsgi_call import Answer

SMALL_ANSWER = 64 * 1024             # an answer this small is always kept (faults, /health)


class NoRoom(Exception):
    """Neither the memory nor the spool budget has room for this answer."""


@dataclass
class SpoolSlice:
    """Bytes of an answer moved to a spool file: sent from `handle` at `offset`."""

    handle: BinaryIO
    offset: int
    size: int


Piece = bytes | FileSegment | SpoolSlice


class PlacedAnswer:
    """An answer's pieces with what they hold of the worker's budgets, given back as they go."""

    def __init__(self, pieces: list[Piece], budget: WorkerBudget, memory: int, spool: int,
                 spool_file: BinaryIO | None) -> None:
        self.pieces = pieces
        self.length = sum(_size(p) for p in pieces)
        self._budget = budget
        self._memory = memory
        self._spool = spool
        self._spool_file = spool_file

    def sent_bytes(self, size: int) -> None:
        """`size` bytes of an in-memory piece are with the transport: no longer ours."""
        size = min(size, self._memory)
        self._memory -= size
        self._budget.release_memory(size)

    def release(self) -> None:
        self._budget.release_memory(self._memory)
        self._budget.release_spool(self._spool)
        self._memory = self._spool = 0
        self.pieces = []
        if self._spool_file is not None:
            self._spool_file.close()
            self._spool_file = None


def place(answer: Answer, budget: WorkerBudget) -> PlacedAnswer:
    """Where the answer's bytes wait: memory if the budget has room (or the answer is small),
    else one spool file; NoRoom if neither. Spool files the answer names (an echoed MTOM part)
    are counted against the spool budget while it is sent."""
    segments, answer.segments = answer.segments, []     # the pieces are the only holder now
    memory = sum(len(s) for s in segments if isinstance(s, bytes))
    echoed = sum(s.size for s in segments
                 if isinstance(s, FileSegment) and budget.in_spool(s.path))
    if budget.hold_memory(memory):
        budget.force_spool(echoed)
        return PlacedAnswer(list(segments), budget, memory, echoed, None)
    if memory <= SMALL_ANSWER:
        budget.force_memory(memory)
        budget.force_spool(echoed)
        return PlacedAnswer(list(segments), budget, memory, echoed, None)
    if not budget.hold_spool(memory):
        raise NoRoom(memory)
    try:
        handle = budget.spool_file("answer-")
        pieces: list[Piece] = []
        for segment in segments:
            if isinstance(segment, bytes):
                pieces.append(SpoolSlice(handle, handle.tell(), len(segment)))
                handle.write(segment)
            else:
                pieces.append(segment)
        handle.flush()
    except BaseException:
        budget.release_spool(memory)
        raise
    segments.clear()                 # the bytes are in the file: let them go now
    budget.note_freed(memory)
    budget.force_spool(echoed)
    return PlacedAnswer(pieces, budget, 0, memory + echoed, handle)


def _size(piece: Piece) -> int:
    return len(piece) if isinstance(piece, bytes) else piece.size


class Progress:
    """How much of an answer the client has taken. On Linux TCP, the bytes its TCP acknowledged
    (TCP_INFO): what the kernel buffers for a client that reads nothing does not count (a
    loopback socket buffered 2.8 MB of an unread answer). Elsewhere, the bytes handed to the
    kernel."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._socket = transport.get_extra_info("socket")
        self._acked_at_start = _bytes_acked(self._socket)
        self.written = 0

    def delivered(self) -> int:
        if self._acked_at_start is not None:
            acked = _bytes_acked(self._socket)
            if acked is not None:
                return acked - self._acked_at_start
        with contextlib.suppress(Exception):
            return self.written - self._transport.get_write_buffer_size()
        return self.written


_TCP_INFO = getattr(socket, "TCP_INFO", None)
_BYTES_ACKED = struct.Struct("=Q")
_BYTES_ACKED_OFFSET = 120        # struct tcp_info: tcpi_bytes_acked (Linux 4.1+)


def _bytes_acked(sock: Any) -> int | None:
    if _TCP_INFO is None or sock is None or sock.family not in (socket.AF_INET,
                                                                 socket.AF_INET6):
        return None
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, _TCP_INFO, _BYTES_ACKED_OFFSET + 8)
    except OSError:
        return None
    if len(info) < _BYTES_ACKED_OFFSET + 8:
        return None
    return _BYTES_ACKED.unpack_from(info, _BYTES_ACKED_OFFSET)[0]


async def send_file(loop: asyncio.AbstractEventLoop, transport: asyncio.Transport,
                    handle: BinaryIO, offset: int, size: int, progress: Progress) -> None:
    """`size` bytes of `handle` from `offset` (sendfile on plain TCP, read in blocks on TLS)."""
    if transport.is_closing():
        raise ConnectionError("connection closed")
    try:
        sent = await loop.sendfile(transport, handle, offset, size)
    except RuntimeError as exc:      # "Transport is closing": the client went away
        raise ConnectionError(str(exc)) from None
    progress.written += sent
    if sent != size:
        raise FileShrank(f"{getattr(handle, 'name', 'file')} gave {sent} of {size} bytes")


class FileShrank(ConnectionError):
    """A file was shorter than announced: the answer cannot be completed."""

