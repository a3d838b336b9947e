"""The WSGI response body: bytes and whole files, the files sent by sendfile(2) on the request's
socket when the server exposes one (gunicorn), read and yielded otherwise."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

from xds_server.soap.mime import FileSegment
from xds_server.soap.response_body import ResponseBody, kernel_file_sender


def _files(tmp_path, contents: list[bytes]) -> list[FileSegment]:
    segments = []
    for n, data in enumerate(contents):
        path = tmp_path / f"f{n}.bin"
        path.write_bytes(data)
        segments.append(FileSegment(path, len(data)))
    return segments


def _drain(sock: socket.socket, into: bytearray) -> None:
    while block := sock.recv(65536):
        into += block


def test_files_go_through_the_socket_in_message_order(tmp_path):
    big, empty, small = _files(tmp_path, [bytes(range(256)) * 4096, b"", b"tail-file"])
    server, client = socket.socketpair()
    received = bytearray()
    reader = threading.Thread(target=_drain, args=(client, received))
    reader.start()
    send_file = kernel_file_sender({"gunicorn.socket": server, "wsgi.url_scheme": "http"})
    assert send_file is not None
    body = ResponseBody([b"head;", big, b";mid;", empty, small, b";end"], send_file=send_file)
    for chunk in body:          # what the server writes of the iterable, it writes in turn
        server.sendall(chunk)
    server.close()
    reader.join(timeout=10)
    assert bytes(received) == (b"head;" + big.path.read_bytes() + b";mid;" + b"tail-file"
                               + b";end")


def test_a_file_before_any_bytes_is_yielded_not_sent():
    """Until the server has written the headers (with the first bytes), nothing may bypass it."""
    sent = []
    body = ResponseBody([FileSegment(Path(__file__), 10), b"x"],
                        send_file=sent.append)
    chunks = list(body)
    assert sent == [] and len(chunks[0]) > 0 and chunks[-1] == b"x"


def test_without_a_plain_socket_files_are_read(tmp_path):
    (segment,) = _files(tmp_path, [b"document bytes"])
    assert kernel_file_sender({}) is None
    with socket.socket() as plain:
        assert kernel_file_sender({"gunicorn.socket": plain, "wsgi.url_scheme": "https"}) is None
    closed = []
    body = ResponseBody([b"<", segment, b">"], on_close=lambda: closed.append(True))
    assert b"".join(body) == b"<document bytes>"
    body.close()
    assert closed == [True]
