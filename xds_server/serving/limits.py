"""What one connection, and all of a worker's together, may cost: sizes, deadlines, rates, counts
and budgets (from the settings).

Each rule names the attack it stops:
- the head (request line + headers) must be complete `head_timeout` seconds after the
  connection opened or the first byte of a kept-alive request: slow headers (slowloris);
- a body gets `body_timeout` seconds plus one second per `min_rate_bytes` received: a body sent
  a byte at a time (slow POST, R-U-Dead-Yet) is cut, a slow but honest link is not;
- an answer must be read at `min_send_rate_bytes` a second on average once `body_timeout` has
  passed, and be done within `max_send_seconds`: a client that reads nothing (slow read) is cut
  after about `body_timeout` seconds, one that reads a trickle cannot stretch a large answer to
  hours (at 2 KiB/s a 15 MB answer was held two hours);
- an idle kept-alive connection is closed after `keepalive_timeout`: idle sockets are not free;
- at most `max_connections_per_client` connections per client address (an IPv6 client by its
  /64), beyond a 503 at once: one client cannot take every slot of a worker (1,200 trickling
  connections from one address left /health 2 answers in 60);
- at most `max_connections` per worker; a new connection past it closes the connection that has
  waited longest for a request (idle or still sending its head, then still sending its body),
  else gets a 503: trickling connections from many addresses cannot lock honest clients out,
  since the oldest trickler goes first and an honest request is quick;
- the head is at most `max_head_bytes` and 100 header lines (431): memory of the parser;
- the body is at most `max_body_bytes`, spooled to disk beyond `spool_threshold`: memory;
- request bodies and answers held in memory for all of a worker's connections are at most
  `max_buffer_bytes`; past it they go to the spool directory, which holds at most
  `max_spool_bytes` of a worker's at once (a body that would pass it gets a 503 before it is
  read; an answer that fits neither is replaced by a 503): slow readers of large answers cannot
  pin memory (20 of them held 780 MB), nor slow senders of large bodies fill the disk.
"""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MAX_HEADER_LINES = 100
MIB = 1024 * 1024

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class HttpLimits:
    head_timeout: float = 10.0
    body_timeout: float = 20.0
    min_rate_bytes: int = 2048
    min_send_rate_bytes: int = 32 * 1024
    max_send_seconds: float = 600.0
    keepalive_timeout: float = 5.0
    max_connections: int = 500
    max_connections_per_client: int = 128
    max_head_bytes: int = 32 * 1024
    max_body_bytes: int = 64 * MIB
    spool_threshold: int = 1 * MIB
    spool_dir: Path | None = None
    max_buffer_bytes: int = 64 * MIB
    max_spool_bytes: int = 1024 * MIB
    trusted_proxies: tuple[Network, ...] = ()
    max_requests_per_connection: int = 10_000

    @classmethod
    def from_settings(cls, settings: Any) -> HttpLimits:
        return cls(head_timeout=settings.head_timeout, body_timeout=settings.body_timeout,
                   min_rate_bytes=max(1, settings.min_rate_bytes),
                   min_send_rate_bytes=max(1, settings.min_send_rate_bytes),
                   max_send_seconds=settings.max_send_seconds,
                   keepalive_timeout=settings.keepalive_timeout,
                   max_connections=max(1, settings.max_connections),
                   max_connections_per_client=max(1, settings.max_connections_per_client),
                   max_head_bytes=settings.max_head_bytes,
                   max_body_bytes=settings.max_request_bytes,
                   spool_threshold=settings.spool_threshold_bytes,
                   spool_dir=settings.spool_dir,
                   max_buffer_bytes=settings.max_buffer_bytes,
                   max_spool_bytes=settings.max_spool_bytes,
                   trusted_proxies=parse_networks(settings.trusted_proxies))

    def transfer_deadline(self, started: float, moved: int) -> float:
        """When a request body that began at `started` and moved `moved` bytes must be done."""
        return started + self.body_timeout + moved / self.min_rate_bytes

    def send_too_slow(self, elapsed: float, delivered: int) -> bool:
        """Whether an answer begun `elapsed` seconds ago, of which the client has taken
        `delivered` bytes, is cut."""
        if elapsed > self.max_send_seconds:
            return True
        return delivered < (elapsed - self.body_timeout) * self.min_send_rate_bytes

    def is_trusted_proxy(self, address: str) -> bool:
        if not self.trusted_proxies or not address:
            return False
        return _in_networks(address, self.trusted_proxies)


@functools.lru_cache(maxsize=4096)
def _in_networks(address: str, networks: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in network for network in networks)


def parse_networks(text: str) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(item.strip(), strict=False)
                 for item in text.split(",") if item.strip())


@functools.lru_cache(maxsize=4096)
def client_key(address: str) -> str:
    """Whose connection this is, for the per-client cap: the address, an IPv6 one by its /64
    (a single host usually holds a whole /64 and can pick any address in it)."""
    if not address:
        return "local"
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)
