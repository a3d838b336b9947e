"""The WSGI response body: bytes and whole files, the files sent by sendfile(2) on the request's
socket when the server exposes one (gunicorn), read and yielded otherwise."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest

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


def _tcp_pair() -> tuple[socket.socket, socket.socket]:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname())
        server, _ = listener.accept()
    return server, client


def _corked(sock: socket.socket) -> bool:
    return bool(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_CORK))


_LINUX_CORK = pytest.mark.skipif(not hasattr(socket, "TCP_CORK"), reason="TCP_CORK is Linux's")


@_LINUX_CORK
def test_a_tcp_answer_is_corked_while_written_and_uncorked_at_its_end(tmp_path):
    """Headers, framing and file leave in full segments; nothing is held once it is written."""
    (segment,) = _files(tmp_path, [b"x" * 100_000])
    server, client = _tcp_pair()
    received = bytearray()
    reader = threading.Thread(target=_drain, args=(client, received))
    reader.start()
    send_file = kernel_file_sender({"gunicorn.socket": server, "wsgi.url_scheme": "http"})
    states = []
    body = ResponseBody([b"head;", segment, b";end"], send_file=send_file)
    for chunk in body:
        states.append(_corked(server))
        server.sendall(chunk)
    states.append(_corked(server))
    body.close()
    server.close()
    reader.join(timeout=10)
    assert states == [True, True, False]
    assert bytes(received) == b"head;" + b"x" * 100_000 + b";end"
    client.close()


@_LINUX_CORK
def test_an_answer_cut_short_is_uncorked_by_close(tmp_path):
    (segment,) = _files(tmp_path, [b"y" * 1000])
    server, client = _tcp_pair()
    body = ResponseBody([b"head;", segment, b";end"], send_file=kernel_file_sender(
        {"gunicorn.socket": server, "wsgi.url_scheme": "http"}))
    next(iter(body))            # the server gives up after the first chunk (client gone)
    assert _corked(server)
    body.close()
    assert not _corked(server)
    server.close()
    client.close()


def test_a_socket_with_a_timeout_still_gets_the_whole_file(tmp_path):
    (segment,) = _files(tmp_path, [bytes(range(256)) * 8192])   # 2 MiB: the buffer fills
    server, client = _tcp_pair()
    server.settimeout(10)
    received = bytearray()
    reader = threading.Thread(target=_drain, args=(client, received))
    reader.start()
    body = ResponseBody([b"<", segment, b">"], send_file=kernel_file_sender(
        {"gunicorn.socket": server, "wsgi.url_scheme": "http"}))
    for chunk in body:
        server.sendall(chunk)
    server.close()
    reader.join(timeout=10)
    assert bytes(received) == b"<" + segment.path.read_bytes() + b">"
    client.close()
