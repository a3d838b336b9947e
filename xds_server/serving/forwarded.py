"""Who called and which URL they called, as the audit and the WSDL record them.

A client chooses its Host and X-Forwarded-* headers, so they are believed only from the reverse
proxies named in `trusted_proxies` (empty by default): otherwise the audit's `endpoint` and the
WSDL's address would be whatever the caller wrote (`Host: trusted.example`,
`X-Forwarded-Proto: https` on a plain connection). Without a trusted proxy the URL is the
address and port of the socket the server accepted the connection on, and the caller is the
connection's peer. From a trusted proxy: the scheme from X-Forwarded-Proto, the host from
X-Forwarded-Host (else Host), and the caller is the right-most X-Forwarded-For address that is
not itself a trusted proxy (the left-most ones are the client's to write).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from .limits import HttpLimits

_HOST = re.compile(r"[A-Za-z0-9.-]{1,253}(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]{2,45}\](:[0-9]{1,5})?")


def socket_host(address: tuple | None) -> str:
    """'host:port' of a socket address, an IPv6 host in brackets."""
    if not address:
        return "localhost"
    host, port = address[0], address[1]
    return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"


def apply(environ: dict[str, Any], limits: HttpLimits) -> None:
    """Set `xds.public_host`, and from a trusted proxy `REMOTE_ADDR` and `wsgi.url_scheme`."""
    peer = environ.get("REMOTE_ADDR", "")
    if not limits.is_trusted_proxy(peer):
        return
    environ["xds.proxy_addr"] = peer
    proto = _last(environ.get("HTTP_X_FORWARDED_PROTO", "")).lower()
    if proto in ("http", "https"):
        environ["wsgi.url_scheme"] = proto
    host = _last(environ.get("HTTP_X_FORWARDED_HOST", "")) or environ.get("HTTP_HOST", "")
    if _HOST.fullmatch(host):
        environ["xds.public_host"] = host
    for hop in reversed(environ.get("HTTP_X_FORWARDED_FOR", "").split(",")):
        hop = hop.strip()
        if not _is_ip(hop):
            break
        environ["REMOTE_ADDR"] = hop
        if not limits.is_trusted_proxy(hop):
            break


def _last(value: str) -> str:
    """The value the nearest proxy added (headers repeated or comma-joined)."""
    return value.rsplit(",", 1)[-1].strip()


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
