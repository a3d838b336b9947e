"""A small MLLP client: send messages one after the other on one connection, each answered by
its ACK (for `xds-server hl7 send`, demos and integrators)."""

from __future__ import annotations

import socket
import ssl

from .mllp import END, START, frame

MAX_ACK_BYTES = 1024 * 1024


class MllpClientError(Exception):
    """The server could not be reached or did not answer as MLLP."""


class MllpClient:
    def __init__(self, host: str, port: int, ssl_context: ssl.SSLContext | None = None,
                 timeout: float = 60.0) -> None:
        self.host, self.port = host, port
        try:
            raw = socket.create_connection((host, port), timeout=timeout)
        except OSError as exc:
            raise MllpClientError(f"cannot connect to {host}:{port}: {exc}") from None
        try:
            self.socket = ssl_context.wrap_socket(raw, server_hostname=host) \
                if ssl_context is not None else raw
        except (ssl.SSLError, OSError) as exc:
            raw.close()
            raise MllpClientError(f"TLS with {host}:{port} failed: {exc}") from None

    def send(self, message: bytes) -> bytes:
        """Send one message (segments separated by CR), return its ACK."""
        try:
            self.socket.sendall(frame(message))
            buffer = bytearray()
            while END not in buffer:
                chunk = self.socket.recv(65536)
                if not chunk:
                    raise MllpClientError("the server closed the connection without an ACK")
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
