"""The WSGI response iterable: a message's bytes, with its files sent by the kernel when it can.

A retrieved document is a whole blob file between a few hundred bytes of MIME framing. Under
gunicorn on plain HTTP the connection's socket is in `environ["gunicorn.socket"]`, so the file
goes out with sendfile(2): no read into Python, no copy through user space (a 1 MB document is
most of the work of an ITI-43 answer). Elsewhere (TLS, another server, in-process tests) the file
is read in large blocks and yielded like any other bytes.

The socket is used only after the first bytes were yielded: gunicorn has then written the status
line and headers, and the framing before the file, so the byte order on the wire is the message's.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from .mime import FileSegment, Segment

SendFile = Callable[[FileSegment], None]


def kernel_file_sender(environ: dict[str, Any]) -> SendFile | None:
    """A sendfile(2) writer on the request's own socket, when the server exposes a plain one."""
    sock = environ.get("gunicorn.socket")
    if (not isinstance(sock, socket.socket) or isinstance(sock, ssl.SSLSocket)
            or environ.get("wsgi.url_scheme") != "http"):
        return None

    def send(segment: FileSegment) -> None:
        if segment.size == 0:      # socket.sendfile refuses a count of 0
            return
        with open(segment.path, "rb") as handle:
            sent = sock.sendfile(handle, 0, segment.size)
        if sent != segment.size:   # the file shrank under us: the answer cannot be completed
            raise OSError(f"{segment.path} gave {sent} of {segment.size} bytes")

    return send


class ResponseBody:
    """Response chunks, with a hook run when the server is done with them (WSGI close())."""

    def __init__(self, segments: Iterable[Segment], on_close: Callable[[], None] | None = None,
                 send_file: SendFile | None = None) -> None:
        self._segments = segments
        self._on_close = on_close
        self._send_file = send_file

    def __iter__(self) -> Iterator[bytes]:
        started = False
        for segment in self._segments:
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

    def close(self) -> None:
        if self._on_close is not None:
            self._on_close()
