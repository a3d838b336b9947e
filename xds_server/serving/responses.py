"""The bytes of the server's own answers and of an answer's head."""

from __future__ import annotations

import email.utils
import time

from .wsgi_call import Answer, RequestHead

_HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length",
                         "upgrade", "proxy-connection", "te", "trailer"})
_REASONS = {400: "Bad Request", 408: "Request Timeout", 413: "Content Too Large",
            414: "URI Too Long", 431: "Request Header Fields Too Large",
            500: "Internal Server Error", 501: "Not Implemented",
            503: "Service Unavailable"}
RETRY_AFTER_SECONDS = 5


def plain_response(status: int, text: str) -> bytes:
    """A complete answer of the server's own, after which the connection closes. A 503 says
    when to come back (the budgets free as slow clients are cut)."""
    body = (text + "\n").encode()
    retry = f"Retry-After: {RETRY_AFTER_SECONDS}\r\n" if status == 503 else ""
    return (f"HTTP/1.1 {status} {_REASONS[status]}\r\nContent-Type: text/plain; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\n{retry}Connection: close\r\n\r\n").encode() + body


def answer_head(answer: Answer, head: RequestHead, length: int, keep: bool) -> bytes:
    lines = [f"HTTP/1.1 {answer.status}\r\n"]
    for name, value in answer.headers:
        if name.lower() not in _HOP_BY_HOP:
            lines.append(f"{name}: {value}\r\n")
    lines.append(f"Content-Length: {length}\r\nDate: {_http_date()}\r\n")
    if not keep:
        lines.append("Connection: close\r\n")
    elif head.version == "1.0":
        lines.append("Connection: keep-alive\r\n")
    lines.append("\r\n")
    return "".join(lines).encode("latin-1")


_date_cache: tuple[int, str] = (0, "")


def _http_date() -> str:
    global _date_cache
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache = (now, email.utils.formatdate(now, usegmt=True))
    return _date_cache[1]
