"""The WSGI response iterable: a message's bytes, with its files sent by the kernel when it can.

A retrieved document is a whole blob file between a few hundred bytes of MIME framing. The
project's worker (serving/) takes the file itself through `environ["xds.send_file"]` and sends it
with sendfile(2) on a plain connection (read in blocks over TLS); under gunicorn's sync worker on
plain HTTP the connection's socket is in `environ["gunicorn.socket"]`, so the file goes out with
sendfile(2) here: no read into Python, no copy through user space (a 1 MB document is most of the
work of an ITI-43 answer). Elsewhere (another server, in-process tests) the file is read in large
blocks and yielded like any other bytes.

The socket is used only after the first bytes were yielded: gunicorn has then written the status
line and headers, and the framing before the file, so the byte order on the wire is the message's.
A TCP socket is corked for the whole answer: headers, framing and file leave in full segments
instead of a small packet each (each one a wakeup of the reader; measured on ITI-43: a sixth of
the kernel time of an answer).
"""

from __future__ import annotations

import contextlib
import os
import socket
import ssl
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from .mime import FileSegment, Segment

_CORK = getattr(socket, "TCP_CORK", None)   # Linux


class KernelFileSender:
    """sendfile(2) on the request's socket; corks and uncorks a TCP one around the answer."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._corkable = _CORK is not None and sock.family in (socket.AF_INET, socket.AF_INET6)

    def cork(self, on: bool) -> None:
        if self._corkable:
            with contextlib.suppress(OSError):   # the peer may be gone; the write will say so
                self._sock.setsockopt(socket.IPPROTO_TCP, _CORK, 1 if on else 0)

    def __call__(self, segment: FileSegment) -> None:
        if segment.size == 0:      # sendfile with nothing to send
            return
        if self._sock.gettimeout() is not None:   # non-blocking underneath: let socket wait
            with open(segment.path, "rb") as handle:
                sent = self._sock.sendfile(handle, 0, segment.size)
        else:                      # blocking (gunicorn's sync worker): the system call alone
            sent = _sendfile_blocking(self._sock.fileno(), segment)
        if sent != segment.size:   # the file shrank under us: the answer cannot be completed
            raise OSError(f"{segment.path} gave {sent} of {segment.size} bytes")


def _sendfile_blocking(out: int, segment: FileSegment) -> int:
    descriptor = os.open(segment.path, os.O_RDONLY)
    try:
        offset = 0
        while offset < segment.size:
            sent = os.sendfile(out, descriptor, offset, segment.size - offset)
            if sent == 0:
                break
            offset += sent
        return offset
    finally:
        os.close(descriptor)


SendFile = Callable[[FileSegment], None]


def kernel_file_sender(environ: dict[str, Any]) -> SendFile | None:
    """Who sends a whole file: xds-server's own worker takes it as it is (`xds.send_file`: it
    leaves by sendfile(2) from the event loop, or is read there for TLS); under gunicorn's sync
    worker, sendfile(2) on the request's plain socket; elsewhere nobody (the file is read)."""
    deferred = environ.get("xds.send_file")
    if deferred is not None:
        return deferred
    sock = environ.get("gunicorn.socket")
    if (not isinstance(sock, socket.socket) or isinstance(sock, ssl.SSLSocket)
            or environ.get("wsgi.url_scheme") != "http"):
        return None
    return KernelFileSender(sock)


class ResponseBody:
    """Response chunks, with a hook run when the server is done with them (WSGI close())."""

    def __init__(self, segments: Iterable[Segment], on_close: Callable[[], None] | None = None,
                 send_file: SendFile | None = None) -> None:
        self._segments = segments
        self._on_close = on_close
        self._send_file = send_file
        self._corked = False

    def __iter__(self) -> Iterator[bytes]:
        started = False
        self._set_cork(True)
        # given up as it is read: whoever took the chunks (a server holding an answer for a
        # slow reader, or moving it to a spool file) is then their only holder
        segments, self._segments = self._segments, ()
        for segment in segments:
            if isinstance(segment, bytes):
                if segment:
                    started = True
                    yield segment
            elif self._send_file is not None and started:
                self._send_file(segment)
            else:
                for block in segment.read_chunks():
                    started = True
                    yield block
        self._set_cork(False)

    def _set_cork(self, on: bool) -> None:
        if isinstance(self._send_file, KernelFileSender) and self._corked != on:
            self._send_file.cork(on)
            self._corked = on

    def close(self) -> None:
        self._set_cork(False)       # an answer cut short is not left corked
        if self._on_close is not None:
            self._on_close()
