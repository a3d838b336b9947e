"""Verification of a signed submission set, in the order that makes what is read what was
signed (ITI-41: metadata, then the signature document, then the bytes):

1. the metadata part (metadata.py): one signature DocumentEntry, its codes, its `signs`;
2. the signature document, no larger than MAX_SIGNATURE_BYTES, parsed by the hardened parser;
3. its shape (shape.py), SHA-256 or stronger (SHA-1 with XDS_SIGNATURE_ACCEPT_SHA1, as for
   the VIHF), the certificate SigningCertificate names (xades.py);
4. XML-Signature core validation by xmlsec with that certificate's key (xmlcore.py);
5. the signing time: not in the future, not older than `max_age` (a signature made long ago,
   or backdated into a since-expired certificate's validity, replayed now);
6. the certificate chain to a trusted authority, valid at the signing time (trust.py);
7. the signed purposes in the DocumentEntry's eventCodeList (DSG §5.5.6.1.5);
8. the Manifest against the set and the bytes received (manifest.py).

Every refusal is a RegistryError naming the signature document and the reference or field;
the DMP's own error codes for these are not public (CI-SIS notes, "Not verified"), so the code
is the repository's (or, on ITI-42, the registry's) metadata error.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

from ..model.content import Attachment
from ..model.errors import ErrorCode, RegistryError, error
from ..model.metadata import DocumentEntry, Submission
from ..xmlsafe import MalformedXmlError, UnsafeXmlError, parse_xml
from .certificates import subject_of
from .manifest import check_manifest
from .metadata import UNSIGNED, find_signature
from .problems import SignatureRefused
from .shape import read_signature
from .trust import TrustStore
from .vocabulary import PURPOSE_SYSTEM, SHA1_ONLY
from .xades import read_signed_properties, signer_of
from .xmlcore import verify_core

MAX_SIGNATURE_BYTES = 1024 * 1024


@dataclass
class Verdict:
    """What the verification found: `signed` (and then valid when `errors` is empty)."""

    signed: bool
    errors: list[RegistryError] = field(default_factory=list)
    signature_unique_id: str = ""
    signer: str = ""
    signing_time: str = ""

    @property
    def valid(self) -> bool:
        return self.signed and not self.errors

    def audit_detail(self) -> str:
        """key=value lines for the audit trail."""
        lines = [f"signature={'valid' if self.valid else 'refused' if self.signed else 'none'}"]
        if self.signature_unique_id:
            lines.append(f"signature_document={self.signature_unique_id}")
        if self.signer:
            lines += [f"signer={self.signer}", f"signing_time={self.signing_time}"]
        lines += [f"reason={e.context}" for e in self.errors[:5]]
        return "\n".join(lines)


@dataclass
class SubmissionSignatureVerifier:
    trust: TrustStore
    required: bool = True
    dmp: bool = True                  # the DMP's codes (profile cisis), else IHE DSG's
    max_age: dt.timedelta = dt.timedelta(days=1)
    clock_skew: dt.timedelta = dt.timedelta(minutes=5)
    now: Callable[[], dt.datetime] = field(default=lambda: dt.datetime.now(dt.UTC))
    max_bytes: int = MAX_SIGNATURE_BYTES
    accept_sha1: bool = False

    def verify(self, submission: Submission, documents: dict[str, Attachment],
               code: ErrorCode = ErrorCode.REPOSITORY_METADATA_ERROR) -> Verdict:
        """ITI-41: everything; `documents` holds each DocumentEntry's bytes by entryUUID."""
        found = find_signature(submission, self.dmp)
        if found.entry is None:
            return Verdict(False, [error(code, UNSIGNED, "SubmissionSet")] if self.required
                           else [])
        entry = found.entry
        verdict = Verdict(True, signature_unique_id=entry.unique_id)
        if found.problems:
            verdict.errors = [error(code, p.reason, p.where) for p in found.problems]
            return verdict
        label = (f"signature document {submission.source_name(entry.entry_uuid)} "
                 f"(uniqueId {entry.unique_id})")
        try:
            problems = self._verify(submission, entry, documents, verdict)
        except SignatureRefused as refused:
            problems = [refused]
        verdict.errors = [error(code, f"{label}: {p.reason}", p.where) for p in problems]
        return verdict

    def _verify(self, submission: Submission, entry: DocumentEntry,
                documents: dict[str, Attachment], verdict: Verdict) -> list[SignatureRefused]:
        attachment = documents[entry.entry_uuid]
        if attachment.size > self.max_bytes:
            raise SignatureRefused("Document", f"{attachment.size} bytes; a signature document "
                                               f"is at most {self.max_bytes}")
        try:
            root = parse_xml(attachment.read_bytes())
        except (MalformedXmlError, UnsafeXmlError) as exc:
            raise SignatureRefused("Document", f"not XML this server reads: {exc}") from None
        parts = read_signature(root)
        properties = read_signed_properties(parts.signed_properties)
        weak = parts.uses_sha1 or properties.uses_sha1
        if weak and not self.accept_sha1:
            raise SignatureRefused(weak, SHA1_ONLY)
        signer = signer_of(parts.certificates, properties)
        verify_core(parts, signer)
        verdict.signer = subject_of(signer)
        verdict.signing_time = properties.signing_time.isoformat()
        self._check_time(properties.signing_time)
        self.trust.chain(signer, [c for c in parts.certificates if c is not signer],
                         properties.signing_time, self.accept_sha1)
        problems = self._check_purposes(entry, properties.purposes)
        return problems + check_manifest(parts.manifest_references, submission, entry,
                                         documents)

    def _check_time(self, signed_at: dt.datetime) -> None:
        now = self.now()
        where = "SignedProperties/SignedSignatureProperties/SigningTime"
        if signed_at > now + self.clock_skew:
            raise SignatureRefused(where, f"the signing time {signed_at.isoformat()} is in the "
                                          "future")
        if now - signed_at > self.max_age + self.clock_skew:
            raise SignatureRefused(where, f"signed {signed_at.isoformat()}, more than "
                                          f"{int(self.max_age.total_seconds())} s ago "
                                          "(XDS_SIGNATURE_MAX_AGE): a submission is signed "
                                          "when it is sent")

    @staticmethod
    def _check_purposes(entry: DocumentEntry, purposes: tuple[str, ...]
                        ) -> list[SignatureRefused]:
        listed = {c.code for c in entry.event_codes if c.scheme == PURPOSE_SYSTEM}
        return [SignatureRefused("DocumentEntry.eventCodeList",
                                 f"the signature is signed for purpose {purpose}, which its "
                                 f"eventCodeList does not carry (codingScheme "
                                 f"{PURPOSE_SYSTEM})")
                for purpose in purposes if purpose not in listed]
