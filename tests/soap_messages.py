"""Hand-made SOAP 1.2 messages for the tests: well-formed ones and every kind of broken one."""

from __future__ import annotations

import uuid

SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
WSA = "http://www.w3.org/2005/08/addressing"
XDSSRV = "urn:xds-server:2026"
ECHO_ACTION = "urn:xds-server:2026:Echo"


def envelope(body: str, action: str | None = ECHO_ACTION, message_id: str | None = "auto",
             extra_headers: str = "", declaration: bool = True) -> bytes:
    headers = []
    if action is not None:
        headers.append(f'<wsa:Action env:mustUnderstand="true">{action}</wsa:Action>')
    if message_id == "auto":
        message_id = f"urn:uuid:{uuid.uuid4()}"
    if message_id is not None:
        headers.append(f"<wsa:MessageID>{message_id}</wsa:MessageID>")
    text = (f'<env:Envelope xmlns:env="{SOAP12}" xmlns:wsa="{WSA}">'
            f"<env:Header>{''.join(headers)}{extra_headers}</env:Header>"
            f"<env:Body>{body}</env:Body></env:Envelope>")
    prefix = '<?xml version="1.0" encoding="UTF-8"?>\n' if declaration else ""
    return (prefix + text).encode("utf-8")


def echo_body(inner: str = "hello") -> str:
    return f'<x:Echo xmlns:x="{XDSSRV}">{inner}</x:Echo>'


def binary_element(cid: str, content_type: str = "application/octet-stream") -> str:
    return (f'<x:Binary contentType="{content_type}"><xop:Include '
            f'xmlns:xop="http://www.w3.org/2004/08/xop/include" href="cid:{cid}"/></x:Binary>')


def mtom(root: bytes, parts: list[tuple[str, bytes, str]], boundary: str = "MIME_boundary_42",
         start: str | None = "root.message@example.org", root_cid: str = "root.message@example.org",
         root_last: bool = False) -> tuple[bytes, str]:
    """A multipart/related MTOM body: root part and (content-id, bytes, content-type) parts."""
    root_type = 'application/xop+xml; charset=UTF-8; type="application/soap+xml"'
    all_parts = [(root_cid, root, root_type), *parts]
    if root_last:
        all_parts = all_parts[1:] + all_parts[:1]
    chunks = []
    for cid, data, content_type in all_parts:
        chunks += [f"--{boundary}\r\n".encode(),
                   f"Content-Type: {content_type}\r\n".encode(),
                   b"Content-Transfer-Encoding: binary\r\n",
                   f"Content-ID: <{cid}>\r\n\r\n".encode(), data, b"\r\n"]
    chunks.append(f"--{boundary}--\r\n".encode())
    start_param = f'; start="<{start}>"' if start else ""
    content_type = (f'multipart/related; type="application/xop+xml"; boundary="{boundary}"'
                    f'{start_param}; start-info="application/soap+xml"')
    return b"".join(chunks), content_type


XXE = (b'<?xml version="1.0"?>\n<!DOCTYPE env:Envelope [ <!ENTITY xxe SYSTEM '
       b'"file:///etc/passwd"> ]>\n' + envelope(echo_body("&xxe;"), declaration=False))

BILLION_LAUGHS = (
    b'<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n'
    + b"".join(
        f' <!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">\n'.encode()
        for i in range(1, 10))
    + b"]>\n" + envelope(echo_body("&lol9;"), declaration=False)
)
