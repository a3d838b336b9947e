"""TLS for the server and the consumer: TLS 1.2 and 1.3 only, mutual where asked.

The DMP authenticates the calling system by its certificate (IGC Santé) and the person by the
VIHF; `client_cert=required` refuses, during the handshake, any client without a certificate
signed by one of `ca_certs`.
"""

from __future__ import annotations

import ssl
from pathlib import Path

from ..config import ConfigError, no_pass_phrase

CLIENT_CERT_MODES = {"required": ssl.CERT_REQUIRED, "optional": ssl.CERT_OPTIONAL,
                     "none": ssl.CERT_NONE}


def _versions(context: ssl.SSLContext) -> ssl.SSLContext:
    context.minimum_version = ssl.TLSVersion.TLSv1_2   # 1.0 and 1.1 are broken (RFC 8996)
    context.maximum_version = ssl.TLSVersion.TLSv1_3
    context.options |= ssl.OP_NO_COMPRESSION           # CRIME
    return context


def server_context(certfile: str, keyfile: str, ca_certs: str = "",
                   client_cert: str = "none") -> ssl.SSLContext:
    """The server's context; ConfigError names the setting that cannot be used."""
    for name, value in (("certfile", certfile), ("keyfile", keyfile)):
        if not value or not Path(value).is_file():
            raise ConfigError(f"{name}: {value or '(empty)'} is not a file; HTTPS needs "
                              "XDS_CERTFILE and XDS_KEYFILE")
    if client_cert != "none" and not (ca_certs and Path(ca_certs).is_file()):
        raise ConfigError(f"client_cert={client_cert} needs ca_certs (XDS_CA_CERTS): the PEM "
                          "file of the authorities whose client certificates are accepted")
    context = _versions(ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER))
    try:
        context.load_cert_chain(certfile, keyfile, no_pass_phrase(keyfile, "keyfile"))
        if ca_certs:
            context.load_verify_locations(cafile=ca_certs)
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError(f"certfile/keyfile/ca_certs: cannot load: {exc}") from None
    context.verify_mode = CLIENT_CERT_MODES[client_cert]
    return context


def client_context(cafile: str | None = None, certfile: str | None = None,
                   keyfile: str | None = None) -> ssl.SSLContext:
    """The consumer's context: the server verified (against `cafile`, else the system's
    authorities), and a client certificate presented when given."""
    context = _versions(ssl.create_default_context(cafile=cafile))
    if certfile:
        context.load_cert_chain(certfile, keyfile or None,
                                no_pass_phrase(keyfile or certfile, "the key of"))
    return context
