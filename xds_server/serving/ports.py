"""Whether a port can be listened on, asked before a server starts: a port that is taken or
out of range is said in one line at once, not after gunicorn's retries or in a traceback from
each listener process."""

from __future__ import annotations

import socket


def listen_problem(host: str, port: int) -> str | None:
    """Why `host:port` cannot be listened on, or None."""
    if not 0 < port < 65536:
        return f"port {port} is not between 1 and 65535"
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as exc:
        return f"cannot listen on {host}:{port}: {exc.strerror or exc}"
    return None
