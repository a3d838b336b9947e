"""Who may hold a worker's connections (limits.py says which attack each rule stops): at most
`max_connections_per_client` from one client, and when the worker is full, room made by closing
the connection that has waited longest for its request rather than refusing the new one.

Connections are kept in order of when they last started waiting (idle between requests or still
sending a head; then still sending a body), so the oldest is found at once: a flood of
connections costs the worker one accept and one close each.
"""

from __future__ import annotations

from typing import Protocol

from .limits import HttpLimits


class Evictable(Protocol):
    def evict(self) -> None: ...


WAITING, RECEIVING, BUSY = "waiting", "receiving", "busy"


class ConnectionTable:
    def __init__(self, limits: HttpLimits) -> None:
        self.limits = limits
        self.all: set = set()
        self.refused = 0
        self.evicted = 0
        self._client: dict[object, str] = {}
        self._per_client: dict[str, int] = {}
        # insertion-ordered: the first is the one that has waited longest
        self._waiting: dict[object, None] = {}
        self._receiving: dict[object, None] = {}

    def __len__(self) -> int:
        return len(self.all)

    def __iter__(self):
        return iter(list(self.all))

    def admit(self, connection: Evictable, client: str, trusted_proxy: bool) -> str | None:
        """Take `connection` in (state: waiting for its head); None, or why it is refused."""
        count = self._per_client.get(client, 0)
        if count >= self.limits.max_connections_per_client and not trusted_proxy:
            self.refused += 1
            return "too many connections from your address; try again"
        if len(self.all) >= self.limits.max_connections and not self._evict_one():
            self.refused += 1
            return "too many connections; try again"
        self.all.add(connection)
        self._client[connection] = client
        self._per_client[client] = count + 1
        self._waiting[connection] = None
        return None

    def _evict_one(self) -> bool:
        for queue in (self._waiting, self._receiving):
            if queue:
                victim = next(iter(queue))
                self.leave(victim)
                self.evicted += 1
                victim.evict()
                return True
        return False

    def state(self, connection: object, state: str) -> None:
        """The connection now waits for a request (WAITING), receives a body (RECEIVING) or
        is being served (BUSY: never evicted; its deadlines bound it)."""
        if connection not in self._client:
            return
        self._waiting.pop(connection, None)
        self._receiving.pop(connection, None)
        if state == WAITING:
            self._waiting[connection] = None
        elif state == RECEIVING:
            self._receiving[connection] = None

    def leave(self, connection: object) -> None:
        client = self._client.pop(connection, None)
        if client is None:
            return
        self.all.discard(connection)
        self._waiting.pop(connection, None)
        self._receiving.pop(connection, None)
        left = self._per_client[client] - 1
        if left:
            self._per_client[client] = left
        else:
            del self._per_client[client]
