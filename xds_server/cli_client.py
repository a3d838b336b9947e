"""The consumer commands' connection options (submit, query, retrieve): TLS with a client
certificate, and a VIHF sent with every request (a file, or one signed here for the patient);
and the source's signature of what it submits (submit --sign-key/--sign-cert)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

_FILE = click.Path(exists=True, dir_okay=False)

OPTIONS = (
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
    click.option("--vihf-subject", help="the professional's national id (NameID) of the VIHF"),
    click.option("--vihf-role", default="10", show_default=True,
                 help="role code (TRE_G15 profession, or PATIENT...)"),
    click.option("--vihf-structure", default="",
                 help="the professional's structure (Identifiant_Structure) in the VIHF"),
    click.option("--vihf-purpose", default="normal", show_default=True,
                 help="purpose of use: normal, or bris_de_glace / centre_15"),
)

NAMES = ("cacert", "cert", "key", "vihf_file", "vihf_key", "vihf_cert", "vihf_subject",
         "vihf_role", "vihf_structure", "vihf_purpose")


def client_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add the connection options to a command; it receives them as one `connection`."""
    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        kwargs["connection"] = Connection(**{name: kwargs.pop(name) for name in NAMES})
        return command(*args, **kwargs)

    for option in reversed(OPTIONS):
        wrapper = option(wrapper)
    return wrapper


@dataclass
class Connection:
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

    def client(self, url: str, patient: str | None = None):
        """A SoapClient for `url` with these options (patient: the VIHF's resource-id)."""
        from .consumer.transport import SoapClient

        context = None
        if url.startswith("https:") or self.cacert or self.cert:
            from .serving.tls import client_context

            try:
                context = client_context(self.cacert, self.cert, self.key)
            except (OSError, ValueError) as exc:
                raise click.ClickException(f"--cacert/--cert/--key: {exc}") from None
        return SoapClient(url, ssl_context=context, security_headers=self._vihf(patient))

    def _vihf(self, patient: str | None) -> list:
        from .consumer.vihf import VihfClaims, security_header, signed_vihf
        from .xmlsafe import MalformedXmlError, UnsafeXmlError, parse_xml

        if self.vihf_file:
            try:
                assertion = parse_xml(Path(self.vihf_file).read_bytes())
            except (UnsafeXmlError, MalformedXmlError) as exc:
                raise click.ClickException(f"--vihf {self.vihf_file}: {exc}") from None
            if assertion.tag.endswith("}Security"):
                return [assertion]
            return [security_header(assertion)]
        if not (self.vihf_key or self.vihf_cert):
            return []
        if not (self.vihf_key and self.vihf_cert and self.vihf_subject and self.vihf_structure
                and patient):
            raise click.ClickException("signing a VIHF needs --vihf-key, --vihf-cert, "
                                       "--vihf-subject, --vihf-structure and the patient "
                                       "(--patient)")
        claims = VihfClaims(patient_id=patient, subject_id=self.vihf_subject,
                            role=self.vihf_role, structure_id=self.vihf_structure,
                            purpose_of_use=self.vihf_purpose)
        try:
            signed = signed_vihf(claims, Path(self.vihf_key), Path(self.vihf_cert))
        except Exception as exc:     # xmlsec.Error, ValueError: an unusable key or certificate
            raise click.ClickException(f"cannot sign the VIHF: {exc}") from None
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
        raise click.ClickException("signing needs both --sign-key and --sign-cert")
    from .dsig.produce import sign_submission
    from .dsig.seal import Seal, SealError
    from .model.content import Attachment

    try:
        seal = Seal.from_files(Path(key), Path(certificate))
        entry, content = sign_submission(submission, documents, seal, digest=digest)
    except SealError as exc:
        raise click.ClickException(f"cannot sign: {exc}") from None
    documents[entry.entry_uuid] = Attachment.from_bytes(content, entry.mime_type)
    return entry
