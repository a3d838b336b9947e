"""The gunicorn worker class of xds-server: gunicorn keeps the processes (fork, restart, signals,
heartbeat), each worker reads requests in an asyncio event loop (http1.py) and runs the WSGI
application once a request is whole: in the loop's own thread by default (XDS_THREADS=0), or in
a small thread pool. Measured on Echo (bench/soap_core.py, Connection: close): in the loop 1.01x
a bare handler under gunicorn's sync worker, in a thread 0.68x (the hand-off between the loop's
thread and the application's costs more than the request); a request that is being run holds
its worker as a sync worker's would, but only once it has fully arrived.

Why not a stock worker (measured, see the README): gunicorn's sync and gthread workers give a
thread to a connection from its first byte, so 100 clients sending a byte every 5 s took every
thread and /health timed out; its ASGI worker and uvicorn (with a WSGI adapter) read heads in the
event loop but handed slow bodies to threads (same result), and neither has a deadline for a head
or a minimum body rate, nor sendfile for a WSGI answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import resource
import signal
import ssl
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from gunicorn.workers import base

from .http1 import HttpConnection
from .limits import HttpLimits
from .site import Site

TICK = 0.5     # seconds between heartbeats and deadline sweeps
REPORT_EVERY = 60.0   # seconds between summaries of refused and cut connections


class XdsWorker(base.Worker):
    """Configured through the application object gunicorn gives it (see server.py): it carries
    `http_limits`, `threads` and `ssl_context` beside the WSGI callable."""

    def init_process(self) -> None:
        _raise_open_files_limit()
        self.loop = asyncio.new_event_loop()
        self.loop.set_exception_handler(_loop_exception)
        asyncio.set_event_loop(self.loop)
        self._stopping = asyncio.Event()     # set by the stop signals (init_signals)
        super().init_process()

    def init_signals(self) -> None:
        for sig in self.SIGNALS:
            signal.signal(sig, signal.SIG_DFL)
        self.loop.add_signal_handler(signal.SIGTERM, self._stop, False)
        self.loop.add_signal_handler(signal.SIGINT, self._stop, True)
        self.loop.add_signal_handler(signal.SIGQUIT, self._stop, True)
        self.loop.add_signal_handler(signal.SIGUSR1, self.log.reopen_files)
        signal.signal(signal.SIGWINCH, signal.SIG_IGN)

    def _stop(self, quick: bool) -> None:
        self.alive = False
        self._quick = quick
        self._stopping.set()      # now, not at the next tick

    def run(self) -> None:
        self._quick = False
        options: Any = self.app
        limits: HttpLimits = getattr(options, "http_limits", HttpLimits())
        ssl_context = getattr(options, "ssl_context", None)
        threads = getattr(options, "threads", 2)
        executor = (ThreadPoolExecutor(max_workers=threads, thread_name_prefix="xds-request")
                    if threads > 0 else None)
        self.site = Site(self.wsgi, self.loop, executor, limits,
                         scheme="https" if ssl_context is not None else "http", log=self.log)
        try:
            self.loop.run_until_complete(self._serve(ssl_context))
        finally:
            if executor is not None:
                executor.shutdown(wait=not self._quick, cancel_futures=True)
            with contextlib.suppress(Exception):
                self.loop.close()

    async def _serve(self, ssl_context: Any) -> None:
        site = self.site
        servers = []
        for listener in self.sockets:
            servers.append(await self.loop.create_server(
                lambda: HttpConnection(site), sock=listener.sock, ssl=ssl_context,
                ssl_handshake_timeout=site.limits.head_timeout if ssl_context else None,
                backlog=2048))
        next_report, reported = time.monotonic() + REPORT_EVERY, (0, 0, 0)
        while self.alive:
            self.notify()
            if self.ppid != os.getppid():
                self.log.info("Parent changed, shutting down: %s", self)
                break
            now = time.monotonic()
            for connection in list(site.connections):
                connection.check_deadlines(now)
            if now >= next_report:
                next_report, reported = now + REPORT_EVERY, _report(site, reported)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), TICK)
        site.alive = False
        for server in servers:
            server.close()
        if self._quick:
            return
        deadline = time.monotonic() + self.cfg.graceful_timeout
        while site.connections and time.monotonic() < deadline:
            self.notify()
            now = time.monotonic()
            for connection in list(site.connections):
                connection.shutdown()
                connection.check_deadlines(now)
            await asyncio.sleep(0.1)
        for connection in list(site.connections):
            connection.abort()


def _loop_exception(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """A client that went away, as asyncio reports it, is a DEBUG line: a crowd of clients
    aborting downloads must not flood the log with tracebacks. Anything else is a real error."""
    exc = context.get("exception")
    if isinstance(exc, ConnectionError | ssl.SSLError | TimeoutError):
        logging.getLogger("xds_server.serving").debug("%s: %s", context.get("message"), exc)
        return
    loop.default_exception_handler(context)


def _report(site: Site, before: tuple[int, int, int]) -> tuple[int, int, int]:
    """One line a minute instead of one a connection: a flood must not flood the log too."""
    counts = (site.table.refused, site.table.evicted, site.budget.refused)
    if counts != before:
        site.log.info("last minute: %d connections refused (per-client or worker cap), %d "
                      "closed to make room, %d requests refused for want of buffer room; "
                      "now %d connections, %d bytes in memory, %d in the spool",
                      *(now - then for now, then in zip(counts, before, strict=True)),
                      len(site.table), site.budget.memory, site.budget.spool)
    return counts


def _raise_open_files_limit() -> None:
    """Each connection is a descriptor: let a worker hold its max_connections and files."""
    with contextlib.suppress(ValueError, OSError):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard == resource.RLIM_INFINITY or soft < hard:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
