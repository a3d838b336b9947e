"""The serving layer's rules in process: whose connection it is (per-client cap), what a
trusted proxy may say (forwarded headers), the order in which a full worker closes connections,
and where an answer waits (memory, spool, or nowhere). Over HTTP: test_hostile_transport.py."""

from __future__ import annotations

import pytest

from xds_server.serving import forwarded
from xds_server.serving.admission import BUSY, RECEIVING, WAITING, ConnectionTable
from xds_server.serving.budget import WorkerBudget
from xds_server.serving.limits import HttpLimits, client_key, parse_networks
from xds_server.serving.sending import SMALL_ANSWER, NoRoom, SpoolSlice, place
from xds_server.serving.wsgi_call import Answer


@pytest.mark.parametrize("address, key", [
    ("192.0.2.7", "192.0.2.7"),
    ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),      # any address of one /64: one client
    ("2001:db8:1:2:ffff::9", "2001:db8:1:2::/64"),
    ("::ffff:192.0.2.7", "192.0.2.7"),                    # IPv4 through an IPv6 socket
    ("", "local"),
])
def test_a_client_is_its_address_or_its_ipv6_64(address, key):
    assert client_key(address) == key


LIMITS = HttpLimits(trusted_proxies=parse_networks("10.0.0.0/24, 2001:db8::1"))


@pytest.mark.parametrize("peer, headers, expected", [
    # an untrusted peer: nothing it writes is believed
    ("192.0.2.7", {"HTTP_X_FORWARDED_FOR": "10.9.9.9", "HTTP_X_FORWARDED_PROTO": "https",
                   "HTTP_HOST": "evil.example"}, ("192.0.2.7", "http", "198.51.100.1:8080")),
    # a trusted proxy: the right-most address that is not a trusted proxy is the caller
    ("10.0.0.5", {"HTTP_X_FORWARDED_FOR": "6.6.6.6, 203.0.113.9, 10.0.0.8",
                  "HTTP_X_FORWARDED_PROTO": "https", "HTTP_X_FORWARDED_HOST": "xds.example"},
     ("203.0.113.9", "https", "xds.example")),
    # a trusted proxy with nonsense: what cannot be read is not taken
    ("10.0.0.5", {"HTTP_X_FORWARDED_FOR": "not-an-ip", "HTTP_X_FORWARDED_PROTO": "gopher",
                  "HTTP_HOST": "bad host/"}, ("10.0.0.5", "http", "198.51.100.1:8080")),
])
def test_forwarded_headers_only_from_a_trusted_proxy(peer, headers, expected):
    environ = {"REMOTE_ADDR": peer, "wsgi.url_scheme": "http",
               "xds.public_host": "198.51.100.1:8080", **headers}
    forwarded.apply(environ, LIMITS)
    assert (environ["REMOTE_ADDR"], environ["wsgi.url_scheme"],
            environ["xds.public_host"]) == expected


class _Connection:
    def __init__(self, name: str) -> None:
        self.name = name
        self.evicted = False

    def evict(self) -> None:
        self.evicted = True


def test_a_full_worker_closes_the_longest_waiting_then_the_slowest_body_never_a_busy_one():
    table = ConnectionTable(HttpLimits(max_connections=3, max_connections_per_client=2))
    a, b, c = _Connection("a"), _Connection("b"), _Connection("c")
    assert table.admit(a, "1", False) is None
    assert table.admit(b, "2", False) is None
    assert table.admit(c, "2", False) is None
    assert table.admit(_Connection("d"), "2", False) == \
        "too many connections from your address; try again"     # client 2's cap
    table.state(a, BUSY)
    table.state(b, RECEIVING)
    d = _Connection("d")
    assert table.admit(d, "3", False) is None and c.evicted       # the waiting one goes first
    table.state(d, BUSY)
    e = _Connection("e")
    assert table.admit(e, "3", False) is None and b.evicted       # then the body being received
    table.state(e, BUSY)
    assert table.admit(_Connection("f"), "4", False) == "too many connections; try again"
    assert not a.evicted and len(table) == 3
    assert table.admit(_Connection("g"), "2", True) == "too many connections; try again"
    table.state(a, WAITING)
    assert table.admit(_Connection("h"), "1", False) is None and a.evicted


def test_a_full_worker_cuts_the_crowd_not_the_client_with_one_connection():
    """Attack (round 2): idle connections from many addresses churned the worker so fast that
    a legitimate keep-alive connection, idle between requests, was the oldest and was cut. The
    victim is the oldest waiting connection of the address holding the most."""
    table = ConnectionTable(HttpLimits(max_connections=6, max_connections_per_client=4))
    probe = _Connection("probe")
    assert table.admit(probe, "10.0.0.250", False) is None            # the oldest of all
    crowd = {address: [_Connection(f"{address}-{n}") for n in range(2 + (address == "a"))]
             for address in ("a", "b")}
    for address, connections in crowd.items():
        for connection in connections:
            assert table.admit(connection, address, False) is None
    newcomers = [_Connection(f"c-{n}") for n in range(4)]
    for connection in newcomers:      # each evicts the oldest of whoever holds the most
        assert table.admit(connection, "c", False) is None
        assert not probe.evicted
    evicted = [c.name for c in [*crowd["a"], *crowd["b"], *newcomers] if c.evicted]
    assert evicted == ["a-0", "a-1", "b-0", "c-0"]       # c-3 came when c held the most


def test_an_answer_waits_in_memory_then_in_the_spool_then_nowhere(tmp_path):
    budget = WorkerBudget(max_buffer_bytes=100_000, max_spool_bytes=250_000,
                          spool_dir=tmp_path)
    first = place(Answer("200 OK", [], [b"x" * 90_000]), budget)
    assert budget.memory == 90_000 and isinstance(first.pieces[0], bytes)
    second = place(Answer("200 OK", [], [b"y" * 200_000]), budget)     # memory full: spooled
    assert isinstance(second.pieces[0], SpoolSlice) and budget.spool == 200_000
    with pytest.raises(NoRoom):
        place(Answer("200 OK", [], [b"z" * 200_000]), budget)
    small = place(Answer("200 OK", [], [b"s" * SMALL_ANSWER]), budget)   # always passes
    for placed in (first, second, small):
        placed.release()
    assert (budget.memory, budget.spool) == (0, 0)
