"""The value types of settings: how each is read from text and checked (config.py declares
the settings with them), and how a URL's secrets are hidden wherever it is shown."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

MIB = 1024 * 1024


class ConfigError(ValueError):
    """A setting has a value that cannot be used; the message names the setting and its source."""


def parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected true or false, got {text!r}")


def no_pass_phrase(keyfile: str, what: str) -> Callable[[], str]:
    """The password callback of ssl's load_cert_chain: without one, OpenSSL asks for an
    encrypted key's pass phrase on the terminal, and a start waited for input (outside test
    19c, N7); a key this server reads must be unencrypted, as it starts unattended."""
    def refuse() -> str:
        raise ConfigError(f"{what} {keyfile}: the private key is encrypted (protected by a "
                          "pass phrase); it must be unencrypted, nobody is asked for a pass "
                          "phrase (`openssl pkey -in KEY -out PLAIN.key`, then protect "
                          "PLAIN.key by its file permissions)")

    return refuse


def parse_networks(text: str) -> str:
    """Comma-separated addresses or networks ('10.0.0.5, 192.168.1.0/24'); normalised."""
    networks = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        try:
            networks.append(str(ipaddress.ip_network(item, strict=False)))
        except ValueError as exc:
            raise ValueError(f"not an IP address or network: {item!r} ({exc})") from None
    return ",".join(networks)


_HOST_LABEL = re.compile(r"(?!-)[A-Za-z0-9_-]{1,63}(?<!-)")


def url_host_problem(host: str) -> str | None:
    """What is wrong with a URL's host, or None: an IP address, or DNS labels that IDNA can
    encode (letters, digits, hyphens, and underscores as container names have; at most 63
    each). Said by the setting or option that named it, not as an encoder's error deep in a
    request ('internal error')."""
    try:
        ipaddress.ip_address(host)
        return None
    except ValueError:
        pass
    try:
        encoded = host.rstrip(".").encode("idna").decode("ascii")
    except UnicodeError as exc:
        return f"the host {host!r} is not a valid name ({exc})"
    if len(encoded) > 253 or not all(_HOST_LABEL.fullmatch(label)
                                     for label in encoded.split(".")):
        return (f"the host {host!r} is not a valid name (letters, digits and hyphens, "
                "at most 63 between dots)")
    return None


def http_url_problem(text: str) -> str | None:
    """What is wrong with an http(s) endpoint URL, or None (for every URL setting and option).
    A user or password in it is refused: XDS authenticates callers by TLS certificates and
    VIHF, not HTTP basic auth, and a URL is printed in messages and logs (outsider F7)."""
    if not text.isprintable():
        # urlsplit drops line breaks and tabs silently: the URL used would not be the one
        # given, and the error quoting it spanned two lines
        return f"{_hide_userinfo(text)!r} is not a URL (it holds a line break or a control " \
               "character)"
    try:
        parts = urlsplit(text)          # ValueError: an unclosed [IPv6 address
    except ValueError as exc:
        return f"{_hide_userinfo(text)!r} is not a URL ({exc})"
    shown = _hide_userinfo(text)
    if "@" in parts.netloc:
        return (f"{shown!r}: credentials in a URL are refused (they would show in messages "
                "and logs, and XDS does not use HTTP basic auth): give the URL without "
                "them, and the caller's identity with --cert/--key or a VIHF")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"{shown!r} is not an http(s) URL (http://HOST:PORT/…)"
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0:       # port 0 ended in 'connection refused'
        return f"{shown!r}: the port is not a number between 1 and 65535"
    problem = url_host_problem(parts.hostname)
    return f"{shown!r}: {problem}" if problem else None


def _hide_userinfo(text: str) -> str:
    """The URL with what comes before an @ in its authority replaced by ***."""
    scheme, sep, rest = text.partition("://")
    if not sep:
        return text
    authority, slash, path = rest.partition("/")
    if "@" not in authority:
        return text
    return f"{scheme}://***@{authority.rpartition('@')[2]}{slash}{path}"


def parse_syslog_url(text: str) -> str:
    """'' (no forwarding), tls://HOST:PORT (RFC 5425) or udp://HOST:PORT (RFC 5426)."""
    text = text.strip()
    if not text:
        return ""
    if not text.isprintable():      # urlsplit would drop a line break silently
        raise ValueError(f"{text!r} is not a URL (it holds a line break or a control "
                         "character)")
    parts = urlsplit(text)
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme not in ("tls", "udp") or not parts.hostname or not port \
            or parts.path not in ("", "/") or parts.query or parts.username:
        raise ValueError(f"expected tls://HOST:PORT (syslog over TLS, RFC 5425) or "
                         f"udp://HOST:PORT (RFC 5426), got {text!r}")
    problem = url_host_problem(parts.hostname)
    if problem:
        raise ValueError(f"{text!r}: {problem}")
    return text


def parse_database_url(text: str) -> str:
    """A SQLite or PostgreSQL (psycopg) SQLAlchemy URL; 'postgresql://' means psycopg (the
    driver installed), and anything else is said here, not as a driver's import error."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    text = text.strip()
    if not text:
        return ""
    if not text.isprintable():      # a line break split the error quoting it over two lines
        raise ValueError(f"{redact_url(text)!r} is not a database URL (it holds a line break "
                         "or a control character)")
    try:
        url = make_url(text)
    except (ArgumentError, ValueError):
        raise ValueError(f"{redact_url(text)!r} is not a database URL: give "
                         "sqlite:///PATH or postgresql+psycopg://USER@HOST/NAME") from None
    if url.drivername.split("+", 1)[0] not in ("sqlite", "postgresql"):
        # postgres:// (Heroku's spelling) failed as "no such module", an internal error
        raise ValueError(f"a {url.drivername} database is not supported: give sqlite:///PATH "
                         "or postgresql+psycopg://USER@HOST/NAME")
    if url.port is not None and not 0 < url.port < 65536:
        # port 0 went to the default port silently
        raise ValueError(f"{redact_url(text)!r}: the port is not a number between 1 and 65535")
    if url.host and (problem := url_host_problem(url.host)):
        raise ValueError(f"{redact_url(text)!r}: {problem}")
    backend, driver = url.get_backend_name(), url.get_driver_name()
    if backend == "postgresql" and "+" not in url.drivername:
        return url.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    if (backend, driver) not in (("sqlite", "pysqlite"), ("postgresql", "psycopg")):
        raise ValueError(f"a {url.drivername} database is not supported: give sqlite:///PATH "
                         "or postgresql+psycopg://USER@HOST/NAME")
    if backend == "sqlite" and url.database not in (None, "", ":memory:"):
        # a typo in the path made a new empty database (and its directories) silently
        directory = Path(url.database).parent
        if not directory.is_dir():
            raise ValueError(f"the directory {directory} of {text!r} does not exist: create "
                             "it, or correct the path")
    return text


def parse_http_url(text: str) -> str:
    """'' or an http(s) URL with a host (and a port that is a number)."""
    text = text.strip()
    if not text:
        return ""
    problem = http_url_problem(text)
    if problem:
        raise ValueError(problem)
    return text


_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "kib": 1024, "m": 1000 ** 2, "mb": 1000 ** 2,
          "mib": 1024 ** 2, "g": 1000 ** 3, "gb": 1000 ** 3, "gib": 1024 ** 3,
          "t": 1000 ** 4, "tb": 1000 ** 4, "tib": 1024 ** 4}
_SIZE = re.compile(r"\s*([0-9]+)\s*([A-Za-z]*)\s*")


def parse_bytes(text: str) -> int:
    """A byte count: digits, optionally with a unit (KiB, MiB, GiB, TiB; kB, MB, GB, TB), as
    operators write sizes; every *_bytes setting takes it."""
    match = _SIZE.fullmatch(text)
    unit = match and _UNITS.get(match[2].lower())
    if not match or unit is None:
        raise ValueError(f"expected a number of bytes, optionally with a unit (e.g. 67108864, "
                         f"64MiB, 512KiB, 1GiB), got {text!r}")
    return int(match[1]) * unit


_OID = re.compile(r"[0-2](\.(0|[1-9][0-9]*))+")


def parse_oid(text: str) -> str:
    """An ISO OID of at most 64 characters (the XDS repositoryUniqueId's bound)."""
    text = text.strip()
    if not _OID.fullmatch(text) or len(text) > 64:
        raise ValueError(f"{text!r} is not an OID (digits and dots, e.g. 1.2.250.1.999.1, at "
                         "most 64 characters)")
    return text


_UNESCAPED_SEMICOLON = re.compile(r"(?<!\\);")


def verifying_repositories(text: str) -> dict[str, str]:
    """XDS_SIGNATURE_VERIFYING_REPOSITORIES: 'OID' or 'OID=SUBJECT-DN' entries separated by ';'
    (a ';' inside a DN is written '\\;', as RFC 4514 and this server write it) → {OID: the
    client certificate subject that repository must present, '' when unbound}."""
    found: dict[str, str] = {}
    for part in _UNESCAPED_SEMICOLON.split(text):
        part = part.strip()
        if not part:
            continue
        oid, bound, subject = part.partition("=")
        oid, subject = parse_oid(oid), subject.strip()
        if oid in found:
            raise ValueError(f"repository {oid} is listed twice")
        if bound and not subject:
            # 'OID=$SUBJECT' with the variable unset left the repository unbound: trusted
            # from any VIHF holder (outside test 19b, F6)
            raise ValueError(f"repository {oid}: '=' with no certificate subject after it; "
                             f"write '{oid}' alone for an unbound repository, or "
                             f"'{oid}=CN=…,O=…' to bind it to its TLS client certificate")
        if subject and not _DN.fullmatch(subject):
            raise ValueError(f"repository {oid}: {subject!r} is not a distinguished name "
                             "(RFC 4514, e.g. CN=Repository B,O=Hopital B,C=FR)")
        found[oid] = subject
    return found


# RFC 4514: attribute=value pairs separated by unescaped ',' (or '+'); the attribute a name
# (CN, O, OU, C, serialNumber…) or a dotted OID
_RDN = r"\s*(?:[A-Za-z][A-Za-z0-9-]*|[0-9]+(?:\.[0-9]+)*)\s*=(?:[^,+\\]|\\.)+"
_DN = re.compile(rf"{_RDN}(?:[,+]{_RDN})*")


def parse_verifying_repositories(text: str) -> str:
    verifying_repositories(text)
    return text.strip()


def parse_community(text: str) -> str:
    text = text.strip()
    if not text.startswith("urn:oid:"):
        raise ValueError(f"{text!r} is not urn:oid:OID")
    return "urn:oid:" + parse_oid(text.removeprefix("urn:oid:"))


def parse_uris(text: str) -> str:
    """Comma- or space-separated URIs ('https://xds.example/xds/registry urn:dmp'); normalised
    to one space between them."""
    return " ".join(part for part in text.replace(",", " ").split())


def parse_choice(*choices: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}, got {text!r}")
        return text

    return parse



def redact_url(url: str) -> str:
    """Hide the passwords of a URL: `user:secret@host` → `user:***@host`, and a query's
    `password=secret` (libpq takes it there too: outsider 18f F8) → `password=***`."""
    return redact_url_in(url, url)


def redact_url_in(message: str, url: str) -> str:
    """The message with the passwords of `url` hidden wherever it quotes them."""
    for needle, shown in url_secrets(url):
        message = message.replace(needle, shown)
    return message


_QUERY_SECRET = re.compile(r"[?&][^=&#]*pass[^=&#]*=([^&#]+)", re.IGNORECASE)


def url_secrets(text: str) -> list[tuple[str, str]]:
    """(as the URL holds a password, as it is shown): in its user part, or in its query."""
    found = [(m.group(0), m.group(0).removesuffix(m.group(1)) + "***")
             for m in _QUERY_SECRET.finditer(text)]
    _, sep, rest = text.partition("://")
    if sep and "@" in rest:
        credentials = rest.split("/", 1)[0].rpartition("@")[0]
        _, colon, password = credentials.partition(":")
        if colon and password:
            found.append((f":{password}@", ":***@"))
    return found
