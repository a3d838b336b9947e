"""One HTTP/1.1 connection in the event loop: the request read whole under limits and deadlines
(httptools' llhttp parser), the application run, the answer written back at the client's pace.

No thread is given to a connection before its request is complete, so a slow or silent client
costs a socket and a few kilobytes, never a thread; what its body and its answer hold waits in
the worker's budgets (budget.py), never beyond them (see limits.py for each rule and the attack
it stops). Requests on one connection are answered in order; reading pauses while one is served.
"""

from __future__ import annotations

import asyncio
import io
import time
from collections import deque
from typing import TYPE_CHECKING, Any

import httptools

from . import forwarded
from .admission import BUSY, RECEIVING, WAITING
from .body import SpooledBody, SpoolFull
from .limits import MAX_HEADER_LINES, client_key
from .responses import plain_response
from .sending import Progress
from .writing import AnswerWriting
from .wsgi_call import RequestHead, build_environ, call_application

if TYPE_CHECKING:
    from .site import Site

TRIM_REQUEST_BYTES = 1024 * 1024


class _Refuse(Exception):
    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status
        self.text = text


class _Incoming:
    """A request being received."""

    def __init__(self, site: Site) -> None:
        self.target = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.head: RequestHead | None = None
        self.body = SpooledBody(site.limits.spool_threshold, site.budget)
        self.declared: int | None = None
        self.too_large = False
        self.started = 0.0

    def discard(self) -> None:
        self.body.close()


class HttpConnection(AnswerWriting, asyncio.Protocol):
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
        self.sending: Progress | None = None       # an answer being written
        self.send_started = 0.0
        self.in_sendfile = False
        self._task: asyncio.Task | None = None     # kept: the loop holds tasks weakly
        self._write_paused = False
        self._drain_waiter: asyncio.Future | None = None
        self.peer: Any = None
        self.server_address: Any = ("", 0)
        self.tls: dict[str, str] = {}

    # -- connection events -------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        site = self.site
        self.peer = transport.get_extra_info("peername")
        address = str(self.peer[0]) if isinstance(self.peer, tuple) and self.peer else ""
        refusal = site.table.admit(self, client_key(address),
                                   self.limits.is_trusted_proxy(address))
        if refusal is not None:
            site.log.debug("connection from %s refused: %s", self.peer, refusal)
            self.closed = True
            transport.write(plain_response(503, refusal))  # type: ignore[attr-defined]
            transport.close()
            return
        self.server_address = transport.get_extra_info("sockname") or ("", 0)
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is not None:
            self.tls = site.client_certificate_environ(ssl_object)
        # a new connection must bring its head within head_timeout of being accepted
        self.read_deadline = time.monotonic() + self.limits.head_timeout

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.site.table.leave(self)
        if self._drain_waiter is not None and not self._drain_waiter.done():
            self._drain_waiter.set_exception(ConnectionError("connection lost"))
        if self.incoming is not None:
            self.incoming.discard()
        for pending in self.ready:
            pending.discard()
        self.ready.clear()

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
        except httptools.HttpParserUpgrade:
            self._refuse(501, "protocol upgrades are not supported")
            return
        except httptools.HttpParserError as exc:
            # a callback's exception reaches here wrapped (HttpParserCallbackError)
            refusal = exc.__context__
            if isinstance(refusal, _Refuse):
                self._refuse(refusal.status, refusal.text)
            else:
                self._refuse(400, f"malformed HTTP request: {exc}")
            return
        if (self.incoming is not None and self.incoming.head is None
                and self.head_bytes > self.limits.max_head_bytes):
            self._refuse(431, f"request line and headers exceed {self.limits.max_head_bytes} "
                              "bytes")

    # -- parser callbacks --------------------------------------------------------------------
    def on_message_begin(self) -> None:
        self.incoming = _Incoming(self.site)

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
        self.site.table.state(self, RECEIVING)
        if incoming.declared is not None and incoming.declared > self.limits.max_body_bytes:
            self._body_refused(incoming)
            return
        try:
            incoming.body.reserve(incoming.declared or 0)
        except SpoolFull:
            raise _Refuse(503, "server busy: no room for a request body this large now; "
                               "retry") from None
        if expect == b"100-continue" and self.transport is not None:
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, data: bytes) -> None:
        incoming = self.incoming
        if incoming is None or incoming.too_large:
            return
        try:
            incoming.body.write(data)
        except SpoolFull:
            raise _Refuse(503, "server busy: no room for the request body now; retry") from None
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
        self.site.table.state(self, BUSY)
        self._pause_reading()
        if not self.busy:
            self.busy = True
            self._task = self.site.loop.create_task(self._serve())

    def _pause_reading(self) -> None:
        if not self.paused and self.transport is not None and not self.closed:
            self.paused = True
            self.transport.pause_reading()

    async def _serve(self) -> None:
        try:
            while self.ready and not self.closed:
                incoming = self.ready.popleft()
                try:
                    keep = await self._answer(incoming)
                finally:
                    incoming.discard()
                    self.site.budget.maybe_trim()
                if not keep:
                    self._close()
                    return
        except ConnectionError as exc:     # the client went away: nothing to report
            self.site.log.debug("connection from %s ended while answering: %s", self.peer, exc)
            self.abort()
            return
        except Exception:
            self.site.log.exception("serving a connection from %s failed", self.peer)
            self.abort()
            return
        finally:
            self.busy = False
            self._task = None
        if self.closed:
            return
        now = time.monotonic()
        if self.incoming is not None:      # a pipelined request begun in the last read
            head_done = self.incoming.head is not None
            self.read_deadline = (self.limits.transfer_deadline(now, 0) if head_done
                                  else now + self.limits.head_timeout)
            self.site.table.state(self, RECEIVING if head_done else WAITING)
        else:
            self.idle_deadline = now + self.limits.keepalive_timeout
            self.site.table.state(self, WAITING)
        if self.paused and self.transport is not None:
            self.paused = False
            self.transport.resume_reading()

    async def _answer(self, incoming: _Incoming) -> bool:
        head = incoming.head
        assert head is not None
        site = self.site
        if site.budget.exhausted and not incoming.too_large:
            # answers already waiting fill memory and the spool: no work started for this one
            site.budget.refused += 1
            self._write(plain_response(503, "server busy sending answers; retry"))
            return False
        if incoming.too_large:
            body, length = io.BytesIO(b""), max(incoming.declared or 0,
                                                self.limits.max_body_bytes + 1)
        else:
            body, length = incoming.body.reader(), incoming.body.size
        environ = build_environ(head, body, length, self.server_address, self.peer,
                                site.scheme, self.tls)
        forwarded.apply(environ, self.limits)
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
        finally:
            del environ
            incoming.discard()           # the body's memory or spool room is free again
            if length >= TRIM_REQUEST_BYTES:
                site.budget.note_freed(length)
        try:
            return await self._deliver(answer, head, keep)
        finally:
            if answer.close is not None:
                try:
                    answer.close()
                except Exception:
                    site.log.exception("closing an answer failed")

    # -- ending ------------------------------------------------------------------------------
    def _refuse(self, status: int, text: str) -> None:
        """Answer a request the server itself refuses, then close (nothing more is read)."""
        if self.closed or self.transport is None:
            return
        self.site.log.debug("refused %s from %s: %s", status, self.peer, text)
        if not self.busy:
            self.transport.write(plain_response(status, text))
        self._close()

    def _close(self) -> None:
        if not self.closed and self.transport is not None:
            self.transport.close()
            self.closed = True

    def evict(self) -> None:
        """The worker is full and this connection has waited longest for a request: cut."""
        self.site.log.debug("connection from %s closed to make room", self.peer)
        self.abort()

    def check_deadlines(self, now: float) -> None:
        """Called about twice a second by the worker: enforce the deadlines (limits.py)."""
        if self.closed:
            return
        sending = self.sending
        if sending is not None:
            elapsed = now - self.send_started
            if self.limits.send_too_slow(elapsed, sending.delivered()):
                self.site.log.info("answer to %s not read in time (%d bytes in %.0f s): "
                                   "connection cut", self.peer, sending.delivered(), elapsed)
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


__all__ = ["HttpConnection", "plain_response"]
