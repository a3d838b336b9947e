"""The checks the actors run, built from the settings (app.py wires them):

- the repository, on every ITI-41: the whole verification (verify.py), each CDA's own
  signature (cda.py), and an audit record of what was verified (IHE DSG §5.5.7.2: event
  110007 "Report Verification", `urn:ihe:iti:dsg`);
- the registry, on every ITI-42: the metadata part (metadata.py).

Settings: XDS_REQUIRE_SUBMISSION_SIGNATURE (on in the cisis profile), XDS_SIGNATURE_TRUSTED_CERTS
(the authorities of seal certificates), XDS_SIGNATURE_MAX_AGE, XDS_SIGNATURE_ACCEPT_SHA1,
XDS_REQUIRE_CDA_SIGNATURE.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..config import ConfigError, Settings
from ..model.content import Attachment
from ..model.errors import ErrorCode, RegistryError, error
from ..model.hl7 import patient_key
from ..model.metadata import Submission
from ..security.principal import Principal
from ..xmlsafe import MalformedXmlError, UnsafeXmlError
from .cda import CdaSignature, CdaSignatureVerifier
from .metadata import SignatureMetadataCheck
from .trust import TrustStore, TrustStoreError
from .verify import SubmissionSignatureVerifier
from .vocabulary import claims_to_be_signature

AUDIT_TRANSACTION = "DSG"          # the audit table of security/audit_export.py
CDA_MIME_TYPES = frozenset({"text/xml", "application/xml", "application/hl7-v3+xml"})
Audit = Callable[..., None]        # store.audit_writer.ReadAuditWriter.record


@dataclass
class SignedSubmissionCheck:
    """Run by the repository on ITI-41 after the documents are paired with their entries;
    `audit`: where the verification is recorded (the repository's audit writer)."""

    verifier: SubmissionSignatureVerifier
    cda: CdaSignatureVerifier
    require_cda_signature: bool = False
    audit: Audit | None = None

    def __call__(self, submission: Submission, documents: dict[str, Attachment],
                 principal: Principal) -> list[RegistryError]:
        verdict = self.verifier.verify(submission, documents)
        errors = list(verdict.errors)
        details = [verdict.audit_detail()] if verdict.signed or errors else []
        verified = [verdict.signature_unique_id] if verdict.signature_unique_id else []
        for entry in submission.documents:
            if claims_to_be_signature(entry) or \
                    (entry.mime_type or "").split(";")[0].strip() not in CDA_MIME_TYPES:
                continue
            result = self._cda_signature(documents[entry.entry_uuid])
            if result.status != "unsigned" or self.require_cda_signature:
                details.append(f"cda_signature={entry.unique_id} {result.describe()}")
                verified.append(entry.unique_id)
            if self.require_cda_signature and not (result.status == "valid" and result.trusted):
                errors.append(error(
                    ErrorCode.REPOSITORY_METADATA_ERROR,
                    f"DocumentEntry {submission.source_name(entry.entry_uuid)} (uniqueId "
                    f"{entry.unique_id}): the document must carry a valid signature "
                    f"(XDS_REQUIRE_CDA_SIGNATURE): {result.describe()}", "Document"))
        if self.audit is not None and details and submission.submission_set is not None:
            self.audit(dataclasses.replace(principal, transaction=AUDIT_TRANSACTION), "R",
                       "failure" if errors else "success",
                       patient_key(submission.submission_set.patient_id), verified,
                       AUDIT_TRANSACTION,
                       "\n".join([f"submission_set={submission.submission_set.unique_id}",
                                  *details]))
        return errors

    def _cda_signature(self, attachment: Attachment) -> CdaSignature:
        try:
            return self.cda.check_bytes(attachment.read_bytes())
        except (MalformedXmlError, UnsafeXmlError) as exc:   # the CDA check says it too
            return CdaSignature("invalid", f"not XML this server reads: {exc}")


def signature_checks(settings: Settings
                     ) -> tuple[SignedSubmissionCheck | None, SignatureMetadataCheck]:
    """(the repository's check, or None when nothing can be verified; the registry's)."""
    dmp = settings.profile == "cisis"
    metadata = SignatureMetadataCheck(settings.require_submission_signature, dmp)
    trust = trust_store(settings)
    if trust is None:
        return None, metadata
    verifier = SubmissionSignatureVerifier(
        trust, settings.require_submission_signature, dmp,
        max_age=dt.timedelta(seconds=settings.signature_max_age),
        accept_sha1=settings.signature_accept_sha1)
    cda = CdaSignatureVerifier(trust, accept_sha1=settings.signature_accept_sha1)
    return SignedSubmissionCheck(verifier, cda, settings.require_cda_signature), metadata


def trust_store(settings: Settings) -> TrustStore | None:
    """The authorities of XDS_SIGNATURE_TRUSTED_CERTS; ConfigError when a requirement needs
    them and they are missing or unreadable."""
    path = settings.signature_trusted_certs
    if not path:
        for name, on, why in (("XDS_REQUIRE_SUBMISSION_SIGNATURE",
                               settings.require_submission_signature,
                               " (the default in the cisis profile)"),
                              ("XDS_REQUIRE_CDA_SIGNATURE", settings.require_cda_signature, "")):
            if on:
                raise ConfigError(f"{name}=true{why} needs XDS_SIGNATURE_TRUSTED_CERTS: the "
                                  "PEM file or directory of the authorities that issue seal "
                                  "certificates (IGC Santé); or "
                                  f"{name}=false on a test platform")
        return None
    try:
        return TrustStore.from_path(Path(path))
    except (OSError, TrustStoreError) as exc:
        raise ConfigError(f"XDS_SIGNATURE_TRUSTED_CERTS: cannot load the certificates: {exc}"
                          ) from None
