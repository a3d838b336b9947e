"""The MLLP listener (HL7 v2 Minimal Lower Layer Protocol: each message framed as VT …
FS CR, answered by its ACK framed the same way), plain or TLS, on asyncio: many senders, each
connection reading one message at a time, a thread pool doing the work (the actors are
synchronous), the event loop only moving bytes.

Limits, each against an attack (the sender chooses neither size nor speed):
- `max_message_bytes`: a message larger is answered AR and the connection closed (memory);
- `message_timeout`: a message must arrive whole within it from its first byte (a slow
  sender holding a connection and a buffer forever, slowloris);
- `idle_timeout`: a connection with no message for that long is closed (idle connections
  piling up); the TLS handshake has the same bound;
- `max_connections`: connections beyond it (in one listener process) are closed at once
  (descriptor exhaustion);
- the bytes of messages being read, all connections together, stay under four messages'
  worth (`max_message_bytes` × 4): many senders each sending a large message at once (each
  under the size limit) get AR "busy" instead of the process's memory;
- the ACK must be taken by the sender within `idle_timeout` (a reader that never reads).
A framing error (bytes outside VT … FS CR) is answered with an AR when a message header can be
read from them, and the connection is closed: after it, message boundaries are unknown.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import secrets
import ssl
from collections.abc import Callable
from dataclasses import dataclass

from . import ack
from .ack import AR, Problem, acknowledgement
from .er7 import header_of
from .service import Peer

log = logging.getLogger("xds_server.hl7v2.mllp")

START, END = b"\x0b", b"\x1c\x0d"
CHUNK = 64 * 1024
CLOSE_GRACE = 8.0    # seconds a stop waits for the messages in flight (the master waits 10)
# seconds a stop waits for a message still arriving: what the sender has not sent yet may never
# come, and a sender that stalled held every stop for CLOSE_GRACE (outsider F3); a partial
# HTTP body holds the HTTP side's stop about as long
ARRIVING_GRACE = 1.0
Handler = Callable[[bytes, Peer, str], bytes]


@dataclass(frozen=True)
class MllpLimits:
    max_message_bytes: int = 20 * 1024 * 1024
    message_timeout: float = 120.0
    idle_timeout: float = 300.0
    max_connections: int = 64
    workers: int = 4


class FramingError(Exception):
    """The frame cannot be taken: `code` is the ACK's ERR-3 (100 framing; 207 not now or too
    large: HL7 table 0357 has no closer code), `data` the first bytes read (for MSH-10)."""

    def __init__(self, message: str, data: bytes = b"",
                 code: str = ack.SEGMENT_SEQUENCE_ERROR) -> None:
        super().__init__(message)
        self.data = data
        self.code = code


def frame(message: bytes) -> bytes:
    return START + message + END


class MllpServer:
    def __init__(self, handler: Handler, limits: MllpLimits,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self.handler = handler
        self.limits = limits
        self.ssl_context = ssl_context
        self.connections = 0
        self.buffered = 0          # bytes of messages being read, every connection together
        self.pool = concurrent.futures.ThreadPoolExecutor(limits.workers,
                                                          thread_name_prefix="hl7v2")
        self.server: asyncio.Server | None = None
        self.closing = False
        # each open connection's task, and its writer while it waits for a message (idle)
        self._open: dict[asyncio.Task, asyncio.StreamWriter | None] = {}
        self._arriving: set[asyncio.Task] = set()     # reading a message's bytes

    async def start(self, host: str, port: int, reuse_port: bool = False) -> asyncio.Server:
        """Listen; with `reuse_port`, beside other processes on the same port (the kernel
        spreads the connections)."""
        self.server = await asyncio.start_server(
            self._connection, host, port, ssl=self.ssl_context, limit=CHUNK,
            ssl_handshake_timeout=self.limits.idle_timeout if self.ssl_context else None,
            backlog=self.limits.max_connections, reuse_port=reuse_port or None)
        return self.server

    @property
    def port(self) -> int:
        assert self.server is not None
        return self.server.sockets[0].getsockname()[1]

    async def close(self, grace: float = CLOSE_GRACE,
                    arriving_grace: float = ARRIVING_GRACE) -> None:
        """Stop: take no new connection and no new message, let the messages being worked on
        be answered, then close every connection. A connection waiting for its next message
        is closed at once; one whose message is still arriving after `arriving_grace` seconds
        is closed (the sender resends it: it had no ACK); one still busy after `grace`
        seconds is cut. Every connection's task ends here, normally: none is left for the
        event loop to cancel at exit (a cancelled connection task was an asyncio
        CancelledError traceback in the log, issue 18 R15)."""
        self.closing = True
        if self.server is not None:
            self.server.close()
        for writer in list(self._open.values()):
            if writer is not None:              # idle: its read ends (end of stream)
                writer.transport.close()
        loop = asyncio.get_running_loop()
        until = loop.time() + grace
        tasks = set(self._open)
        if tasks:
            await asyncio.wait(tasks, timeout=min(arriving_grace, grace))
            stalled = self._arriving & {t for t in tasks if not t.done()}
            for task in stalled:
                log.info("mllp: a message still arriving %ss after the stop: connection "
                         "closed (no ACK: the sender sends it again)", arriving_grace)
                task.cancel()
            late: set[asyncio.Task] = set()
            left = {t for t in tasks if not t.done()}
            if left:
                _, late = await asyncio.wait(left, timeout=max(0.0, until - loop.time()))
            for task in late - stalled:
                log.warning("mllp: a connection still busy %ss after the stop: cut", grace)
                task.cancel()
            if late:
                await asyncio.wait(late, timeout=1.0)
        if self.server is not None:
            await self.server.wait_closed()
        self.pool.shutdown(wait=True)

    # --- one connection ------------------------------------------------------------------------

    async def _connection(self, reader: asyncio.StreamReader,
                          writer: asyncio.StreamWriter) -> None:
        peer = _peer(writer)
        if self.connections >= self.limits.max_connections:
            log.warning("mllp: %s refused: %d connections already (XDS_MLLP_MAX_CONNECTIONS)",
                        peer.address, self.connections)
            await _close(writer)
            return
        if self.closing:
            await _close(writer)
            return
        task = asyncio.current_task()
        assert task is not None
        self._open[task] = None
        self.connections += 1
        try:
            await self._messages(reader, writer, peer, task)
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError) as exc:
            log.debug("mllp: %s went away: %s", peer.address, exc)
        except asyncio.CancelledError:      # cut by `close` after its grace: said there
            log.debug("mllp: %s cut at the stop", peer.address)
        finally:
            self.connections -= 1
            self._open.pop(task, None)
            await _close(writer)

    async def _messages(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                        peer: Peer, task: asyncio.Task) -> None:
        limits = self.limits
        while not self.closing:            # stopping: nothing new is answered
            self._open[task] = writer      # idle: `close` may end it at once
            try:
                first = await asyncio.wait_for(_first_byte(reader), limits.idle_timeout)
            except TimeoutError:
                log.info("mllp: %s idle for %ss: closed", peer.address, limits.idle_timeout)
                return
            finally:
                self._open[task] = None    # a message in flight: answered before the stop
            if first is None or self.closing:
                return                     # the sender (or the stop) closed the connection
            request_id = secrets.token_hex(8)
            try:
                if first != START:
                    raise FramingError("the data does not start with VT (0x0B): not MLLP",
                                       first + await _some(reader))
                self._arriving.add(task)
                try:
                    message = await asyncio.wait_for(self._message(reader),
                                                     limits.message_timeout)
                finally:
                    self._arriving.discard(task)
            except TimeoutError:
                log.info("request_id=%s mllp: %s sent no whole message within %ss: closed",
                         request_id, peer.address, limits.message_timeout)
                return
            except FramingError as exc:
                log.info("request_id=%s mllp: %s framing error: %s", request_id,
                         peer.address, exc)
                if await self._answer(writer, _framing_ack(exc), peer):
                    await _linger(reader, writer)
                return
            loop = asyncio.get_running_loop()
            reply = await loop.run_in_executor(self.pool, self.handler, message, peer,
                                               request_id)
            if not await self._answer(writer, reply, peer):
                return

    async def _message(self, reader: asyncio.StreamReader) -> bytes:
        """The bytes up to FS CR (the VT read already), counted in the shared budget while
        they are read."""
        buffer = bytearray()
        try:
            return await self._read_message(reader, buffer)
        finally:
            self.buffered -= len(buffer)

    async def _read_message(self, reader: asyncio.StreamReader, buffer: bytearray) -> bytes:
        limit = self.limits.max_message_bytes
        while True:
            chunk = await reader.read(CHUNK)
            if not chunk:
                raise asyncio.IncompleteReadError(bytes(buffer), None)
            if self.buffered + len(chunk) > 4 * limit:
                raise FramingError("the server is reading too many large messages at once; "
                                   "send again later", bytes((buffer + chunk)[:CHUNK]),
                                   ack.APPLICATION_INTERNAL_ERROR)
            self.buffered += len(chunk)
            searched = max(0, len(buffer) - 1)
            buffer += chunk
            end = buffer.find(END, searched)
            if len(buffer) > limit + len(END) and (end < 0 or end > limit):
                raise FramingError(f"the message is over {limit} bytes "
                                   "(XDS_MLLP_MAX_MESSAGE_BYTES)", bytes(buffer[:CHUNK]),
                                   ack.APPLICATION_INTERNAL_ERROR)
            if end >= 0:
                # line breaks after FS CR (some senders end a frame with CR LF) are the gap
                # some senders leave between frames, not data
                if buffer[end + len(END):].strip(b"\r\n"):
                    raise FramingError("data after FS CR in the same read: a sender waits "
                                       "for each ACK before the next message", bytes(buffer))
                if START in buffer[:end]:
                    raise FramingError("VT inside a message: two messages without FS CR",
                                       bytes(buffer))
                return bytes(buffer[:end])

    async def _answer(self, writer: asyncio.StreamWriter, reply: bytes, peer: Peer) -> bool:
        writer.write(frame(reply))
        try:
            await asyncio.wait_for(writer.drain(), self.limits.idle_timeout)
        except TimeoutError:
            log.info("mllp: %s does not read its ACK: closed", peer.address)
            return False
        return True


async def _first_byte(reader: asyncio.StreamReader) -> bytes | None:
    """The first byte of the next message, skipping the line breaks some senders put between
    frames; None at the end of the connection."""
    while True:
        byte = await reader.read(1)
        if not byte:
            return None
        if byte not in (b"\r", b"\n"):
            return byte


async def _some(reader: asyncio.StreamReader) -> bytes:
    """What is there to read now (for the header of a framing error's answer)."""
    with contextlib.suppress(TimeoutError):
        return await asyncio.wait_for(reader.read(4096), 0.5)
    return b""


def _framing_ack(error: FramingError) -> bytes:
    header = header_of(error.data.lstrip(START))
    prefix = "MLLP framing: " if error.code == ack.SEGMENT_SEQUENCE_ERROR else ""
    return acknowledgement(header, AR, [Problem(error.code, "", f"{prefix}{error}")])


async def _linger(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                  seconds: float = 2.0) -> None:
    """Before closing on a sender still writing (a message too large, a busy answer): say
    end-of-stream and discard what arrives for a moment. Closing with unread bytes makes the
    kernel reset the connection, and a reset can destroy the AR before the sender reads it."""
    with contextlib.suppress(Exception):
        if writer.can_write_eof():
            writer.write_eof()
    deadline = asyncio.get_running_loop().time() + seconds
    with contextlib.suppress(Exception):
        while (left := deadline - asyncio.get_running_loop().time()) > 0:
            if not await asyncio.wait_for(reader.read(CHUNK), left):
                return


def _peer(writer: asyncio.StreamWriter) -> Peer:
    address = writer.get_extra_info("peername")
    local = writer.get_extra_info("sockname")
    host = f"{address[0]}:{address[1]}" if isinstance(address, tuple) else str(address or "")
    endpoint = f"mllp://{local[0]}:{local[1]}" if isinstance(local, tuple) else "mllp"
    subject, serial = "", ""
    certificate = writer.get_extra_info("peercert")
    if certificate:
        subject = ",".join(f"{key}={value}" for rdn in certificate.get("subject", ())
                           for key, value in rdn)
        serial = str(certificate.get("serialNumber", ""))
    only = str(address[0]) if isinstance(address, tuple) else ""
    return Peer(host[:64], only[:64], subject[:256], serial[:64], endpoint[:256])


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(writer.wait_closed(), 5)
