"""The fronts' seal: the HL7 v2 and FHIR fronts make the submission sets of what they receive
(an ORU, an MDM, an ITI-65 Bundle), and the DMP refuses a set nobody signed. Their sources
cannot sign a set they never see, so the server signs it on their behalf with the seal of the
organisation that runs it (XDS_FRONT_SEAL_KEY / XDS_FRONT_SEAL_CERT), and the audit names that
seal. A SOAP source signs its own sets (the CLI's `--sign-key`), never the server.

The seal is checked when the server starts, not at the first message: a key that is not the
certificate's, or a certificate the configured authorities do not trust, would otherwise make
every front submission fail with an error about a signature the source never made."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

from ..config import ConfigError, Settings
from ..model.content import Attachment
from ..model.metadata import Submission
from .problems import SignatureRefused
from .produce import sign_submission
from .seal import Seal, SealError
from .trust import TrustStore, TrustStoreError

SourceSigner = Callable[[Submission, dict[str, Attachment]], tuple[str, str]]


def source_signer(settings: Settings) -> SourceSigner | None:
    """The signer the fronts ask, or None when no seal is configured; ConfigError when the
    seal cannot be used or would be refused by this server's own verification."""
    key, certificate = settings.front_seal_key, settings.front_seal_cert
    if not (key or certificate):
        return None
    if not (key and certificate):
        raise ConfigError("XDS_FRONT_SEAL_KEY and XDS_FRONT_SEAL_CERT go together: the seal's "
                          "private key and its certificate (PEM files)")
    try:
        seal = Seal.from_files(Path(key), Path(certificate))
    except SealError as exc:
        raise ConfigError(f"XDS_FRONT_SEAL_KEY/XDS_FRONT_SEAL_CERT: {exc}") from None
    _check_trusted(seal, settings)
    signer = seal.certificate.subject.rfc4514_string()[:200]

    def sign(submission: Submission, documents: dict[str, Attachment]) -> tuple[str, str]:
        entry, content = sign_submission(submission, documents, seal)
        documents[entry.entry_uuid] = Attachment.from_bytes(content, entry.mime_type)
        return entry.unique_id, signer

    return sign


def _check_trusted(seal: Seal, settings: Settings) -> None:
    if not settings.signature_trusted_certs:
        return          # nothing verifies signatures here: a remote DMP will
    try:
        TrustStore.from_path(Path(settings.signature_trusted_certs)).chain(
            seal.certificate, seal.chain, dt.datetime.now(dt.UTC),
            settings.signature_accept_sha1)
    except (TrustStoreError, SignatureRefused) as exc:
        raise ConfigError(f"XDS_FRONT_SEAL_CERT would be refused by this server's own "
                          f"verification (XDS_SIGNATURE_TRUSTED_CERTS): {exc}") from None
