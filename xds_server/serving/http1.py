"""One HTTP/1.1 connection in the event loop: the request read whole under limits and deadlines
(httptools' llhttp parser), the application run in a thread, the answer written back.

No thread is given to a connection before its request is complete, so a slow or silent client
costs a socket and a few kilobytes, never a thread (see limits.py for each rule and the attack it
stops). Requests on one connection are answered in order; reading pauses while one is served.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import socket
import time
from collections import deque
from typing import TYPE_CHECKING, Any

import httptools

from ..soap.mime import FileSegment
from .body import SpooledBody
from .limits import MAX_HEADER_LINES
from .wsgi_call import Answer, RequestHead, build_environ, call_application

if TYPE_CHECKING:
    from .site import Site

_CORK = getattr(socket, "TCP_CORK", None)
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length",
                         "upgrade", "proxy-connection", "te", "trailer"})
_REASONS = {400: "Bad Request", 408: "Request Timeout", 413: "Content Too Large",
            414: "URI Too Long", 431: "Request Header Fields Too Large",
            500: "Internal Server Error", 501: "Not Implemented",
            503: "Service Unavailable"}


def plain_response(status: int, text: str) -> bytes:
    """A complete answer of the server's own, after which the connection closes."""
    body = (text + "\n").encode()
    return (f"HTTP/1.1 {status} {_REASONS[status]}\r\nContent-Type: text/plain; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body


class _Refuse(Exception):
    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status
        self.text = text


class _Incoming:
    """A request being received."""

    def __init__(self, limits) -> None:
        self.target = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.head: RequestHead | None = None
        self.body = SpooledBody(limits.spool_threshold, limits.spool_dir)
        self.declared: int | None = None
        self.too_large = False
        self.started = 0.0

    def discard(self) -> None:
        self.body.close()


class HttpConnection(asyncio.Protocol):
    def __init__(self, site: Site) -> None:
        self.site = site
        self.limits = site.limits
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.incoming: _Incoming | None = None
        self.ready: deque[_Incoming] = deque()
        self.busy = False
        self.closed = False
        self.paused = False
        self.served = 0
        self.head_bytes = 0
        self.read_deadline: float | None = None   # head or body being received
        self.idle_deadline: float | None = None   # kept alive, waiting for a request
        self.send_deadline: float | None = None   # an answer being written
        self._write_paused = False
        self._drain_waiter: asyncio.Future | None = None
        self.peer: Any = None
        self.server_address: Any = ("", 0)
        self.tls: dict[str, str] = {}

    # -- connection events -------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        site = self.site
        site.connections.add(self)
        if len(site.connections) > self.limits.max_connections:
            site.refused += 1
            transport.write(plain_response(503, "too many connections; try again"))  # type: ignore[attr-defined]
            transport.close()
            return
        self.peer = transport.get_extra_info("peername")
        self.server_address = transport.get_extra_info("sockname") or ("", 0)
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is not None:
            self.tls = site.client_certificate_environ(ssl_object)
        # a new connection must bring its head within head_timeout of being accepted
        self.read_deadline = time.monotonic() + self.limits.head_timeout

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.site.connections.discard(self)
        if self._drain_waiter is not None and not self._drain_waiter.done():
            self._drain_waiter.set_exception(ConnectionError("connection lost"))
        if self.incoming is not None:
            self.incoming.discard()
        for pending in self.ready:
            pending.discard()
        self.ready.clear()

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        if self._drain_waiter is not None and not self._drain_waiter.done():
            self._drain_waiter.set_result(None)

    def data_received(self, data: bytes) -> None:
        if self.closed:
            return
        if self.incoming is None or self.incoming.head is None:
            if self.read_deadline is None:      # first byte of a kept-alive request
                self.read_deadline = time.monotonic() + self.limits.head_timeout
            self.idle_deadline = None
            self.head_bytes += len(data)
        try:
            self.parser.feed_data(data)
        except _Refuse as refusal:
            self._refuse(refusal.status, refusal.text)
            return
        except httptools.HttpParserUpgrade:
            self._refuse(501, "protocol upgrades are not supported")
            return
        except httptools.HttpParserError as exc:
            self._refuse(400, f"malformed HTTP request: {exc}")
            return
        if (self.incoming is not None and self.incoming.head is None
                and self.head_bytes > self.limits.max_head_bytes):
            self._refuse(431, f"request line and headers exceed {self.limits.max_head_bytes} "
                              "bytes")

    # -- parser callbacks --------------------------------------------------------------------
    def on_message_begin(self) -> None:
        self.incoming = _Incoming(self.limits)

    def on_url(self, url: bytes) -> None:
        assert self.incoming is not None
        self.incoming.target += url
        if len(self.incoming.target) > self.limits.max_head_bytes:
            raise _Refuse(414, "request target too long")

    def on_header(self, name: bytes, value: bytes) -> None:
        assert self.incoming is not None
        self.incoming.headers.append((name, value))
        if len(self.incoming.headers) > MAX_HEADER_LINES:
            raise _Refuse(431, f"more than {MAX_HEADER_LINES} header lines")

    def on_headers_complete(self) -> None:
        incoming = self.incoming
        assert incoming is not None
        parser = self.parser
        incoming.head = RequestHead(parser.get_method().decode("latin-1"), incoming.target,
                                    parser.get_http_version(), incoming.headers,
                                    parser.should_keep_alive())
        expect = b""
        for name, value in incoming.headers:
            lowered = name.lower()
            if lowered == b"content-length":
                incoming.declared = int(value)       # llhttp checked it is one number
            elif lowered == b"expect":
                expect = value.lower()
        self.head_bytes = 0
        now = time.monotonic()
        incoming.started = now
        self.read_deadline = self.limits.transfer_deadline(now, 0)
        if incoming.declared is not None and incoming.declared > self.limits.max_body_bytes:
            self._body_refused(incoming)
        elif expect == b"100-continue" and self.transport is not None:
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, data: bytes) -> None:
        incoming = self.incoming
        if incoming is None or incoming.too_large:
            return
        incoming.body.write(data)
        if incoming.body.size > self.limits.max_body_bytes:
            self._body_refused(incoming)
            return
        self.read_deadline = self.limits.transfer_deadline(incoming.started, incoming.body.size)

    def on_message_complete(self) -> None:
        incoming = self.incoming
        self.incoming = None
        if incoming is None or incoming.too_large:
            return
        self._enqueue(incoming)

    # -- serving -----------------------------------------------------------------------------
    def _body_refused(self, incoming: _Incoming) -> None:
        """The body is over the limit: not read further; the application answers (413) from
        the declared length alone, then the connection closes."""
        incoming.too_large = True
        incoming.body.close()
        self.incoming = None
        self._enqueue(incoming)

    def _enqueue(self, incoming: _Incoming) -> None:
        self.ready.append(incoming)
        self.read_deadline = None
        self._pause_reading()
        if not self.busy:
            self.busy = True
            self.site.loop.create_task(self._serve())

    def _pause_reading(self) -> None:
        if not self.paused and self.transport is not None and not self.closed:
            self.paused = True
            self.transport.pause_reading()

    async def _serve(self) -> None:
        try:
            while self.ready and not self.closed:
                incoming = self.ready.popleft()
                keep = await self._answer(incoming)
                incoming.discard()
                if not keep:
                    self._close()
                    return
        finally:
            self.busy = False
        if self.closed:
            return
        now = time.monotonic()
        if self.incoming is not None:      # a pipelined request begun in the last read
            self.read_deadline = (now + self.limits.head_timeout if self.incoming.head is None
                                  else self.limits.transfer_deadline(now, 0))
        else:
            self.idle_deadline = now + self.limits.keepalive_timeout
        if self.paused and self.transport is not None:
            self.paused = False
            self.transport.resume_reading()

    async def _answer(self, incoming: _Incoming) -> bool:
        head = incoming.head
        assert head is not None
        site = self.site
        if incoming.too_large:
            body, length = _EMPTY_INPUT(), max(incoming.declared or 0,
                                              self.limits.max_body_bytes + 1)
        else:
            body, length = incoming.body.reader(), incoming.body.size
        environ = build_environ(head, body, length, self.server_address, self.peer,
                                site.scheme, self.tls)
        self.served += 1
        keep = (head.keep_alive and not incoming.too_large and site.alive
                and self.served < self.limits.max_requests_per_connection)
        try:
            if site.executor is None:    # XDS_THREADS=0: in the loop's own thread
                answer = call_application(site.app, environ)
            else:
                answer = await site.loop.run_in_executor(site.executor, call_application,
                                                         site.app, environ)
        except Exception:
            site.log.exception("request %s %s: the application failed", head.method,
                               head.target[:200])
            self._write(plain_response(500, "internal error"))
            return False
        try:
            await self._send(answer, head, keep)
        except ConnectionError:
            return False
        finally:
            if answer.close is not None:
                try:
                    answer.close()
                except Exception:
                    site.log.exception("closing an answer failed")
        return keep

    async def _send(self, answer: Answer, head: RequestHead, keep: bool) -> None:
        length = answer.length
        lines = [f"HTTP/1.1 {answer.status}\r\n"]
        for name, value in answer.headers:
            if name.lower() not in _HOP_BY_HOP:
                lines.append(f"{name}: {value}\r\n")
        lines.append(f"Content-Length: {length}\r\nDate: {_http_date()}\r\n")
        if not keep:
            lines.append("Connection: close\r\n")
        elif head.version == "1.0":
            lines.append("Connection: keep-alive\r\n")
        lines.append("\r\n")
        pending = ["".join(lines).encode("latin-1")]
        self.send_deadline = self.limits.transfer_deadline(time.monotonic(), length)
        cork = self._cork(True)
        try:
            if head.method != "HEAD":
                for segment in answer.segments:
                    if isinstance(segment, bytes):
                        pending.append(segment)
                        continue
                    self._write(b"".join(pending))
                    pending = []
                    await self._send_file(segment)
            self._write(b"".join(pending))
            await self._drain()
        finally:
            if cork:
                self._cork(False)
            self.send_deadline = None

    async def _send_file(self, segment: FileSegment) -> None:
        if segment.size == 0:
            return
        await self._drain()
        if self.closed or self.transport is None:
            raise ConnectionError("connection lost")
        with open(segment.path, "rb") as handle:
            sent = await self.site.loop.sendfile(self.transport, handle, 0, segment.size)
        if sent != segment.size:      # the file shrank under us: the answer cannot be completed
            self.site.log.error("%s gave %d of %d bytes", segment.path, sent, segment.size)
            self.abort()
            raise ConnectionError("file shorter than announced")

    def _write(self, data: bytes) -> None:
        if self.closed or self.transport is None:
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

    # -- ending ------------------------------------------------------------------------------
    def _refuse(self, status: int, text: str) -> None:
        """Answer a request the server itself refuses, then close (nothing more is read)."""
        if self.closed or self.transport is None:
            return
        self.site.log.info("refused %s from %s: %s", status, self.peer, text)
        if not self.busy:
            self.transport.write(plain_response(status, text))
        self._close()

    def _close(self) -> None:
        if not self.closed and self.transport is not None:
            self.transport.close()
            self.closed = True

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()
        self.closed = True

    def check_deadlines(self, now: float) -> None:
        """Called about twice a second by the worker: enforce the deadlines (limits.py)."""
        if self.closed:
            return
        if self.send_deadline is not None and now > self.send_deadline:
            self.site.log.info("answer to %s not read in time: connection cut", self.peer)
            self.abort()
        elif self.read_deadline is not None and not self.paused and now > self.read_deadline:
            receiving = self.incoming is not None or self.head_bytes
            if receiving:
                self._refuse(408, "request not received in time")
            else:
                self._close()          # opened and silent: nothing to answer
        elif self.idle_deadline is not None and not self.busy and now > self.idle_deadline:
            self._close()

    def shutdown(self) -> None:
        """The worker stops: an idle connection closes now, a busy one after its answer."""
        if not self.busy and not self.ready:
            self._close()


def _EMPTY_INPUT():
    import io

    return io.BytesIO(b"")


_date_cache: tuple[int, str] = (0, "")


def _http_date() -> str:
    global _date_cache
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache = (now, email.utils.formatdate(now, usegmt=True))
    return _date_cache[1]
