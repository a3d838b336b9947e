"""The signed Manifest against the submission received (DSG §5.5.3.1, §5.5.5): one Reference
to the SubmissionSet's uniqueId with the zero digest, one to each other document of the set by
its uniqueId with the digest of the bytes received, and nothing else.

Each rule, and the attack it stops:
1. The SubmissionSet reference names this set's uniqueId: a signed set replayed under another
   set, or the set's uniqueId changed after signing.
2. Every document of the set is referenced, exactly once: a document added after signing, or
   one reference read twice to cover a second document.
3. Nothing is referenced that is not in the set (nor the signature document itself): a
   signature over documents the set does not hold, passed off as covering the ones it does.
4. Each digest is recomputed from the bytes received (streamed; the canonical form only when
   the Reference declares a canonicalisation, as DMP clients do for CDA): a document altered
   or swapped after signing. A mismatch says what the digest is of when it can tell (another
   document of the set: swapped; the document's base64 text or canonical form: a digest of
   other bytes), so an integrator knows what to fix.
5. A document Reference declares no transform (its raw bytes) or inclusive C14N with comments
   (vocabulary.DOCUMENT_TRANSFORMS says why): C14N without comments let a comment added to a
   CDA after signing verify (outside test 19, F02), exclusive C14N a namespace rebound.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections import Counter
from collections.abc import Iterator

from lxml import etree

from ..model.content import Attachment
from ..model.metadata import DocumentEntry, Submission
from ..xmlsafe import MalformedXmlError, UnsafeXmlError, parse_xml
from .problems import SignatureRefused
from .shape import ManifestReference
from .vocabulary import (
    C14N,
    C14N11_COMMENTS,
    C14N_COMMENTS,
    DOCUMENT_TRANSFORMS,
    EXC_C14N_COMMENTS,
    ZERO_DIGESTS,
)

OID_URI = "urn:oid:"
WITH_COMMENTS = frozenset({C14N_COMMENTS, C14N11_COMMENTS, EXC_C14N_COMMENTS})
EXCLUSIVE = frozenset({EXC_C14N_COMMENTS, "http://www.w3.org/2001/10/xml-exc-c14n#"})


def unique_id_of(uri: str) -> str:
    """The uniqueId a Manifest URI names: `urn:oid:1.2.3` (the DMP's form) or the bare id."""
    return uri[len(OID_URI):] if uri.startswith(OID_URI) else uri


def is_zero(value: str) -> bool:
    if value in ZERO_DIGESTS:
        return True
    try:
        return not any(base64.b64decode(value, validate=True))
    except binascii.Error:
        return False


def canonical(data: bytes, algorithm: str) -> bytes:
    """The whole document's canonical form. For a whole document C14N 1.1 and 1.0 give the same
    octets (they differ on document subsets only), and lxml's C14N of a whole tree is correct
    (its sub-element pitfall, see xmlcore.py, concerns subsets)."""
    root = parse_xml(data)
    return etree.tostring(root.getroottree(), method="c14n",
                          exclusive=algorithm in EXCLUSIVE,
                          with_comments=algorithm in WITH_COMMENTS)


class _Digests:
    """Digests of the documents received, computed once each."""

    def __init__(self, documents: dict[str, Attachment]) -> None:
        self.documents = documents
        self._known: dict[tuple[str, str, str | None], str] = {}

    def of(self, entry_uuid: str, digest: str, canonicalization: str | None) -> str:
        key = (entry_uuid, digest, canonicalization)
        if key not in self._known:
            attachment = self.documents[entry_uuid]
            hasher = hashlib.new(digest)
            if canonicalization is None:
                for block in attachment.iter_chunks():
                    hasher.update(block)
            else:
                hasher.update(canonical(attachment.read_bytes(), canonicalization))
            self._known[key] = base64.b64encode(hasher.digest()).decode()
        return self._known[key]


def check_manifest(references: list[ManifestReference], submission: Submission,
                   signature: DocumentEntry, documents: dict[str, Attachment]
                   ) -> list[SignatureRefused]:
    """Every disagreement between the Manifest and the submission (empty: they agree).
    `documents`: each DocumentEntry's bytes, by entryUUID."""
    problems: list[SignatureRefused] = []
    name = submission.source_name
    set_uid = submission.submission_set.unique_id if submission.submission_set else ""
    signed = [d for d in submission.documents if d is not signature]
    by_uid = {d.unique_id: d for d in signed}
    counts = Counter(unique_id_of(r.uri) for r in references)
    problems += [SignatureRefused(f"Manifest/Reference[@URI='{OID_URI}{uid}']",
                                  f"the Manifest references uniqueId {uid} {count} times: "
                                  "one Reference per document")
                 for uid, count in counts.items() if count > 1]
    strangers = [r for r in references
                 if unique_id_of(r.uri) not in by_uid and unique_id_of(r.uri) != set_uid]
    if counts[set_uid] == 0:
        zero = [r for r in strangers if is_zero(r.digest_value)]
        problems.append(_missing_set(set_uid, zero[0] if len(zero) == 1 else None))
        if len(zero) == 1:
            strangers.remove(zero[0])
    for reference in references:
        if unique_id_of(reference.uri) == set_uid and not is_zero(reference.digest_value):
            problems.append(SignatureRefused(
                f"Manifest/Reference[@URI='{reference.uri}']",
                f"the SubmissionSet reference carries the digest '{reference.digest_value}'; "
                "IHE DSG gives it the value 0 (a set has no bytes to digest)"))
    for reference in strangers:
        uid = unique_id_of(reference.uri)
        what = "the signature document itself" if uid == signature.unique_id else \
            "which is not in this submission set"
        problems.append(SignatureRefused(f"Manifest/Reference[@URI='{reference.uri}']",
                                         f"the Manifest signs {reference.uri}, {what}"))
    digests = _Digests(documents)
    for entry in signed:
        label = f"DocumentEntry {name(entry.entry_uuid)} (uniqueId {entry.unique_id})"
        mine = [r for r in references if unique_id_of(r.uri) == entry.unique_id]
        if not mine:
            problems.append(SignatureRefused(
                "Manifest", f"{label} is not signed: the Manifest has no Reference to "
                            f"{OID_URI}{entry.unique_id} (a document added after signing?)"))
            continue
        problem = _check_digest(mine[0], entry, label, signed, digests, name)
        if problem is not None:
            problems.append(problem)
    return problems


def _missing_set(set_uid: str, other_set: ManifestReference | None) -> SignatureRefused:
    """No reference to this set; `other_set`: the one zero-digest reference to an id that is
    not in the submission (the set the signature was made for)."""
    if other_set is not None:
        return SignatureRefused(f"Manifest/Reference[@URI='{other_set.uri}']",
                                f"the Manifest signs the submission set {other_set.uri}, but "
                                f"this submission set's uniqueId is {set_uid} (changed after "
                                "signing, or the signature of another set)")
    return SignatureRefused("Manifest", f"the Manifest has no Reference to this submission set "
                                        f"({OID_URI}{set_uid})")


def _check_digest(reference: ManifestReference, entry: DocumentEntry, label: str,
                  signed: list[DocumentEntry], digests: _Digests, name
                  ) -> SignatureRefused | None:
    where = f"Manifest/Reference[@URI='{reference.uri}']"
    if reference.canonicalization not in DOCUMENT_TRANSFORMS:
        return SignatureRefused(f"{where}/Transforms/Transform",
                                f"{label}: the Reference to {reference.uri} declares the "
                                f"transform {reference.canonicalization}, which leaves bytes of "
                                "the document outside the digest (comments, or namespace "
                                "declarations); a document is digested as its bytes (no "
                                f"transform) or its canonical XML with comments ({C14N_COMMENTS}"
                                f" or {C14N11_COMMENTS})")
    claimed = "".join(reference.digest_value.split())
    try:
        actual = digests.of(entry.entry_uuid, reference.digest, reference.canonicalization)
    except (MalformedXmlError, UnsafeXmlError) as exc:
        return SignatureRefused(where, f"{label}: the Reference digests the document's "
                                       f"canonical XML, but it is not XML this server reads: "
                                       f"{exc}")
    if actual == claimed:
        return None
    for other in signed:
        if other is not entry and _matches(digests, other, reference, claimed):
            return SignatureRefused(where, f"{label}: the bytes the Manifest signs for it are "
                                           f"those received as DocumentEntry "
                                           f"{name(other.entry_uuid)} (uniqueId "
                                           f"{other.unique_id}): documents swapped after "
                                           "signing")
    for form, describe in _other_forms(digests.documents[entry.entry_uuid], reference):
        if form == claimed:
            return SignatureRefused(where, f"{label}: the Manifest's {reference.digest} digest "
                                           f"is that of {describe}, not of the document's "
                                           "bytes as sent")
    return SignatureRefused(where, f"{label}: the document received is not the one signed: "
                                   f"its {reference.digest} digest is {actual}, the Manifest "
                                   f"signs {claimed} (altered or replaced after signing)")


def _matches(digests: _Digests, other: DocumentEntry, reference: ManifestReference,
             claimed: str) -> bool:
    try:
        return digests.of(other.entry_uuid, reference.digest,
                          reference.canonicalization) == claimed
    except (MalformedXmlError, UnsafeXmlError):
        return False


def _other_forms(attachment: Attachment, reference: ManifestReference
                 ) -> Iterator[tuple[str, str]]:
    """Digests of what signers digest by mistake: the base64 text sent inline, the canonical
    XML without declaring the transform (or the raw bytes while declaring it)."""
    data = attachment.read_bytes()

    def b64(octets: bytes) -> str:
        return base64.b64encode(hashlib.new(reference.digest, octets).digest()).decode()

    yield b64(base64.b64encode(data)), "the document's base64 text"
    if reference.canonicalization is not None:
        yield b64(data), "the raw bytes, while the Reference declares a canonicalisation"
        return
    for algorithm, label in ((C14N_COMMENTS, "with comments"), (C14N, "without comments")):
        try:
            form = canonical(data, algorithm)
        except (MalformedXmlError, UnsafeXmlError):
            return
        yield b64(form), (f"the document's canonical XML ({label}), while the Reference "
                          "declares no canonicalisation transform")
