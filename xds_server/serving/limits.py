"""What one connection may cost a worker: sizes, deadlines, rates, counts (from the settings).

Each rule names the attack it stops:
- the head (request line + headers) must be complete `head_timeout` seconds after the
  connection opened or the first byte of a kept-alive request: slow headers (slowloris);
- a body gets `body_timeout` seconds plus one second per `min_rate_bytes` received: a body sent
  a byte at a time (slow POST, R-U-Dead-Yet) is cut, a slow but honest link is not;
- an answer gets the same allowance for the bytes it sends: a client that does not read
  (slow read) cannot hold a connection and its buffers for ever;
- an idle kept-alive connection is closed after `keepalive_timeout`: idle sockets are not free;
- at most `max_connections` per worker; beyond, a 503 is written and the socket closed at once,
  without reading: a flood of connections costs the server one accept and one write each;
- the head is at most `max_head_bytes` and 100 header lines (431): memory of the parser;
- the body is at most `max_body_bytes`, spooled to disk beyond `spool_threshold`: memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

MAX_HEADER_LINES = 100


@dataclass(frozen=True)
class HttpLimits:
    head_timeout: float = 10.0
    body_timeout: float = 20.0
    min_rate_bytes: int = 2048
    keepalive_timeout: float = 5.0
    max_connections: int = 500
    max_head_bytes: int = 32 * 1024
    max_body_bytes: int = 64 * 1024 * 1024
    spool_threshold: int = 1024 * 1024
    spool_dir: Path | None = None
    max_requests_per_connection: int = 10_000

    @classmethod
    def from_settings(cls, settings: Any) -> HttpLimits:
        return cls(head_timeout=settings.head_timeout, body_timeout=settings.body_timeout,
                   min_rate_bytes=max(1, settings.min_rate_bytes),
                   keepalive_timeout=settings.keepalive_timeout,
                   max_connections=max(1, settings.max_connections),
                   max_head_bytes=settings.max_head_bytes,
                   max_body_bytes=settings.max_request_bytes,
                   spool_threshold=settings.spool_threshold_bytes,
                   spool_dir=settings.spool_dir)

    def transfer_deadline(self, started: float, moved: int) -> float:
        """When a transfer that began at `started` and moved `moved` bytes must be done by."""
        return started + self.body_timeout + moved / self.min_rate_bytes
