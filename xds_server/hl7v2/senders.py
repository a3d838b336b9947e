"""Who may send what over MLLP: the operator's table of senders (`XDS_MLLP_SENDERS`, a TOML
file). MSH-3 and MSH-4 are only names a sender writes about itself; this table binds each name
to what proves it (the TLS client certificate's subject, or the networks it connects from), the
message types it may send, and the organisations (structure ids, XON-10: FINESS or SIRET
prefixed as the DMP writes them) it may act for.

```toml
[[sender]]
application = "SIL-Y"                 # MSH-3.1
facility = "labo"                     # MSH-4.1
messages = ["ORU", "MDM"]             # ADT: the identity feed (consent, merges)
organisations = ["1750099991"]        # structure ids its documents may be authored in
certificate = "CN=sil-y.labo.example,O=Labo Y"   # its TLS client certificate's subject
networks = ["10.1.2.0/24"]            # and/or where it connects from
```

Each rule, and the attack it stops:
- a sender not in the table gets AR and nothing is done (anyone reaching the port calling
  itself anything);
- an entry is bound to a certificate or to networks, never to its name alone (a name in MSH-3/4
  is free to write); with `certificate`, only a connection whose client certificate has that
  subject may use the name (another certificate of `XDS_CA_CERTS` claiming it); a connection
  with a client certificate may only use an entry bound to that certificate (a certificate
  holder borrowing a network-bound name); with `networks`, only from those addresses;
- a message type not in `messages` gets AR (a lab system sending merges or consent changes);
- the organisation a message acts for is the table's, never MSH-4 (checked by documents.py:
  a document's author organisation must be one of the sender's, and a replacement or deletion
  only touches documents registered with an author of one of them).
"""

from __future__ import annotations

import ipaddress
import tomllib
from dataclasses import dataclass
from pathlib import Path

from . import ack
from .ack import Problem, Refused
from .er7 import Header

# the attribute names python's ssl module gives a certificate subject, as written in tables
_SHORT_NAMES = {"commonname": "cn", "organizationname": "o", "organizationalunitname": "ou",
                "countryname": "c", "localityname": "l", "stateorprovincename": "st",
                "emailaddress": "emailaddress", "serialnumber": "serialnumber",
                "domaincomponent": "dc", "organizationidentifier": "organizationidentifier"}
MESSAGE_TYPES = frozenset({"ADT", "ORU", "MDM"})


class SenderTableError(ValueError):
    """The table cannot be used; the server does not start with it."""


def subject_key(subject: str) -> frozenset[tuple[str, str]]:
    """A certificate subject as a set of (attribute, value), whatever the order and whether
    the attributes are named short (CN) or long (commonName)."""
    pairs = set()
    for part in subject.split(","):
        name, _, value = part.partition("=")
        name = name.strip().lower()
        pairs.add((_SHORT_NAMES.get(name, name), value.strip()))
    return frozenset(pairs)


@dataclass(frozen=True)
class Sender:
    application: str
    facility: str
    messages: frozenset[str]
    organisations: tuple[str, ...]
    certificate: frozenset[tuple[str, str]] | None = None
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()

    @property
    def name(self) -> str:
        return _named(self.application, self.facility)

    @property
    def binding(self) -> str:
        """What proved it, for the audit trail."""
        return "certificate" if self.certificate is not None else "network"


class SenderTable:
    def __init__(self, senders: list[Sender]) -> None:
        self.senders = {(s.application, s.facility): s for s in senders}

    @classmethod
    def load(cls, path: str | Path) -> SenderTable:
        """The table of a TOML file (an empty path: no sender at all)."""
        if not str(path):
            return cls([])
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise SenderTableError(f"XDS_MLLP_SENDERS {path}: {exc}") from None
        return cls.parse(data, f"XDS_MLLP_SENDERS {path}")

    @classmethod
    def parse(cls, data: dict, where: str = "XDS_MLLP_SENDERS") -> SenderTable:
        senders = []
        for number, entry in enumerate(data.get("sender", []), 1):
            senders.append(_sender(entry, f"{where}: sender {number}"))
        names = [(s.application, s.facility) for s in senders]
        duplicates = sorted({f"{a}^{f}" for a, f in names if names.count((a, f)) > 1})
        if duplicates:
            raise SenderTableError(f"{where}: listed twice: {', '.join(duplicates)}")
        return cls(senders)

    def authorise(self, header: Header, host: str, certificate_subject: str) -> Sender:
        """The sender of this message, proven by its connection; Refused (AR) otherwise. The
        texts say what the operator must fix and nothing about other senders."""
        kind = header.message_type.upper()
        name = _named(header.sending_application, header.sending_facility)
        sender = self.senders.get((header.sending_application, header.sending_facility))
        if sender is None:
            raise _refused("MSH^1^3", f"sender {name} is not one this server "
                                      "takes messages from (XDS_MLLP_SENDERS)")
        if certificate_subject and sender.certificate is None:
            raise _refused("MSH^1^3", f"sender {name} is not bound to the TLS client "
                                      "certificate of this connection")
        if sender.certificate is not None and (
                not certificate_subject or subject_key(certificate_subject)
                != sender.certificate):
            raise _refused("MSH^1^3", f"sender {name} is bound to another TLS client "
                                      "certificate than this connection's")
        if sender.networks and not _within(host, sender.networks):
            raise _refused("MSH^1^3", f"sender {name} does not connect from this address")
        if kind not in sender.messages:
            raise _refused("MSH^1^9", f"sender {name} may not send {kind} messages")
        return sender


def _named(application: str, facility: str) -> str:
    """A sender as texts name it (ERR-8 would escape a '^')."""
    return f"'{application}' of '{facility}' (MSH-3, MSH-4)"


def _refused(location: str, text: str) -> Refused:
    return Refused(Problem(ack.APPLICATION_INTERNAL_ERROR, location, text), reject=True)


def _within(host: str, networks) -> bool:
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    # a listener on '::' sees IPv4 senders as ::ffff:a.b.c.d
    mapped = getattr(address, "ipv4_mapped", None)
    return any(address in network or (mapped is not None and mapped in network)
               for network in networks)


def _sender(entry: object, where: str) -> Sender:
    if not isinstance(entry, dict):
        raise SenderTableError(f"{where}: a table ([[sender]])")
    unknown = set(entry) - {"application", "facility", "messages", "organisations",
                            "certificate", "networks"}
    if unknown:
        raise SenderTableError(f"{where}: unknown keys {sorted(unknown)}")

    def strings(key: str) -> list[str]:
        value = entry.get(key, [])
        if not isinstance(value, list) or not all(isinstance(x, str) and x for x in value):
            raise SenderTableError(f"{where}: {key} is a list of strings")
        return value

    application, facility = entry.get("application"), entry.get("facility")
    if not isinstance(application, str) or not application or \
            not isinstance(facility, str) or not facility:
        raise SenderTableError(f"{where}: application and facility (MSH-3, MSH-4) are needed")
    messages = frozenset(m.upper() for m in strings("messages"))
    if not messages or messages - MESSAGE_TYPES:
        raise SenderTableError(f"{where}: messages among {sorted(MESSAGE_TYPES)}")
    organisations = tuple(strings("organisations"))
    if messages & {"ORU", "MDM"} and not organisations:
        raise SenderTableError(f"{where}: a sender of documents names the organisations it "
                               "acts for")
    certificate = entry.get("certificate")
    if certificate is not None and (not isinstance(certificate, str) or "=" not in certificate):
        raise SenderTableError(f"{where}: certificate is a subject such as 'CN=…,O=…'")
    try:
        networks = tuple(ipaddress.ip_network(n, strict=False) for n in strings("networks"))
    except ValueError as exc:
        raise SenderTableError(f"{where}: networks: {exc}") from None
    if certificate is None and not networks:
        # a name alone proves nothing: anyone can write it in MSH-3/4
        raise SenderTableError(f"{where}: bound to a certificate or to networks")
    return Sender(application, facility, messages, organisations,
                  subject_key(certificate) if certificate else None, networks)
