"""Who may hold a worker's connections (limits.py says which attack each rule stops): at most
`max_connections_per_client` from one client, and when the worker is full, room made by closing
a connection that waits for its request rather than refusing the new one: the one that has
waited longest *of the client holding the most connections*. Attack stopped (round 2): 2,000
idle connections from 20 addresses churned the worker's room so fast that a legitimate client's
keep-alive connection, idle between two requests, became the oldest and was cut (34 of 156
probes reset); now a client with few connections keeps them while any address holds more.

Connections are kept per client in order of when they last started waiting (idle between
requests or still sending a head; then still sending a body), so the victim is found in one
pass over the clients that wait (at most max_connections of them).
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
        # state → client → its connections in that state, insertion-ordered: the first is the
        # one that has waited longest
        self._queues: dict[str, dict[str, dict[object, None]]] = {WAITING: {}, RECEIVING: {}}

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
        self._enqueue(connection, client, WAITING)
        return None

    def _evict_one(self) -> bool:
        for by_client in self._queues.values():
            if by_client:
                client = max(by_client, key=self._per_client.__getitem__)
                victim = next(iter(by_client[client]))
                self.leave(victim)
                self.evicted += 1
                victim.evict()
                return True
        return False

    def _enqueue(self, connection: object, client: str, state: str) -> None:
        self._queues[state].setdefault(client, {})[connection] = None

    def _dequeue(self, connection: object, client: str) -> None:
        for by_client in self._queues.values():
            queue = by_client.get(client)
            if queue is not None and connection in queue:
                del queue[connection]
                if not queue:
                    del by_client[client]
                return

    def state(self, connection: object, state: str) -> None:
        """The connection now waits for a request (WAITING), receives a body (RECEIVING) or
        is being served (BUSY: never evicted; its deadlines bound it)."""
        client = self._client.get(connection)
        if client is None:
            return
        self._dequeue(connection, client)
        if state in self._queues:
            self._enqueue(connection, client, state)

    def leave(self, connection: object) -> None:
        client = self._client.pop(connection, None)
        if client is None:
            return
        self.all.discard(connection)
        self._dequeue(connection, client)
        left = self._per_client[client] - 1
        if left:
            self._per_client[client] = left
        else:
            del self._per_client[client]
