"""`conformance run` against an endpoint that accepts and never answers (issue 18, outsider
minor 5): it ended as "internal error: Unreachable … (a bug)"; it is a stop line, nothing run."""

from __future__ import annotations

import socket

from xds_server.cli_errors import describe
from xds_server.conformance.exchange import Endpoints, Unreachable
from xds_server.conformance.preflight import preflight


class _Patients:
    can_feed = False

    def new(self) -> str:
        return "P1^^^&1.2.3&ISO"

    def ensure_fed(self, patient: str) -> None:
        return None


def test_a_silent_registry_stops_the_run_before_anything():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    try:
        endpoints = Endpoints(f"http://127.0.0.1:{listener.getsockname()[1]}/xds/registry",
                              None, timeout=0.5)
        checked = preflight(endpoints, _Patients())
    finally:
        listener.close()
    assert checked.stop.startswith("cannot reach http://127.0.0.1:")
    assert "timed out" in checked.stop


def test_an_unreachable_endpoint_is_not_called_a_bug():
    text = describe(Unreachable("http://h:1/xds/registry: timed out"))
    assert "internal error" not in text and "stopped answering" in text
