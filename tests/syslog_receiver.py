"""Audit record repositories for the tests: syslog receivers over TLS (RFC 5425, octet-counted
frames, client certificate required) and UDP (RFC 5426), on a fixed loopback port so that they
can be stopped (an outage) and started again (recovery) where the server expects them."""

from __future__ import annotations

import contextlib
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable

from lxml import etree

from .conftest import free_port

HEADER = re.compile(rb"<(\d+)>1 (\S+) (\S+) (\S+) (\S+) (\S+) (-|\[.*?\]) ")
BOM = b"\xef\xbb\xbf"


class Received:
    def __init__(self) -> None:
        self.messages: list[bytes] = []
        self.lock = threading.Lock()

    def add(self, message: bytes) -> None:
        with self.lock:
            self.messages.append(message)

    def audit_messages(self) -> list[etree._Element]:
        """Each message's DICOM AuditMessage (the MSG after the header and its BOM)."""
        with self.lock:
            messages = list(self.messages)
        out = []
        for message in messages:
            header = HEADER.match(message)
            assert header, message[:120]
            body = message[header.end():]
            assert body.startswith(BOM)
            out.append(etree.fromstring(body[len(BOM):]))
        return out

    def request_ids(self) -> list[str]:
        return [object_id for message in self.audit_messages()
                for object_id in message.xpath(
                    "ParticipantObjectIdentification[@ParticipantObjectTypeCodeRole='13']"
                    "/@ParticipantObjectID")]

    def wait_for(self, condition: Callable[[Received], bool], seconds: float = 20.0) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if condition(self):
                return True
            time.sleep(0.05)
        return condition(self)


class TlsReceiver(Received):
    """RFC 5425 receiver; `context` is its server context (it asks for a client certificate)."""

    def __init__(self, context: ssl.SSLContext, port: int | None = None) -> None:
        super().__init__()
        self.context = context
        self.port = port or free_port()
        self.handshake_failures = 0
        self._listener: socket.socket | None = None
        self._connections: list[socket.socket] = []

    def start(self) -> TlsReceiver:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen()
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def _accept(self, listener: socket.socket) -> None:
        # a blocked accept() would keep a closed listener's port open: poll with a timeout
        listener.settimeout(0.05)
        while self._listener is listener:
            try:
                raw, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            raw.settimeout(None)
            try:
                connection = self.context.wrap_socket(raw, server_side=True)
            except (OSError, ssl.SSLError):
                self.handshake_failures += 1
                raw.close()
                continue
            self._connections.append(connection)
            threading.Thread(target=self._read, args=(connection,), daemon=True).start()

    def _read(self, connection: ssl.SSLSocket) -> None:
        buffer = b""
        with contextlib.suppress(OSError):
            while chunk := connection.recv(65536):
                buffer += chunk
                while b" " in buffer[:12]:
                    length, _, rest = buffer.partition(b" ")
                    if len(rest) < int(length):
                        break
                    self.add(rest[:int(length)])
                    buffer = rest[int(length):]

    def stop(self) -> None:
        """An outage: the port refuses connections, the open ones are cut."""
        listener, self._listener = self._listener, None
        if listener is not None:
            time.sleep(0.1)         # the accepting thread sees it is stopped
            listener.close()
        for connection in self._connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
            connection.close()
        self._connections.clear()


class UdpReceiver(Received):
    def __init__(self, port: int | None = None) -> None:
        super().__init__()
        self.port = port or free_port()
        self._socket: socket.socket | None = None

    def start(self) -> UdpReceiver:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        self._socket = sock
        threading.Thread(target=self._read, args=(sock,), daemon=True).start()
        return self

    def _read(self, sock: socket.socket) -> None:
        sock.settimeout(0.05)
        with contextlib.suppress(OSError):
            while self._socket is sock:
                try:
                    data, _ = sock.recvfrom(65536)
                except TimeoutError:
                    continue
                self.add(data)

    def stop(self) -> None:
        sock, self._socket = self._socket, None
        if sock is not None:
            time.sleep(0.1)         # the reading thread sees it is stopped
            sock.close()
