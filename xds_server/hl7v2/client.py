"""A small MLLP client: send messages one after the other on one connection, each answered by
its ACK (for `xds-server hl7 send`, demos and integrators)."""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

from .er7 import Er7Error, parse
from .mllp import END, START, frame

MAX_ACK_BYTES = 1024 * 1024
MAX_MESSAGE_BYTES = 20 * 1024 * 1024    # the listener's default (XDS_MLLP_MAX_MESSAGE_BYTES)
_TEXT_CONTROLS = {9, 10, 13}            # tab and line breaks: any other control byte is binary


def read_message(path: Path, limit: int = MAX_MESSAGE_BYTES) -> bytes:
    """The message in `path` as it goes on the wire, or ValueError saying why the file is not
    one HL7 v2 message. Checked before anything is sent, because the peer is on the network:
    `hl7 send /etc/shadow --to host:port` sent the password file in clear (issue 18, M3). The
    file must be a regular file of at most `limit` bytes (not /dev/zero, not a FIFO), text
    without control bytes, and exactly one message as the listener reads it: MSH first, its
    separator and encoding characters, segments of a 3-character id (the server's parser)."""
    if not path.is_file():
        raise ValueError("not a regular file")
    with path.open("rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"larger than {limit} bytes: not one HL7 v2 message")
    if not data.strip():
        raise ValueError("empty: not an HL7 v2 message")
    if any(byte < 32 and byte not in _TEXT_CONTROLS for byte in data) or 127 in data:
        raise ValueError("binary content: an HL7 v2 message is text")
    message = as_message(data)
    if not message.startswith(b"MSH"):
        raise ValueError("does not start with an MSH segment: not an HL7 v2 message")
    try:
        parse(message)
    except Er7Error as exc:
        where = f" (at {exc.location})" if exc.location else ""
        raise ValueError(f"not an HL7 v2 message the listener reads: {exc}{where}") from None
    headers = sum(1 for segment in message.split(b"\r") if segment.startswith(b"MSH"))
    if headers > 1:
        raise ValueError(f"holds {headers} messages (MSH segments): give one message per file")
    return message


class MllpClientError(Exception):
    """The server could not be reached or did not answer as MLLP."""


# A message's whole time, in timeouts, as the SOAP client's (consumer/transport.py): the
# timeout bounds a wait for one byte, so a peer sending one byte now and then held `hl7 send`
# for hours (issue 18, outsider F2).
DEADLINE_FACTOR = 10


class MllpClient:
    """One connection; each step (connecting with its TLS handshake, each message and its
    ACK) ends within DEADLINE_FACTOR × `timeout`, however the peer trickles its bytes."""

    def __init__(self, host: str, port: int, ssl_context: ssl.SSLContext | None = None,
                 timeout: float = 60.0) -> None:
        self.host, self.port = host, port
        self.deadline = timeout * DEADLINE_FACTOR
        try:
            raw = socket.create_connection((host, port), timeout=timeout)
        except OSError as exc:
            raise MllpClientError(f"cannot connect to {host}:{port}: {exc}") from None
        try:
            with self._within(raw, "the TLS handshake"):
                self.socket = ssl_context.wrap_socket(raw, server_hostname=host) \
                    if ssl_context is not None else raw
        except (ssl.SSLError, OSError) as exc:
            raw.close()
            raise MllpClientError(f"TLS with {host}:{port} failed: {exc}") from None
        except MllpClientError:
            raw.close()
            raise

    @contextlib.contextmanager
    def _within(self, sock: socket.socket, what: str) -> Iterator[None]:
        """Cut `sock` (the blocked read returns) when the step is past its deadline."""
        cut = threading.Event()

        def stop() -> None:
            cut.set()
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

        timer = threading.Timer(self.deadline, stop)
        timer.daemon = True
        timer.start()
        try:
            yield
        except (OSError, MllpClientError):
            if cut.is_set():
                raise MllpClientError(
                    f"{self.host}:{self.port}: {what} did not complete within "
                    f"{self.deadline:g} s ({DEADLINE_FACTOR} times the timeout): the peer "
                    "sends too slowly, or never ends") from None
            raise
        finally:
            timer.cancel()

    def send(self, message: bytes) -> bytes:
        """Send one message (segments separated by CR), return its ACK."""
        try:
            with self._within(self.socket, "the ACK"):
                self.socket.sendall(frame(message))
                buffer = bytearray()
                while END not in buffer:
                    chunk = self.socket.recv(65536)
                    if not chunk:
                        raise MllpClientError("the server closed the connection without an "
                                              "ACK")
                    buffer += chunk
                    if len(buffer) > MAX_ACK_BYTES:
                        raise MllpClientError("the answer is over 1 MiB: not an ACK")
        except (OSError, ssl.SSLError) as exc:
            raise MllpClientError(f"{self.host}:{self.port}: {exc}") from None
        start = buffer.find(START)
        return bytes(buffer[start + 1 if start >= 0 else 0:buffer.find(END)])

    def close(self) -> None:
        self.socket.close()

    def __enter__(self) -> MllpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def as_message(data: bytes) -> bytes:
    """A message file as it goes on the wire: segments separated by CR (files often use LF)."""
    lines = [line for line in data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
             if line.strip()]
    return b"\r".join(lines) + b"\r"
