"""One WSGI call, run in a thread once the request is whole: the environ, start_response, and
the answer collected as bytes and whole files for the event loop to send.

The application hands files over through `environ["xds.send_file"]` (see soap/response_body):
they stay files here and leave by sendfile(2) from the event loop, never read into Python on a
plain connection.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, BinaryIO
from urllib.parse import unquote_to_bytes

from ..soap.mime import FileSegment
from .forwarded import socket_host

log = logging.getLogger("xds_server.serving")

Segment = bytes | FileSegment


@dataclass
class RequestHead:
    """What the parser read before the body."""

    method: str
    target: bytes
    version: str
    headers: list[tuple[bytes, bytes]]
    keep_alive: bool


@dataclass
class Answer:
    """The application's answer, ready for the wire."""

    status: str
    headers: list[tuple[str, str]]
    segments: list[Segment] = field(default_factory=list)
    close: Callable[[], None] | None = None

    @property
    def length(self) -> int:
        return sum(len(s) if isinstance(s, bytes) else s.size for s in self.segments)


def build_environ(head: RequestHead, body: BinaryIO, body_length: int | None,
                  server: tuple[str, int], peer: tuple[str, int] | None, scheme: str,
                  extra: dict[str, Any]) -> dict[str, Any]:
    path, _, query = head.target.partition(b"?")
    environ: dict[str, Any] = {
        "REQUEST_METHOD": head.method,
        "SCRIPT_NAME": "",
        "PATH_INFO": unquote_to_bytes(path).decode("latin-1"),
        "QUERY_STRING": query.decode("latin-1"),
        "RAW_URI": head.target.decode("latin-1"),
        "SERVER_NAME": str(server[0]),
        "SERVER_PORT": str(server[1]),
        "SERVER_PROTOCOL": f"HTTP/{head.version}",
        "REMOTE_ADDR": peer[0] if peer else "",
        "REMOTE_PORT": str(peer[1]) if peer else "",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scheme,
        "wsgi.input": body,
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "xds.public_host": socket_host(server),
        **extra,
    }
    for name, value in head.headers:
        key = name.decode("latin-1").upper().replace("-", "_")
        text = value.decode("latin-1")
        if key == "CONTENT_TYPE":
            environ["CONTENT_TYPE"] = text
        elif key in ("CONTENT_LENGTH", "TRANSFER_ENCODING"):
            continue                          # the body is whole: its length is said below
        else:
            key = "HTTP_" + key
            environ[key] = f"{environ[key]},{text}" if key in environ else text
    if body_length is not None:
        environ["CONTENT_LENGTH"] = str(body_length)
    return environ


def call_application(app: Callable[..., Iterable[bytes]], environ: dict[str, Any]) -> Answer:
    """Run the WSGI application to the end of its answer (in a worker thread)."""
    started: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None):
        if exc_info is not None and started:
            raise exc_info[1].with_traceback(exc_info[2])
        started["status"], started["headers"] = status, headers
        return _no_write

    segments: list[Segment] = []
    environ["xds.send_file"] = segments.append
    iterable = app(environ, start_response)
    try:
        for chunk in iterable:
            if chunk:
                segments.append(bytes(chunk))
    except BaseException:
        _close(iterable)
        raise
    if not started:
        _close(iterable)
        raise RuntimeError("the application returned without calling start_response")
    return Answer(started["status"], started["headers"], segments,
                  getattr(iterable, "close", None))


def _close(iterable: Any) -> None:
    close = getattr(iterable, "close", None)
    if close is not None:
        close()


def _no_write(data: bytes) -> None:
    raise RuntimeError("the write() callable of start_response is not supported")
