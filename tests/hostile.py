"""Hostile requests, one function per class of attack (issue 13, findings 9 and 10 and the list of
what held), shared by tests/test_hostile_http.py (short variants) and bench/hostile.py (long and
heavy ones). Each builds raw bytes, so nothing a client library would tidy up is tidied."""

from __future__ import annotations

import contextlib
import os
import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

from .soap_messages import ECHO_ACTION, binary_element, echo_body, envelope, mtom

SOAP = "application/soap+xml; charset=UTF-8"


def address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 80


def request(url: str, path: str, body: bytes, content_type: str = SOAP,
            extra: str = "") -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: {urlsplit(url).netloc}\r\nContent-Type: "
            f"{content_type}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n{extra}\r\n"
            ).encode() + body


def exchange(url: str, data: bytes, timeout: float = 30.0) -> tuple[int, bytes]:
    """Send `data`, read until the server closes; (status, whole answer). (0, b"") if the server
    closed without answering."""
    with socket.create_connection(address(url), timeout=timeout) as sock:
        # the server may answer and close while we are still sending: then read its answer
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(data)
        chunks = []
        try:
            while block := sock.recv(65536):
                chunks.append(block)
        except ConnectionResetError:
            pass
    answer = b"".join(chunks)
    if not answer.startswith(b"HTTP/1."):
        return 0, answer
    return int(answer.split(b" ", 2)[1]), answer


def post(url: str, path: str, body: bytes, content_type: str = SOAP) -> tuple[int, bytes]:
    return exchange(url, request(url, path, body, content_type))


# -- XML the parser must refuse or keep inert -----------------------------------------------------
def _doctype(declarations: str, body: str) -> bytes:
    return (f'<?xml version="1.0"?>\n<!DOCTYPE env:Envelope [ {declarations} ]>\n').encode() + \
        envelope(echo_body(body), declaration=False)


XML_ATTACKS: dict[str, bytes] = {
    "xxe": _doctype('<!ENTITY x SYSTEM "file:///etc/passwd">', "&x;"),
    "parameter-entity": _doctype('<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;', "x"),
    "external-dtd": b'<?xml version="1.0"?>\n<!DOCTYPE env:Envelope SYSTEM '
                    b'"http://127.0.0.1:9/evil.dtd">\n' + envelope(echo_body("x"),
                                                                    declaration=False),
    "billion-laughs": _doctype(
        '<!ENTITY a "lol">' + "".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">'
                                       for i in range(9)), "&j;"),
    "quadratic-blowup": _doctype(f'<!ENTITY a "{"x" * 50000}">', "&a;" * 20000),
    "deep-nesting-100k": envelope(echo_body("<a>" * 100_000 + "</a>" * 100_000)),
    "deep-nesting-300": envelope(echo_body("<a>" * 300 + "</a>" * 300)),
    "ebcdic": envelope(echo_body("x")).replace(b"UTF-8", b"cp500").decode().encode("cp500"),
    "declared-ebcdic": envelope(echo_body("x")).replace(b"UTF-8", b"IBM037"),
    "utf-32": envelope(echo_body("x")).replace(b"UTF-8", b"UTF-32").decode().encode("utf-32"),
    "invalid-utf8": envelope(echo_body("\u00e9")).replace(b"\xc3\xa9", b"\xc3\x28"),
    # XML 1.0 Appendix F: a declaration contradicting the BOM (outside test 19b, F7)
    "bom-contradicts-declaration": b"\xef\xbb\xbf" + envelope(echo_body("\u00e9")).replace(
        b"UTF-8", b"ISO-8859-1", 1),
    # UCS-4 without a BOM, and a UTF-16 byte order the declaration contradicts (19c, N6)
    "utf-32-no-bom": envelope(echo_body("x")).decode().encode("utf-32-le"),
    "utf-16-order-contradicts-bom": b"\xff\xfe" + envelope(echo_body("x")).replace(
        b"UTF-8", b"UTF-16BE", 1).decode().encode("utf-16-le"),
}

# What each XML attack must get: status and the fault subcode.
XML_EXPECTED: dict[str, tuple[int, str]] = {
    "xxe": (400, "UnsafeXml"), "parameter-entity": (400, "UnsafeXml"),
    "external-dtd": (400, "UnsafeXml"), "billion-laughs": (400, "UnsafeXml"),
    "quadratic-blowup": (400, "UnsafeXml"), "deep-nesting-100k": (413, "XmlTooLarge"),
    "deep-nesting-300": (400, "MalformedXml"), "ebcdic": (400, "UnsupportedEncoding"),
    "declared-ebcdic": (400, "UnsupportedEncoding"), "utf-32": (400, "UnsupportedEncoding"),
    "invalid-utf8": (400, "MalformedXml"), "bom-contradicts-declaration": (400,
                                                                           "UnsupportedEncoding"),
    "utf-32-no-bom": (400, "UnsupportedEncoding"),
    "utf-16-order-contradicts-bom": (400, "UnsupportedEncoding"),
}

XINCLUDE = envelope(echo_body(
    '<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="file:///etc/passwd" '
    'parse="text"/>'))


def element_flood(count: int) -> bytes:
    return envelope(echo_body("<a/>" * count))


def attribute_flood(count: int) -> bytes:
    return envelope(echo_body("<a " + " ".join(f'a{i}=""' for i in range(count)) + "/>"))


def envelope_of(size: int) -> bytes:
    """A well-formed Echo of about `size` bytes: text in elements of 8 MB at most (libxml2
    refuses a text node over 10 MB)."""
    room = max(0, size - len(envelope(echo_body(""))))
    chunk = 8_000_000
    pieces = [f"<t>{'x' * min(chunk, room - n)}</t>" for n in range(0, room, chunk + 7)]
    return envelope(echo_body("".join(pieces)))


def repeated_part(times: int, part: bytes = b"\x00" * 100_000) -> tuple[bytes, str]:
    """An MTOM Echo whose one part is named `times` times: an answer `times` the part."""
    root = envelope(echo_body(binary_element("p@x") * times))
    return mtom(root, [("p@x", part, "application/octet-stream")])


MTOM_ATTACKS: dict[str, tuple[bytes, str]] = {
    "no-closing-boundary": (lambda b, t: (b[:-len(b"--MIME_boundary_42--\r\n")], t))(
        *mtom(envelope(echo_body(binary_element("a@x"))), [("a@x", b"data", "text/plain")])),
    "missing-part": mtom(envelope(echo_body(binary_element("nowhere@x"))), []),
    "unknown-start": mtom(envelope(echo_body("x")), [], start="nobody@x"),
    "no-boundary": (b"--x\r\n\r\n", 'multipart/related; type="application/xop+xml"'),
    "include-with-text": mtom(envelope(echo_body(
        '<x:Binary xmlns:x="urn:xds-server:2026">text<xop:Include '
        'xmlns:xop="http://www.w3.org/2004/08/xop/include" href="cid:a@x"/></x:Binary>')),
        [("a@x", b"data", "text/plain")]),
}


# -- the connection level -------------------------------------------------------------------------
def declared_huge(url: str, size: int = 200 * 1024 * 1024) -> tuple[int, float]:
    """Announce `size` bytes, send none: (status, seconds to the answer)."""
    head = (f"POST /xds/registry HTTP/1.1\r\nHost: x\r\nContent-Type: {SOAP}\r\n"
            f"Content-Length: {size}\r\n\r\n").encode()
    started = time.monotonic()
    status, _ = exchange(url, head)
    return status, time.monotonic() - started


def silent_connections(url: str, count: int) -> list[socket.socket]:
    return [socket.create_connection(address(url), timeout=5) for _ in range(count)]


def worker_pids(master: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{master}/task/{master}/children").read_text().split()]


def memory_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise LookupError(f"no {field} for {pid}")


def reset_peak(pid: int) -> int:
    """Reset the peak RSS of `pid` (Linux clear_refs 5); returns the current RSS in KiB."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")
    return memory_kib(pid, "VmRSS")


__all__ = ["ECHO_ACTION"]


# -- slow readers and crowds (problems found after the serving layer was built) -------------------
def slow_readers(url: str, data: bytes, count: int, source: str = "",
                 window: int = 4096) -> list[socket.socket]:
    """`count` connections that each send `data` (a request) and read nothing, with a receive
    buffer of `window` bytes: the answers wait in the server."""
    held = []
    for _ in range(count):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, window)
        if source:
            sock.bind((source, 0))
        sock.settimeout(10)
        sock.connect(address(url))
        with contextlib.suppress(OSError):
            sock.sendall(data)
        held.append(sock)
    return held


def connect_from(url: str, source: str, timeout: float = 5.0) -> socket.socket:
    """A connection from another loopback address (127.0.0.2, …): another client."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    sock.bind((source, 0))
    sock.connect(address(url))
    return sock


def get_from(url: str, path: str, source: str = "", timeout: float = 5.0,
             extra: str = "") -> tuple[int, bytes]:
    """GET `path` on a new connection (from `source` when given): (status, whole answer)."""
    data = (f"GET {path} HTTP/1.1\r\nHost: {urlsplit(url).netloc}\r\n{extra}"
            "Connection: close\r\n\r\n").encode()
    sock = connect_from(url, source or "127.0.0.1", timeout)
    with sock:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(data)
        chunks = []
        with contextlib.suppress(ConnectionResetError):
            while block := sock.recv(65536):
                chunks.append(block)
    answer = b"".join(chunks)
    return (int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.") else 0), answer


def spool_bytes(pid: int) -> int:
    """Bytes of the unlinked spool files `pid` holds open (request bodies, answers, parts)."""
    total = 0
    fds = Path(f"/proc/{pid}/fd")
    for fd in fds.iterdir():
        try:
            target = os.readlink(fd)
            if "/spool/" in target:
                total += os.stat(fd).st_size
        except OSError:
            continue
    return total
