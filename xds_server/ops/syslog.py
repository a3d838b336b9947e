"""Syslog as an audit record repository receives it: RFC 5424 messages over TLS (RFC 5425,
octet-counted frames on one kept connection) or UDP (RFC 5426, one message per datagram).

Knows nothing of audits: `format_message` wraps a body, a sender ships a batch or raises
`OSError`, so its caller keeps the batch and tries again later. UDP has no acknowledgement: a
datagram sent while the receiver is down is reported only when the receiving host answers with
an ICMP "port unreachable", which a connected socket turns into an error on a later call; the
sender waits `confirm_seconds` after each batch to collect it (best effort: TLS is the transport
that loses nothing).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import re
import select
import socket
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

log = logging.getLogger("xds_server.atna")

BOM = b"\xef\xbb\xbf"              # RFC 5424 6.4: a UTF-8 MSG starts with the BOM
# facility 10 (security/authorization), severity 5 (notice): ITI TF-2 3.20.7.1
PRIORITY = 10 * 8 + 5
MSGID = "IHE+RFC-3881"            # ITI TF-2 3.20.7.1 (the DICOM form keeps this MSGID)
MAX_UDP_BYTES = 65_507            # the largest IPv4 UDP payload
_PRINTABLE = re.compile(r"[^\x21-\x7e]")


class ConfigurationError(ValueError):
    """An XDS_ATNA_URL or TLS option that cannot work, said at start-up."""


@dataclass(frozen=True)
class SyslogTarget:
    transport: str                 # "tls" or "udp"
    host: str
    port: int

    @classmethod
    def parse(cls, url: str) -> SyslogTarget:
        parts = urlsplit(url)
        if parts.scheme not in ("tls", "udp"):
            raise ConfigurationError(f"atna_url {url!r}: the scheme must be tls:// (RFC 5425) "
                                     "or udp:// (RFC 5426)")
        try:
            port = parts.port
        except ValueError:
            port = None
        if not parts.hostname or port is None or parts.path not in ("", "/"):
            raise ConfigurationError(f"atna_url {url!r}: expected {parts.scheme}://HOST:PORT "
                                     f"(e.g. {parts.scheme}://arr.example:"
                                     f"{6514 if parts.scheme == 'tls' else 514})")
        return cls(parts.scheme, parts.hostname, port)


def _field(value: str, limit: int) -> str:
    """A header field: printable US-ASCII, bounded, '-' when empty (RFC 5424 6.2)."""
    value = _PRINTABLE.sub("_", value)[:limit]
    return value or "-"


def host_name() -> str:
    """RFC 5424 HOSTNAME: the FQDN, else the host name. getfqdn() answers 'localhost' where
    /etc/hosts lists the host name on a loopback line (a receiver then cannot tell senders
    apart): that is not a name of this host to anyone else."""
    import socket

    fqdn = socket.getfqdn()
    if fqdn and not fqdn.startswith("localhost") and fqdn not in ("ip6-localhost",
                                                                  "ip6-loopback"):
        return fqdn
    return socket.gethostname() or "-"


def format_message(body: bytes, at: dt.datetime, hostname: str, app_name: str = "xds-server",
                   procid: str = "", msgid: str = MSGID) -> bytes:
    """One RFC 5424 message: header, no structured data, the body as UTF-8 MSG."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.UTC)
    stamp = at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    header = (f"<{PRIORITY}>1 {stamp} {_field(hostname, 255)} {_field(app_name, 48)} "
              f"{_field(procid or str(os.getpid()), 128)} {_field(msgid, 32)} - ")
    return header.encode("ascii") + BOM + body


class Sender(Protocol):
    def send(self, messages: Sequence[bytes]) -> None: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class TlsOptions:
    certfile: str = ""             # the client certificate ATNA node authentication asks for
    keyfile: str = ""
    ca_certs: str = ""             # the authorities of the repository's certificate


def tls_context(options: TlsOptions) -> ssl.SSLContext:
    """Mutual TLS as ATNA secure node authentication: the repository's certificate verified
    (against `ca_certs`, else the system's), its host name checked, ours presented."""
    try:
        context = ssl.create_default_context(cafile=options.ca_certs or None)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        if options.certfile:
            context.load_cert_chain(options.certfile, options.keyfile or None,
                                    _no_pass_phrase(options.keyfile or options.certfile))
    except (OSError, ssl.SSLError) as exc:
        raise ConfigurationError(f"ATNA TLS options: {exc}") from None
    return context


def _no_pass_phrase(keyfile: str) -> Callable[[], str]:
    """OpenSSL, given no password callback, asks an encrypted key's pass phrase on the
    terminal (outside test 19c, N7): refused instead."""
    def refuse() -> str:
        raise ConfigurationError(f"ATNA TLS options: {keyfile}: the private key is encrypted "
                                 "(protected by a pass phrase); it must be unencrypted, as the "
                                 "server reads it unattended")

    return refuse


class TlsSyslogSender:
    """RFC 5425: octet-counted frames on one connection, opened when needed, closed on error.

    RFC 5425 has no acknowledgement, and a write succeeds once the kernel has the bytes: a
    repository that went away is only noticed by reading. The repository never writes to us,
    so a readable connection is a closed one: checked before a batch (a connection the
    repository dropped is replaced, not written into) and `confirm_seconds` after it (a
    repository that died while taking it: the batch is sent again, at least once)."""

    def __init__(self, target: SyslogTarget, context: ssl.SSLContext,
                 timeout: float = 10.0, confirm_seconds: float = 0.05) -> None:
        self.target, self.context, self.timeout = target, context, timeout
        self.confirm_seconds = confirm_seconds
        self._socket: ssl.SSLSocket | None = None

    def _connected(self) -> ssl.SSLSocket:
        if self._socket is None:
            raw = socket.create_connection((self.target.host, self.target.port),
                                           timeout=self.timeout)
            try:
                self._socket = self.context.wrap_socket(raw, server_hostname=self.target.host)
            except BaseException:
                raw.close()
                raise
        return self._socket

    def send(self, messages: Sequence[bytes]) -> None:
        frames = b"".join(b"%d " % len(message) + message for message in messages)
        if self._socket is not None and _peer_closed(self._socket, self.timeout):
            self.close()
        try:
            connection = self._connected()
            connection.sendall(frames)
            time.sleep(self.confirm_seconds)
            if _peer_closed(connection, self.timeout):
                raise ConnectionResetError("the audit record repository closed the connection "
                                           "while taking the batch")
        except OSError:
            self.close()
            raise

    def close(self) -> None:
        if self._socket is not None:
            with contextlib.suppress(OSError):
                self._socket.close()
            self._socket = None


def _peer_closed(connection: ssl.SSLSocket, timeout: float) -> bool:
    readable, _, _ = select.select([connection], [], [], 0)
    if not readable:
        return False
    connection.settimeout(0)
    try:
        return connection.recv(1) == b""
    except ssl.SSLWantReadError:        # a TLS record of its own (a session ticket): open
        return False
    except OSError:
        return True
    finally:
        connection.settimeout(timeout)


class UdpSyslogSender:
    """RFC 5426: a datagram per message, on a connected socket (so that refusals come back)."""

    def __init__(self, target: SyslogTarget, confirm_seconds: float = 0.2) -> None:
        self.target, self.confirm_seconds = target, confirm_seconds
        self._socket: socket.socket | None = None

    def send(self, messages: Sequence[bytes]) -> None:
        if self._socket is None:
            family, kind, proto, _, address = socket.getaddrinfo(
                self.target.host, self.target.port, type=socket.SOCK_DGRAM)[0]
            self._socket = socket.socket(family, kind, proto)
            self._socket.connect(address)
        try:
            for message in messages:
                if len(message) > MAX_UDP_BYTES:
                    # no datagram can carry it: dropped from this transport, with its size said
                    log.error("audit message of %d bytes exceeds the UDP limit (%d): not sent "
                              "(it stays in the audit trail; use tls:// for large messages)",
                              len(message), MAX_UDP_BYTES)
                    continue
                self._socket.send(message)
            time.sleep(self.confirm_seconds)
            error = self._socket.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if error:
                raise OSError(error, os.strerror(error))
        except OSError:
            self.close()
            raise

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None


def sender_for(url: str, tls: TlsOptions) -> Sender:
    target = SyslogTarget.parse(url)
    if target.transport == "tls":
        return TlsSyslogSender(target, tls_context(tls))
    return UdpSyslogSender(target)
