"""Effective settings: defaults < optional TOML file < `XDS_*` variables < CLI options.

Every setting is declared once in `SETTINGS` (name, type, default, help), so the environment
variable, the TOML key and the `xds-server config` listing can never drift apart.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from .config_coerce import coerce
from .config_identity import IDENTITY, IDENTITY_FILE, oid_for, read_identity
from .config_values import (
    MIB,
    ConfigError,
    http_url_problem,
    no_pass_phrase,
    parse_bool,
    parse_bytes,
    parse_choice,
    parse_community,
    parse_database_url,
    parse_http_url,
    parse_networks,
    parse_oid,
    parse_syslog_url,
    parse_uris,
    parse_verifying_repositories,
    redact_url,
    verifying_repositories,
)

# re-exported: the names callers have always imported from here
__all__ = [
    "SETTINGS",
    "SPECS_BY_NAME",
    "ConfigError",
    "Settings",
    "http_url_problem",
    "load_settings",
    "no_pass_phrase",
    "redact_url",
    "unknown_variables",
    "verifying_repositories",
]


@dataclass(frozen=True)
class SettingSpec:
    """One setting: its TOML key, the `XDS_` variable derived from it, its parser and default."""

    name: str
    parse: Callable[[str], Any]
    default: Any
    help: str
    secret: bool = False

    @property
    def env_var(self) -> str:
        return "XDS_" + self.name.upper()


# None as a default means "derived from other settings" (see Settings.resolve).
SETTINGS: tuple[SettingSpec, ...] = (
    SettingSpec("data_dir", str, "./var", "directory for the SQLite database and document store"),
    SettingSpec("database_url", parse_database_url, None,
                "SQLAlchemy URL; default sqlite under the data dir",
                secret=True),
    SettingSpec("profile", parse_choice("cisis", "ihe"), "cisis",
                "metadata rules: 'ihe' (IHE TF only) or 'cisis' (IHE + French CI-SIS rules)"),
    SettingSpec("accept_test_ins", parse_bool, False,
                "accept the test and demo INS OIDs (1.2.250.1.213.1.4.10/.11): test platforms"),
    SettingSpec("validate_cda", parse_bool, True,
                "cisis profile: validate each text/xml CDA of an ITI-41 and check it against its "
                "DocumentEntry"),
    SettingSpec("validate_schematron", parse_bool, False,
                "with validate_cda and an installed ANS kit: also run the kit's schematrons "
                "(minimal structure + the document's volet) on each ITI-41 CDA"),
    SettingSpec("security", parse_choice("vihf", "none"), None,
                "how callers prove who they are: 'vihf' (a signed SAML assertion; default in the "
                "cisis profile) or 'none' (default in ihe; test platforms)"),
    SettingSpec("vihf_trusted_certs", str, "",
                "PEM file or directory of the authorities whose VIHF signatures are trusted"),
    SettingSpec("vihf_accept_sha1", parse_bool, False,
                "accept VIHF signatures made with SHA-1 (rsa-sha1, sha1 digests), and signing "
                "certificates signed with SHA-1, as older DMP clients make them; off: SHA-256 "
                "and stronger only"),
    SettingSpec("iua_jwks", str, "",
                "FHIR front (XDS_SECURITY=vihf): JWKS file or PEM file of the public keys or "
                "certificates whose IUA bearer tokens are trusted"),
    SettingSpec("iua_issuers", str, "",
                "FHIR front: comma-separated iss values of the trusted IUA authorization "
                "servers"),
    SettingSpec("iua_audience", str, "",
                "FHIR front: the aud an IUA token must name (this server's FHIR base URL)"),
    SettingSpec("iua_max_lifetime", int, 3600,
                "FHIR front: the longest an IUA token may still live, in seconds (exp beyond "
                "now + this is refused)"),
    SettingSpec("vihf_audience", parse_uris, "",
                "audience URIs and endpoint URLs this server answers to: a VIHF whose "
                "AudienceRestriction or SubjectConfirmationData Recipient names none of them "
                "is refused (empty: any AudienceRestriction or Recipient is refused)"),
    SettingSpec("require_submission_signature", parse_bool, None,
                "refuse an ITI-41/ITI-42 whose submission set is not signed (IHE DSG XAdES, as "
                "the DMP requires); default true in the cisis profile, false in ihe"),
    SettingSpec("signature_verifying_repositories", parse_verifying_repositories, "",
                "registry: the repositories (repositoryUniqueId, ';'-separated) whose ITI-42 it "
                "takes while XDS_REQUIRE_SUBMISSION_SIGNATURE is on, because they verify "
                "signatures themselves; 'OID=SUBJECT-DN' binds one to the TLS client "
                "certificate it must present (mutual TLS); empty: only this server's own "
                "repository"),
    SettingSpec("signature_trusted_certs", str, "",
                "PEM file or directory of the authorities whose seal certificates may sign "
                "submission sets and CDA documents; signatures are verified when it is set"),
    SettingSpec("signature_max_age", int, 86400,
                "seconds a submission-set signature stays acceptable after its signing time"),
    SettingSpec("signature_accept_sha1", parse_bool, False,
                "accept submission-set and CDA signatures made with SHA-1 (rsa-sha1, sha1 "
                "digests), and seal certificates signed with SHA-1, as older DMP clients make "
                "them; off: SHA-256 and stronger only"),
    SettingSpec("require_cda_signature", parse_bool, False,
                "refuse an ITI-41 CDA that does not carry its own valid signature (by default "
                "a CDA's signature is verified and recorded in the audit, never required)"),
    SettingSpec("front_seal_key", str, "",
                "PEM private key of the seal with which the HL7 v2 and FHIR fronts sign, on "
                "behalf of their sources, the submission sets they make (the DMP requires them "
                "signed); with XDS_FRONT_SEAL_CERT; empty: they submit them unsigned"),
    SettingSpec("front_seal_cert", str, "",
                "PEM certificate of that seal (then its authorities, if any); its authority "
                "must be one of XDS_SIGNATURE_TRUSTED_CERTS"),
    SettingSpec("disclose_masked_count", parse_bool, False,
                "opt-in: tell a professional how many documents of a record the patient masked "
                "(MASQUE_PS) and of which classes, without showing them"),
    SettingSpec("repository_unique_id", parse_oid, None,
                "OID of this document repository; default: the one kept in DATA_DIR/"
                "identity.json, made on first start (a 2.25 OID derived from the data dir)"),
    SettingSpec("home_community_id", parse_community, None,
                "urn:oid: home community id; default: kept in DATA_DIR/identity.json like the "
                "repository's"),
    SettingSpec("registry_url", parse_http_url, "",
                "serve: the remote ITI-42 registry this server's repository registers with; "
                "empty means the in-process registry (the client commands do not read it: "
                "client_registry_url)"),
    SettingSpec("registry_certfile", str, "",
                "serve, with registry_url: PEM client certificate (then its chain) this "
                "server's repository presents to the remote registry (mutual TLS)"),
    SettingSpec("registry_keyfile", str, "", "PEM private key of registry_certfile"),
    SettingSpec("registry_ca_certs", str, "",
                "PEM authorities that verify the remote registry's server certificate (empty: "
                "the system's)"),
    SettingSpec("client_registry_url", parse_http_url, "",
                "client commands (query, retrieve, update, remove): the registry endpoint; "
                "empty: server_url's"),
    SettingSpec("repository_url", parse_http_url, "",
                "client commands (submit, retrieve, remove): the repository endpoint; empty: "
                "server_url's"),
    SettingSpec("server_url", parse_http_url, "",
                "client commands: the server's base URL (its /xds/registry and "
                "/xds/repository); empty: http://127.0.0.1:8080"),
    SettingSpec("client_timeout", float, 60.0,
                "client commands: seconds without a byte from the server (connecting, sending, "
                "waiting for the answer) before giving up, exit 2"),
    SettingSpec("max_request_bytes", parse_bytes, 64 * MIB,
                "largest HTTP request body accepted"),
    SettingSpec("max_document_bytes", parse_bytes, 64 * MIB, "largest single document accepted"),
    SettingSpec("spool_threshold_bytes", parse_bytes, 1 * MIB,
                "MTOM parts larger than this are spilled to temporary files"),
    SettingSpec("max_documents_per_request", int, 1000,
                "DocumentRequests one ITI-43 or ITI-86 may name (each becomes a MIME part and "
                "an audit entry)"),
    SettingSpec("max_leaf_class_results", int, 1000,
                "LeafClass query results above this give XDSTooManyResults"),
    SettingSpec("diagnostics", parse_bool, True,
                "serve the diagnostic Echo action (SOAP/MTOM connectivity check)"),
    SettingSpec("log_level", parse_choice("DEBUG", "INFO", "WARNING", "ERROR"), "INFO",
                "logging level"),
    SettingSpec("request_timeout", int, 120, "seconds a worker may spend on one request"),
    # What one request may cost the server (issue 13: no size or speed is the attacker's choice)
    SettingSpec("max_envelope_bytes", parse_bytes, 16 * MIB,
                "largest SOAP envelope (the XML part of a message, inline base64 documents "
                "included), in a request and in an answer; documents beyond go as MTOM parts"),
    SettingSpec("max_xml_markup", int, 300_000,
                "most markup characters '<' in an XML message (bounds its elements, comments and "
                "text nodes before it is parsed)"),
    SettingSpec("max_xml_attributes", int, 300_000,
                "most '=' characters in an XML message (bounds its attributes before parsing)"),
    SettingSpec("max_response_bytes", parse_bytes, 256 * MIB,
                "largest answer (MTOM documents included); a request asking more gets a fault"),
    SettingSpec("threads", int, 0,
                "threads per worker that run requests once fully read; 0: the worker's event "
                "loop runs them itself (least CPU: a thread hand-off cost 0.2 ms a request)"),
    SettingSpec("max_connections", int, 500,
                "open connections per worker; a new one past it closes the connection that has "
                "waited longest for its request, or gets 503 when every one is being served"),
    SettingSpec("max_connections_per_client", int, 128,
                "open connections per worker from one client address (an IPv6 client by its "
                "/64), below max_connections; past it 503 at once; trusted proxies exempt"),
    SettingSpec("head_timeout", float, 10.0,
                "seconds for a request line and headers to arrive, else 408 and closed"),
    SettingSpec("body_timeout", float, 20.0,
                "seconds granted to a request body (and to an answer being sent) before the "
                "minimum rate applies, else 408 and closed"),
    SettingSpec("min_rate_bytes", parse_bytes, 2048,
                "bytes per second a body (or an answer) must move on average after body_timeout"),
    SettingSpec("min_send_rate_bytes", parse_bytes, 32 * 1024,
                "bytes per second a client must read an answer at, on average, after "
                "body_timeout; a slower reader is cut (its answer no longer held)"),
    SettingSpec("max_send_seconds", float, 600.0,
                "most seconds an answer may take to send, whatever its size"),
    SettingSpec("max_buffer_bytes", parse_bytes, 64 * MIB,
                "bytes of request bodies and answers a worker holds in memory for its "
                "connections; past it they go to the spool directory"),
    SettingSpec("max_spool_bytes", parse_bytes, 1024 * MIB,
                "bytes a worker may hold in its spool directory at once (request bodies, "
                "answers waiting for slow readers); past it 503 before a body is read"),
    SettingSpec("max_mime_parts", int, 10_000,
                "most MIME parts in an MTOM request or answer (the consumer's default too)"),
    SettingSpec("trusted_proxies", parse_networks, "",
                "addresses or networks (comma-separated) of reverse proxies whose "
                "X-Forwarded-For/-Proto/-Host are believed; empty: nobody's"),
    SettingSpec("keepalive_timeout", float, 5.0,
                "seconds an idle kept-alive connection waits for the next request"),
    SettingSpec("max_head_bytes", parse_bytes, 32 * 1024,
                "largest request line plus headers (431 beyond)"),
    SettingSpec("certfile", str, "", "PEM certificate chain of the server: serve HTTPS"),
    SettingSpec("keyfile", str, "", "PEM private key of certfile"),
    SettingSpec("ca_certs", str, "",
                "PEM file of the authorities whose client certificates are accepted"),
    SettingSpec("client_cert", parse_choice("required", "optional", "none"), "none",
                "TLS client certificate: 'required' (mutual TLS), 'optional' or 'none'"),
    SettingSpec("mllp_port", int, 0,
                "HL7 v2 MLLP listener port (PAM-FR feed, ORU/MDM documents); 0: off"),
    SettingSpec("mllp_host", str, "127.0.0.1", "address the MLLP listener listens on"),
    SettingSpec("mllp_plain", parse_bool, False,
                "MLLP without TLS even when certfile is set (TLS by default then)"),
    SettingSpec("mllp_senders", str, "",
                "TOML file of the MLLP senders: MSH-3/MSH-4, the certificate or networks that "
                "prove them, their message types and organisations (none: every message AR)"),
    SettingSpec("mllp_lock_wait", float, 5.0,
                "seconds an MLLP message waits for a record another writer holds before AR "
                "207 'send again' (each of its few transactions)"),
    SettingSpec("mllp_max_message_bytes", parse_bytes, 20 * MIB,
                "largest HL7 v2 message over MLLP (answered AR and closed beyond)"),
    SettingSpec("mllp_message_timeout", float, 120.0,
                "seconds a message has to arrive whole from its first byte"),
    SettingSpec("mllp_idle_timeout", float, 300.0,
                "seconds an MLLP connection may stay without a message (and to take an ACK)"),
    SettingSpec("mllp_max_connections", int, 64, "MLLP connections at once (more are closed)"),
    SettingSpec("mllp_workers", int, 4, "threads acting on MLLP messages, in each process"),
    SettingSpec("mllp_processes", int, 2,
                "MLLP listener processes (one port, shared: SO_REUSEPORT)"),
    # Operations (issue 18): audit forwarding and log format
    SettingSpec("atna_url", parse_syslog_url, "",
                "audit record repository (ATNA): tls://HOST:PORT (RFC 5425) or udp://HOST:PORT "
                "(RFC 5426); every audit record is also sent there as a DICOM audit message"),
    SettingSpec("atna_certfile", str, "",
                "PEM client certificate (chain) presented to the audit record repository"),
    SettingSpec("atna_keyfile", str, "", "PEM private key of atna_certfile"),
    SettingSpec("atna_ca_certs", str, "",
                "PEM file of the authorities of the audit record repository's certificate "
                "(default: the system's)"),
    SettingSpec("log_format", parse_choice("text", "json"), "text",
                "'text' (key=value lines) or 'json' (one JSON object per line)"),
    SettingSpec("min_free_bytes", parse_bytes, 64 * MIB,
                "free bytes the data directory's filesystem keeps: below it `serve` refuses to "
                "start and submissions are refused (XDSRepositoryError, storage full) while "
                "reads go on"),
)

SPECS_BY_NAME = {spec.name: spec for spec in SETTINGS}


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: str
    profile: str
    accept_test_ins: bool
    validate_cda: bool
    validate_schematron: bool
    security: str
    vihf_trusted_certs: str
    vihf_accept_sha1: bool
    iua_jwks: str
    iua_issuers: str
    iua_audience: str
    iua_max_lifetime: int
    vihf_audience: str
    require_submission_signature: bool
    signature_verifying_repositories: str
    signature_trusted_certs: str
    signature_max_age: int
    signature_accept_sha1: bool
    require_cda_signature: bool
    front_seal_key: str
    front_seal_cert: str
    disclose_masked_count: bool
    repository_unique_id: str
    home_community_id: str
    registry_url: str
    registry_certfile: str
    registry_keyfile: str
    registry_ca_certs: str
    client_registry_url: str
    repository_url: str
    server_url: str
    client_timeout: float
    max_request_bytes: int
    max_document_bytes: int
    spool_threshold_bytes: int
    max_documents_per_request: int
    max_leaf_class_results: int
    diagnostics: bool
    log_level: str
    request_timeout: int
    max_envelope_bytes: int
    max_xml_markup: int
    max_xml_attributes: int
    max_response_bytes: int
    threads: int
    max_connections: int
    max_connections_per_client: int
    head_timeout: float
    body_timeout: float
    min_rate_bytes: int
    min_send_rate_bytes: int
    max_send_seconds: float
    max_buffer_bytes: int
    max_spool_bytes: int
    max_mime_parts: int
    trusted_proxies: str
    keepalive_timeout: float
    max_head_bytes: int
    certfile: str
    keyfile: str
    ca_certs: str
    client_cert: str
    mllp_port: int
    mllp_host: str
    mllp_plain: bool
    mllp_senders: str
    mllp_lock_wait: float
    mllp_max_message_bytes: int
    mllp_message_timeout: float
    mllp_idle_timeout: float
    mllp_max_connections: int
    mllp_workers: int
    mllp_processes: int
    atna_url: str
    atna_certfile: str
    atna_keyfile: str
    atna_ca_certs: str
    log_format: str
    min_free_bytes: int
    sources: Mapping[str, str] = field(default_factory=dict, compare=False)

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "documents"

    @property
    def kit_dir(self) -> Path:
        """Where `xds-server kit install` puts the ANS TestContenuCDA kit."""
        return self.data_dir / "kit"

    @property
    def spool_dir(self) -> Path:
        return self.data_dir / "spool"

    def as_rows(self) -> list[tuple[str, str, str, str]]:
        """(setting, value, source, environment variable), secrets redacted, for `config`."""
        rows = []
        for spec in SETTINGS:
            value = getattr(self, spec.name)
            shown = redact_url(str(value))     # a password in any URL setting
            rows.append((spec.name, shown, self.sources.get(spec.name, "default"), spec.env_var))
        return rows


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            document = tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    table = document.get("xds-server", document)
    unknown = sorted(set(table) - set(SPECS_BY_NAME))
    if unknown:
        raise ConfigError(f"{path}: unknown setting(s) {', '.join(unknown)}; "
                          f"known: {', '.join(SPECS_BY_NAME)}")
    return table


# XDS_* variables that are not settings but are read (the CLI's and the test suite's)
OTHER_VARIABLES = frozenset({"XDS_CONFIG", "XDS_DEBUG", "XDS_TEST_POSTGRES_URL",
                             "XDS_REFERENCE_DIR", "XDS_CRASH_KILLS"})


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """One line for each XDS_* variable that is no setting, naming the closest known one: a
    misspelt XDS_MAX_REQUST_BYTES was silently ignored and the default kept."""
    import difflib

    known = {spec.env_var for spec in SETTINGS} | OTHER_VARIABLES
    lines = []
    for name in sorted(n for n in environ if n.startswith("XDS_") and n not in known):
        close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]}?" if close else " (`xds-server config` lists them)"
        lines.append(f"{name} is not a setting and is ignored{hint}")
    return lines


def load_settings(
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    config_file: str | Path | None = None,
) -> Settings:
    """Merge defaults < TOML file < environment < overrides (CLI options), recording each source.

    The TOML file is `config_file`, else `$XDS_CONFIG`, else `xds-server.toml` in the current
    directory when it exists. Keys may sit at top level or in an `[xds-server]` table.
    """
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {spec.name: spec.default for spec in SETTINGS}
    sources: dict[str, str] = {}

    path = config_file or environ.get("XDS_CONFIG")
    if path is None and Path("xds-server.toml").is_file():
        path = "xds-server.toml"
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"configuration file {path} does not exist")
    given: list[tuple[SettingSpec, Any, str, bool]] = []     # (…, source, from TOML)
    if path is not None:
        given += [(SPECS_BY_NAME[name], raw, str(path), True)
                  for name, raw in _read_toml(path).items()]
    given += [(spec, environ[spec.env_var], spec.env_var, False) for spec in SETTINGS
              if spec.env_var in environ]
    given += [(SPECS_BY_NAME[name], raw, "command line", False)
              for name, raw in (overrides or {}).items() if raw is not None]
    problems = []                   # every unusable setting at once, not one per attempt
    for spec, raw, source, from_toml in given:
        try:
            values[spec.name] = coerce(spec.name, spec.parse, raw, source, from_toml)
            sources[spec.name] = source
        except ConfigError as exc:
            problems.append(str(exc))
    if problems:
        raise ConfigError("; ".join(problems))

    data_dir = Path(values["data_dir"])
    values["data_dir"] = data_dir
    if not values["database_url"]:
        values["database_url"] = f"sqlite:///{data_dir.resolve() / 'registry.sqlite3'}"
    kept = read_identity(data_dir)
    for name in IDENTITY:
        if not values[name] and name in kept:
            values[name] = kept[name]
            sources[name] = str(data_dir / IDENTITY_FILE)
    if not values["repository_unique_id"]:
        values["repository_unique_id"] = oid_for(data_dir, "repository")
    if not values["home_community_id"]:
        values["home_community_id"] = "urn:oid:" + oid_for(data_dir, "community")
    if not values["security"]:
        values["security"] = "vihf" if values["profile"] == "cisis" else "none"
    if values["require_submission_signature"] is None:
        values["require_submission_signature"] = values["profile"] == "cisis"
    for name in ("database_url", "repository_unique_id", "home_community_id", "security",
                 "require_submission_signature"):
        sources.setdefault(name, "derived")
    if (values["registry_certfile"] or values["registry_keyfile"]) and \
            not values["registry_url"].startswith("https:"):
        # no legitimate use: the certificate is presented only to a remote https registry
        raise ConfigError("registry_certfile/registry_keyfile (XDS_REGISTRY_CERTFILE/KEYFILE) "
                          "are the repository's client certificate for a remote registry: "
                          "they need an https XDS_REGISTRY_URL (unused otherwise)")
    if values["registry_keyfile"] and not values["registry_certfile"]:
        raise ConfigError("registry_keyfile (XDS_REGISTRY_KEYFILE) without registry_certfile "
                          "(XDS_REGISTRY_CERTFILE): the key of which certificate?")
    if values["max_connections_per_client"] >= values["max_connections"]:
        raise ConfigError(f"max_connections_per_client ({values['max_connections_per_client']}) "
                          f"must be below max_connections ({values['max_connections']}), so "
                          "that one client never holds every connection of a worker")
    return Settings(**{f.name: values[f.name] for f in fields(Settings) if f.name != "sources"},
                    sources=sources)
