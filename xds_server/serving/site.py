"""What the connections of one worker share: the application, its threads, the limits and
budgets, the table of connections, TLS."""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from .admission import ConnectionTable
from .budget import WorkerBudget
from .limits import HttpLimits

log = logging.getLogger("xds_server.serving")


@dataclass
class Site:
    app: Callable[..., Iterable[bytes]]
    loop: asyncio.AbstractEventLoop
    executor: ThreadPoolExecutor | None      # None: the application runs in the loop's thread
    limits: HttpLimits
    scheme: str = "http"
    log: logging.Logger = log
    alive: bool = True
    table: ConnectionTable = field(init=False)
    budget: WorkerBudget = field(init=False)

    def __post_init__(self) -> None:
        self.table = ConnectionTable(self.limits)
        self.budget = WorkerBudget(self.limits.max_buffer_bytes, self.limits.max_spool_bytes,
                                   self.limits.spool_dir)

    @property
    def connections(self) -> ConnectionTable:
        return self.table

    def client_certificate_environ(self, ssl_object: ssl.SSLObject) -> dict[str, str]:
        """mod_ssl's names for the verified client certificate: the subject's distinguished
        name (RFC 4514) and serial number (hex). Only a certificate the handshake verified
        against the configured authorities is there (`getpeercert()` is empty otherwise)."""
        return client_certificate_environ(ssl_object.getpeercert())


def distinguished_name(name: Any) -> str:
    """RFC 4514 string of the `subject` tuple that ssl.getpeercert() gives (most specific RDN
    first), e.g. 'CN=Client,O=Hôpital,C=FR'."""
    short = {"commonName": "CN", "organizationName": "O", "organizationalUnitName": "OU",
             "countryName": "C", "localityName": "L", "stateOrProvinceName": "ST",
             "streetAddress": "STREET", "domainComponent": "DC", "userId": "UID"}
    parts = []
    for rdn in reversed(name or ()):
        parts.append("+".join(f"{short.get(key, key)}={_escape_dn(value)}" for key, value in rdn))
    return ",".join(parts)


def _escape_dn(value: str) -> str:
    escaped = "".join("\\" + c if c in ',+"\\<>;=' else c for c in value)
    if escaped.startswith((" ", "#")):
        escaped = "\\" + escaped
    if escaped.endswith(" "):
        escaped = escaped[:-1] + "\\ "
    return escaped


def client_certificate_environ(certificate: dict | None) -> dict[str, str]:
    if not certificate:
        return {"SSL_CLIENT_VERIFY": "NONE", "HTTPS": "on"}
    return {"SSL_CLIENT_VERIFY": "SUCCESS", "HTTPS": "on",
            "SSL_CLIENT_S_DN": distinguished_name(certificate.get("subject")),
            "SSL_CLIENT_I_DN": distinguished_name(certificate.get("issuer")),
            "SSL_CLIENT_M_SERIAL": str(certificate.get("serialNumber", ""))}
