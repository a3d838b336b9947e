"""MTOM framing properties: what the writer lays out, the streaming reader gives back, whatever
the read sizes, the content bytes (boundary look-alikes included) and the spool threshold."""

from __future__ import annotations

import io

from hypothesis import given, settings
from hypothesis import strategies as st

from xds_server.soap.attachments import Attachment
from xds_server.soap.mime import MultipartReader, parse_header_value, write_multipart


class TrickleStream(io.RawIOBase):
    """Returns at most `step` bytes per read, to split boundaries across reads."""

    def __init__(self, data: bytes, step: int) -> None:
        self._data = memoryview(data)
        self._step = step

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        n = self._step if n < 0 else min(n, self._step)
        out, self._data = bytes(self._data[:n]), self._data[n:]
        return out


part_bytes = st.one_of(
    st.binary(max_size=3000),
    st.sampled_from([b"", b"\r\n", b"--", b"\r\n--MIMEBoundary_", b"\r\n--\r\n--"]),
)


@settings(max_examples=150, deadline=None)
@given(contents=st.lists(part_bytes, max_size=5), step=st.integers(1, 4096),
       threshold=st.sampled_from([0, 16, 1 << 20]))
def test_write_then_read_is_identity(tmp_path_factory, contents, step, threshold):
    spool = tmp_path_factory.mktemp("spool")
    attachments = [Attachment.from_bytes(data, "application/octet-stream", f"p{i}@test")
                   for i, data in enumerate(contents)]
    body = write_multipart(b"<root/>", "application/xop+xml", "root@test", attachments,
                           "application/xop+xml", "application/soap+xml")
    raw = b"".join(body.chunks)
    assert len(raw) == body.length
    _, params = parse_header_value(body.content_type)
    parts = MultipartReader(TrickleStream(raw, step), params["boundary"], spool,
                            threshold).read_parts()
    assert [p.content_id for p in parts] == ["root@test"] + [a.content_id for a in attachments]
    assert parts[0].attachment.read_bytes() == b"<root/>"
    parts[0].attachment.close()
    for part, original in zip(parts[1:], attachments, strict=True):
        assert part.attachment.read_bytes() == original.read_bytes()
        assert part.attachment.sha1 == original.sha1
        assert part.attachment.size == original.size
        part.attachment.close()
    assert list(spool.iterdir()) == []


def test_header_parameters_with_quotes_and_case():
    media, params = parse_header_value(
        'Multipart/Related; BOUNDARY="a;b"; type="application/xop+xml"; start="<r@x>"; '
        'start-info="application/soap+xml"; action="urn:x"')
    assert media == "multipart/related"
    assert params == {"boundary": "a;b", "type": "application/xop+xml", "start": "<r@x>",
                      "start-info": "application/soap+xml", "action": "urn:x"}


def _with_headers(count: int) -> bytes:
    extra = "".join(f"X-H{n}: v\r\n" for n in range(count))
    return (b"--B\r\nContent-Type: application/xop+xml\r\nContent-ID: <root@test>\r\n"
            + extra.encode() + b"\r\n<root/>\r\n--B--\r\n")


def test_a_part_with_a_flood_of_headers_is_refused_and_only_known_headers_are_kept(tmp_path):
    """Attack (round 2): 9,999 parts of 600 tiny headers each kept every limit and held ~490 MB
    per worker in header dictionaries. A part has at most MAX_PART_HEADER_LINES header lines,
    and only the headers MTOM reads are kept."""
    import pytest

    from xds_server.soap.mime import MAX_PART_HEADER_LINES, MimeError

    [part] = MultipartReader(io.BytesIO(_with_headers(MAX_PART_HEADER_LINES - 2)), "B",
                             tmp_path, 1 << 20).read_parts()
    assert set(part.headers) == {"content-type", "content-id"}
    part.attachment.close()
    with pytest.raises(MimeError, match="header lines"):
        MultipartReader(io.BytesIO(_with_headers(600)), "B", tmp_path, 1 << 20).read_parts()
