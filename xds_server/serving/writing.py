"""Writing an answer on a connection (the half of http1.HttpConnection that sends): placed in
the worker's budgets, written in chunks as the client takes them, files by sendfile, cut at once
when the client is too slow (limits.py), without leaving asyncio's sendfile waiting."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import time
from typing import TYPE_CHECKING, Any

from .responses import answer_head, plain_response
from .sending import NoRoom, PlacedAnswer, Progress, SpoolSlice, place, send_file
from .wsgi_call import Answer, RequestHead

if TYPE_CHECKING:
    from .site import Site

_CORK = getattr(socket, "TCP_CORK", None)
_LINGER_RESET = struct.pack("ii", 1, 0)
WRITE_CHUNK = 64 * 1024     # an in-memory answer goes to the transport this much at a time


class AnswerWriting:
    """Mixed into HttpConnection, whose state it uses: the transport, whether it is closed,
    the answer being sent (`sending`, `send_started`) and whether a sendfile is under way."""

    site: Site
    transport: asyncio.Transport | None
    closed: bool
    sending: Progress | None
    send_started: float
    in_sendfile: bool
    tls: dict[str, str]
    _write_paused: bool
    _drain_waiter: asyncio.Future | None

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        if self._drain_waiter is not None and not self._drain_waiter.done():
            self._drain_waiter.set_result(None)

    async def _deliver(self, answer: Answer, head: RequestHead, keep: bool) -> bool:
        try:
            placed = place(answer, self.site.budget)
        except (NoRoom, OSError) as exc:
            self.site.budget.refused += 1
            self.site.log.warning("answer to %s %s dropped: no room to hold it (%s); 503",
                                  head.method, head.target[:200], exc)
            self._write(plain_response(503, "server busy sending answers; retry"))
            return False
        try:
            await self._send(placed, answer, head, keep)
        finally:
            placed.release()
        return keep

    async def _send(self, placed: PlacedAnswer, answer: Answer, head: RequestHead,
                    keep: bool) -> None:
        transport = self.transport
        if self.closed or transport is None or transport.is_closing():
            raise ConnectionError("connection lost")
        progress = Progress(transport)
        self.sending, self.send_started = progress, time.monotonic()
        cork = self._cork(True)
        try:
            pending = [answer_head(answer, head, placed.length, keep)]
            pending_size = len(pending[0])
            pieces = placed.pieces if head.method != "HEAD" else []
            for index, piece in enumerate(pieces):
                if isinstance(piece, bytes):
                    if len(piece) <= WRITE_CHUNK:       # small pieces leave together
                        pending.append(piece)
                        pending_size += len(piece)
                        placed.sent_bytes(len(piece))
                        pieces[index] = b""
                        if pending_size > WRITE_CHUNK:
                            await self._write_counted(b"".join(pending), progress)
                            pending, pending_size = [], 0
                        continue
                    await self._write_counted(b"".join(pending), progress)
                    pending, pending_size = [], 0
                    view = memoryview(piece)
                    for start in range(0, len(view), WRITE_CHUNK):
                        await self._write_counted(view[start:start + WRITE_CHUNK], progress)
                    view.release()
                    placed.sent_bytes(len(piece))
                else:
                    await self._write_counted(b"".join(pending), progress)
                    pending, pending_size = [], 0
                    await self._send_piece(piece, progress)
                pieces[index] = b""      # sent: its memory can go
            await self._write_counted(b"".join(pending), progress)
        finally:
            if cork:
                self._cork(False)
            self.sending = None

    async def _send_piece(self, piece: Any, progress: Progress) -> None:
        assert self.transport is not None
        self.in_sendfile = True
        try:
            if isinstance(piece, SpoolSlice):
                await send_file(self.site.loop, self.transport, piece.handle, piece.offset,
                                piece.size, progress)
            elif piece.size:
                with open(piece.path, "rb") as handle:
                    await send_file(self.site.loop, self.transport, handle, 0, piece.size,
                                    progress)
        except OSError as exc:           # the socket was shut (cut) or reset
            raise ConnectionError(str(exc)) from None
        finally:
            self.in_sendfile = False

    async def _write_counted(self, data: bytes | memoryview, progress: Progress) -> None:
        if not data:
            return
        self._write(data)
        progress.written += len(data)
        await self._drain()

    def _write(self, data: bytes | memoryview) -> None:
        if self.closed or self.transport is None or self.transport.is_closing():
            raise ConnectionError("connection lost")
        if data:
            self.transport.write(data)

    async def _drain(self) -> None:
        if self.closed:
            raise ConnectionError("connection lost")
        if not self._write_paused:
            return
        self._drain_waiter = self.site.loop.create_future()
        try:
            await self._drain_waiter
        finally:
            self._drain_waiter = None

    def _cork(self, on: bool) -> bool:
        """TCP_CORK around an answer: head, framing and file leave in full segments."""
        if _CORK is None or self.tls or self.transport is None:
            return False
        sock = self.transport.get_extra_info("socket")
        if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
            return False
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, _CORK, 1 if on else 0)
            return True
        return False

    def abort(self) -> None:
        """Cut at once: a reset, and what the kernel still queues for the client dropped (a
        slow reader's unread megabytes are not left to an orphaned socket)."""
        transport = self.transport
        if transport is None:
            return
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
                if self.in_sendfile:
                    # asyncio's sendfile waits on the socket itself: aborting the transport
                    # would leave it waiting for ever; a shut socket makes it fail, and the
                    # answer's end closes the transport
                    sock.shutdown(socket.SHUT_RDWR)
                    self.closed = True
                    return
        transport.abort()
        self.closed = True
