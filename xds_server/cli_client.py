"""The consumer commands' connection options (submit, query, retrieve, update, remove): where
the server is (--server, --registry, --repository, or XDS_SERVER_URL, XDS_REGISTRY_URL,
XDS_REPOSITORY_URL), TLS with a client certificate, and a VIHF sent with every request (a file,
or one signed here for the patient); and the source's signature of what it submits
(submit --sign-key/--sign-cert)."""

from __future__ import annotations

import functools
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from .cli_errors import Unusable
from .cli_seconds import SECONDS

_FILE = click.Path(exists=True, dir_okay=False)

# the VIHF's purposes of use the server accepts (security/vihf_reading.py's PURPOSES)
PURPOSES = ("normal", "bris_de_glace", "centre_15")

OPTIONS = (
    click.option("--server", "server_url", metavar="URL",
                 help="the server's base URL, e.g. https://xds.example:8443: its registry and "
                      "repository are URL/xds/registry and URL/xds/repository (default "
                      "XDS_SERVER_URL, else http://127.0.0.1:8080)"),
    click.option("--registry", "registry_url", metavar="URL",
                 help="registry endpoint (default XDS_CLIENT_REGISTRY_URL, else the "
                      "--server's)"),
    click.option("--repository", "repository_url", metavar="URL",
                 help="repository endpoint (default XDS_REPOSITORY_URL, else the --server's)"),
    click.option("--timeout", type=SECONDS, metavar="SECONDS",
                 help="seconds without a byte from the server before giving up (default "
                      "XDS_CLIENT_TIMEOUT, else 60)"),
    click.option("--cacert", type=_FILE,
                 help="PEM authorities that sign the server's certificate (https; default: "
                      "the system's)"),
    click.option("--cert", type=_FILE, help="PEM client certificate for mutual TLS"),
    click.option("--key", type=_FILE, help="PEM private key of --cert"),
    click.option("--vihf", "vihf_file", type=_FILE,
                 help="a signed VIHF assertion (XML) to send in wsse:Security"),
    click.option("--vihf-key", type=_FILE, help="sign a VIHF with this PEM key..."),
    click.option("--vihf-cert", type=_FILE, help="...and this PEM certificate (its subject is "
                                                  "the Issuer)"),
    click.option("--vihf-subject", callback=lambda c, p, v: _not_empty(c, p, v),
                 help="the professional's national id (NameID) of the VIHF"),
    click.option("--vihf-role", default="10", show_default=True,
                 callback=lambda c, p, v: _not_empty(c, p, v),
                 help="role code: a TRE_G15 profession, or PATIENT, REPRESENTANT_LEGAL, "
                      "ADMINISTRATEUR, AUTOMATE (TRE_A00)"),
    click.option("--vihf-structure", default="",
                 help="the professional's structure (Identifiant_Structure) in the VIHF"),
    click.option("--vihf-purpose", default="normal", show_default=True,
                 type=click.Choice(PURPOSES),
                 help="purpose of use: normal, or bris_de_glace / centre_15"),
)

NAMES = ("server_url", "registry_url", "repository_url", "timeout", "cacert", "cert", "key",
         "vihf_file", "vihf_key", "vihf_cert", "vihf_subject", "vihf_role", "vihf_structure",
         "vihf_purpose")


def client_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add the connection options to a command; it receives them as one `connection`."""
    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        connection = Connection(**{name: kwargs.pop(name) for name in NAMES})
        connection.check()          # what the options say, before anything is sent
        kwargs["connection"] = connection
        return command(*args, **kwargs)

    for option in reversed(OPTIONS):
        wrapper = option(wrapper)
    return wrapper


DEFAULT_SERVER = "http://127.0.0.1:8080"
PATHS = {"registry": "/xds/registry", "repository": "/xds/repository"}


def check_url(url: str, option: str) -> str:
    """An http(s) URL with a host a request can reach, else a usage error naming the option
    or setting (the settings' own check: one rule for every URL the CLI takes)."""
    from .cli_settings import http_url_problem

    problem = http_url_problem(url)
    if problem:
        raise click.BadParameter(f"{problem}; e.g. {DEFAULT_SERVER}"
                                 f"{PATHS.get(option.strip('-'), '')}", param_hint=option)
    return url


def check_base_url(url: str, option: str) -> str:
    """A server's base URL: the URL rule, and nothing after its path (a ?query or #fragment
    ended up inside the endpoint's URL, and the server's answer was then blamed on it)."""
    from urllib.parse import urlsplit

    check_url(url, option)
    parts = urlsplit(url)
    if parts.query or parts.fragment or url.endswith(("?", "#")):
        raise click.BadParameter(f"{url!r} is a base URL: no ?query or #fragment; e.g. "
                                 f"{DEFAULT_SERVER}", param_hint=option)
    return url


@dataclass
class Connection:
    server_url: str | None
    registry_url: str | None
    repository_url: str | None
    timeout: float | None
    cacert: str | None
    cert: str | None
    key: str | None
    vihf_file: str | None
    vihf_key: str | None
    vihf_cert: str | None
    vihf_subject: str | None
    vihf_role: str
    vihf_structure: str
    vihf_purpose: str

    def check(self) -> None:
        """Every connection option checked before the first request: a bad --repository was
        found only after an ITI-18 had gone to the registry, a --vihf-key that is not
        --vihf-cert's key only by the server, --cert without --key as '[SSL] PEM lib'."""
        if self.server_url and self.server_url.rstrip("/").endswith(tuple(PATHS.values())):
            raise click.BadParameter(
                f"'{self.server_url}' is an endpoint: --server takes the server's base URL "
                f"(e.g. {DEFAULT_SERVER}); give an endpoint with --registry or --repository",
                param_hint="--server")
        endpoints = [self.endpoint("registry"), self.endpoint("repository")]
        if self.cert and not self.key and b"PRIVATE KEY" not in _head(self.cert):
            raise click.BadParameter(f"{self.cert} holds no private key: give it with --key",
                                     param_hint="--cert")
        if any(url.startswith("https:") for url in endpoints) or self.cacert or self.cert:
            self._tls_context()
        if self.vihf_key and self.vihf_cert:
            from .dsig.seal import Seal, SealError

            try:
                Seal.from_files(Path(self.vihf_key), Path(self.vihf_cert))
            except SealError as exc:
                raise click.BadParameter(str(exc), param_hint="--vihf-key/--vihf-cert") from None

    def _tls_context(self):
        from .serving.tls import client_context

        try:
            return client_context(self.cacert, self.cert, self.key)
        except ssl.SSLError as exc:     # '[SSL] PEM lib (_ssl.c:3926)' said nothing
            raise Unusable(f"--cacert/--cert/--key: {exc.reason or exc}: --cert must be a PEM "
                           "certificate and --key its PEM private key (--cacert PEM "
                           "authorities)") from None
        except (OSError, ValueError) as exc:
            raise Unusable(f"--cacert/--cert/--key: {exc}") from None

    def endpoint(self, kind: str) -> str:
        """The registry's or the repository's URL: its own option, then --server, then the
        settings (XDS_CLIENT_REGISTRY_URL / XDS_REPOSITORY_URL, then XDS_SERVER_URL), then the
        local test platform's. Not XDS_REGISTRY_URL: that is serve's remote registry, and a
        client that read it sent its queries wherever a server's settings pointed."""
        explicit = self.registry_url if kind == "registry" else self.repository_url
        if explicit is not None:        # given empty is a mistake, not "use the default"
            return check_url(explicit, f"--{kind}")
        if self.server_url is not None:
            return check_base_url(self.server_url, "--server").rstrip("/") + PATHS[kind]
        settings = _client_settings()
        name = "client_registry_url" if kind == "registry" else "repository_url"
        configured = getattr(settings, name)
        if configured:
            return check_url(configured, f"XDS_{name.upper()}")
        server = settings.server_url or DEFAULT_SERVER
        return check_base_url(server, "XDS_SERVER_URL").rstrip("/") + PATHS[kind]

    def registry(self, patient: str | None = None):
        return self.client(self.endpoint("registry"), patient)

    def repository(self, patient: str | None = None):
        return self.client(self.endpoint("repository"), patient)

    def client(self, url: str, patient: str | None = None):
        """A SoapClient for `url` with these options (patient: the VIHF's resource-id)."""
        from .consumer.transport import SoapClient

        check_url(url, "URL")
        context = None
        if url.startswith("https:") or self.cacert or self.cert:
            context = self._tls_context()
        timeout = self.timeout if self.timeout is not None \
            else _client_settings().client_timeout
        return SoapClient(url, ssl_context=context, security_headers=self._vihf(patient),
                          timeout=timeout)

    def vihf_claims(self, patient: str | None):
        """The claims of the VIHF this command signs (None when it signs none)."""
        from .consumer.vihf import VihfClaims, role_system

        if self.vihf_file or not (self.vihf_key and self.vihf_subject and patient):
            return None
        return VihfClaims(patient_id=patient, subject_id=self.vihf_subject,
                          role=self.vihf_role, role_system=role_system(self.vihf_role),
                          structure_id=self.vihf_structure, purpose_of_use=self.vihf_purpose)

    def _vihf(self, patient: str | None) -> list:
        from .consumer.vihf import security_header, signed_vihf
        from .xmlsafe import MalformedXmlError, UnsafeXmlError, parse_xml

        if self.vihf_file:
            try:
                assertion = parse_xml(Path(self.vihf_file).read_bytes())
            except (UnsafeXmlError, MalformedXmlError) as exc:
                raise click.BadParameter(f"{self.vihf_file}: {exc}",
                                         param_hint="--vihf") from None
            if assertion.tag.endswith("}Security"):
                return [assertion]
            return [security_header(assertion)]
        if not (self.vihf_key or self.vihf_cert):
            return []
        if not (self.vihf_key and self.vihf_cert and self.vihf_subject and self.vihf_structure
                and patient):
            raise click.UsageError("signing a VIHF needs --vihf-key, --vihf-cert, "
                                       "--vihf-subject, --vihf-structure and the patient "
                                       "(--patient)")
        claims = self.vihf_claims(patient)
        assert claims is not None
        try:
            signed = signed_vihf(claims, Path(self.vihf_key), Path(self.vihf_cert))
        except Exception as exc:     # xmlsec.Error, ValueError: an unusable key or certificate
            raise Unusable(f"cannot sign the VIHF with --vihf-key/--vihf-cert: {exc}") from None
        return [security_header(signed)]


SIGNING_OPTIONS = (
    click.option("--sign-key", type=_FILE,
                 help="sign the submission set (IHE DSG XAdES, as the DMP requires) with this "
                      "PEM key..."),
    click.option("--sign-cert", type=_FILE,
                 help="...and this PEM seal certificate (then its authorities, if any)"),
    click.option("--sign-digest", type=click.Choice(["sha256", "sha1"]), default="sha256",
                 show_default=True, help="digest of the signature (sha1: older DMP clients)"),
)


def signing_options(command: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(SIGNING_OPTIONS):
        command = option(command)
    return command


def sign_submission_set(submission, documents: dict, key: str | None, certificate: str | None,
                        digest: str):
    """Add the signature document (dsig/produce.py) to `submission` and `documents`; returns
    its DocumentEntry, or None when no signing option was given."""
    if not (key or certificate):
        return None
    if not (key and certificate):
        raise click.UsageError("signing needs both --sign-key and --sign-cert")
    from .dsig.produce import sign_submission
    from .dsig.seal import Seal, SealError
    from .model.content import Attachment

    try:
        seal = Seal.from_files(Path(key), Path(certificate))
        entry, content = sign_submission(submission, documents, seal, digest=digest)
    except SealError as exc:
        raise Unusable(f"cannot sign with --sign-key/--sign-cert: {exc}") from None
    documents[entry.entry_uuid] = Attachment.from_bytes(content, entry.mime_type)
    return entry


def _not_empty(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    from .cli_options import not_empty

    return not_empty(ctx, param, value)


def _head(path: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read(1 << 20)
    except OSError:
        return b""


def _client_settings():
    """The settings the client commands read (file, then environment): where the server is."""
    from .cli_settings import command_settings

    return command_settings(click.get_current_context())
