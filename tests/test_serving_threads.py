"""The worker with XDS_THREADS > 0 (the application in a thread pool, not the event loop's
thread): answers, files sent from the loop, keep-alive, and slow clients cut as in the default."""

from __future__ import annotations

import os
import socket

import pytest

from xds_server.consumer.transport import SoapClient

from . import hostile
from .conftest import start_server, stop_server
from .test_http import echo_payload

pytestmark = pytest.mark.http   # every test here talks to a server over loopback


@pytest.fixture(scope="module")
def threaded(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("threads") / "var"
    env = {"XDS_PROFILE": "ihe", "XDS_SECURITY": "none", "XDS_THREADS": "2",
           "XDS_SPOOL_THRESHOLD_BYTES": "65536", "XDS_HEAD_TIMEOUT": "1"}
    process, url, _ = start_server(data_dir, env, workers=1)
    yield url
    stop_server(process)


def test_an_mtom_echo_round_trips_through_the_thread_pool(threaded):
    data = os.urandom(3 * 1024 * 1024)
    payload, binaries = echo_payload("é", [(data, "application/octet-stream")])
    reply = SoapClient(threaded + "/xds/registry").call(
        "urn:xds-server:2026:Echo", payload, binaries=binaries)
    [element] = list(reply.payload.iter("{*}Binary"))
    assert reply.binary(element) == data
    reply.close()


def test_keep_alive_and_a_slow_head_cut(threaded):
    with socket.create_connection(hostile.address(threaded), timeout=10) as sock:
        for _ in range(3):
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            assert sock.recv(65536).startswith(b"HTTP/1.1 200")
    with socket.create_connection(hostile.address(threaded), timeout=10) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 408")
