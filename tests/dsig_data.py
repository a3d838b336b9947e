"""A throw-away PKI for the signature tests (made with `cryptography`): an authority (an
IGC Santé stand-in), the organisation seal certificate it issued, and the certificates each
attack needs: an impostor with the seal's name (self-signed), an impostor authority with the
authority's name, another authority's seal, an expired seal and one not valid yet."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from xds_server.dsig.seal import Seal

NOW = dt.datetime.now(dt.UTC)
SEAL_NAME = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
                       x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Hopital Exemple"),
                       x509.NameAttribute(NameOID.COMMON_NAME, "ORG-SIGN 1750099991")])
CA_NAME = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
                     x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Test IGC-Sante"),
                     x509.NameAttribute(NameOID.COMMON_NAME, "Test AC Organisations")])
OTHER_CA_NAME = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Another authority")])


# One key per role and per process (an RSA-2048 key costs 0.1-1 s on a loaded machine, and
# SealAuthority.create makes thirteen): within an authority every role still has its own key,
# so what each attack changes (another key, another issuer) is unchanged; authorities of
# different modules are never used together.
_KEYS: dict[str, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey] = {}


def _key(role: str, kind: str = "rsa"):
    if role not in _KEYS:
        _KEYS[role] = (ec.generate_private_key(ec.SECP256R1()) if kind == "ec" else
                       rsa.generate_private_key(public_exponent=65537, key_size=2048))
    return _KEYS[role]


def _certificate(subject: x509.Name, key, issuer: x509.Name, issuer_key, *, ca: bool,
                 start: dt.datetime = NOW - dt.timedelta(days=1),
                 end: dt.datetime = NOW + dt.timedelta(days=30),
                 usage: str = "sign") -> x509.Certificate:
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(start).not_valid_after(end)
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if not ca:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=usage == "sign", content_commitment=usage == "sign",
            key_encipherment=usage != "sign", data_encipherment=False, key_agreement=False,
            key_cert_sign=False, crl_sign=False, encipher_only=False, decipher_only=False),
            critical=True)
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(*certificates: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certificates)


def _key_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


@dataclass
class SealAuthority:
    """The files of the PKI under `directory`: `trusted` is what XDS_SIGNATURE_TRUSTED_CERTS
    names; each seal is a (key, certificate) pair of PEM files, `seal(name)` loads one."""

    directory: Path

    @classmethod
    def create(cls, directory: Path) -> SealAuthority:
        directory.mkdir(parents=True, exist_ok=True)
        ca_key, other_key, fake_ca_key = _key("ca"), _key("other-ca"), _key("fake-ca")
        ca = _certificate(CA_NAME, ca_key, CA_NAME, ca_key, ca=True,
                          start=NOW - dt.timedelta(days=3650))
        other_ca = _certificate(OTHER_CA_NAME, other_key, OTHER_CA_NAME, other_key, ca=True)
        intermediate_key = _key("intermediate")
        intermediate_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME,
                                                          "Test AC intermediaire")])
        intermediate = _certificate(intermediate_name, intermediate_key, CA_NAME, ca_key,
                                    ca=True)
        (directory / "ca.pem").write_bytes(_pem(ca))
        seals = {
            "seal": (CA_NAME, ca_key, {}),
            "ec-seal": (CA_NAME, ca_key, {"kind": "ec"}),
            "impostor": (SEAL_NAME, None, {}),                # self-signed, the seal's name
            "fake-authority": (CA_NAME, fake_ca_key, {}),     # "issued" by a false CA
            "other-authority": (OTHER_CA_NAME, other_key, {}),
            "expired": (CA_NAME, ca_key, {"start": NOW - dt.timedelta(days=400),
                                          "end": NOW - dt.timedelta(days=35)}),
            "not-yet-valid": (CA_NAME, ca_key, {"start": NOW + dt.timedelta(days=2)}),
            "encipherment-only": (CA_NAME, ca_key, {"usage": "encrypt"}),
            "via-intermediate": (intermediate_name, intermediate_key, {}),
        }
        for name, (issuer, issuer_key, options) in seals.items():
            key = _key(name, options.pop("kind", "rsa"))
            certificate = _certificate(SEAL_NAME, key, issuer, issuer_key or key, ca=False,
                                       **options)
            chain = [certificate, intermediate] if name == "via-intermediate" else [certificate]
            (directory / f"{name}.key").write_bytes(_key_pem(key))
            (directory / f"{name}.pem").write_bytes(_pem(*chain))
        (directory / "other-ca.pem").write_bytes(_pem(other_ca))
        return cls(directory)

    @property
    def trusted(self) -> Path:
        return self.directory / "ca.pem"

    def files(self, name: str = "seal") -> tuple[Path, Path]:
        return self.directory / f"{name}.key", self.directory / f"{name}.pem"

    def seal(self, name: str = "seal") -> Seal:
        return Seal.from_files(*self.files(name))


def fresh(path: Path, directory: Path) -> Path:
    """A copy of a CDA under a new document id (so each test registers new documents)."""
    import uuid

    from lxml import etree

    root = etree.parse(str(path)).getroot()
    root.find("{urn:hl7-org:v3}id").set("root", f"2.25.{uuid.uuid4().int}")
    copy = directory / f"{uuid.uuid4().hex}-{path.name}"
    copy.write_bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))
    return copy


def cda_submission(paths, patient: str):
    """A submission of CDA files as `xds-server submit` builds it: (submission, documents by
    entryUUID)."""
    from xds_server.consumer.sources import SourceOptions, submission_for_files
    from xds_server.model.content import Attachment

    submission, files = submission_for_files(list(paths), patient, SourceOptions())
    documents = {doc_id: Attachment.from_bytes(Path(path).read_bytes(), "text/xml")
                 for doc_id, path in files.items()}
    return submission, documents


def signed_submission(authority: SealAuthority, paths, patient: str, seal: str = "seal",
                      **options):
    """(submission, documents, signature entry) signed by the seal `seal`."""
    from xds_server.dsig.produce import sign_submission
    from xds_server.model.content import Attachment

    submission, documents = cda_submission(paths, patient)
    entry, content = sign_submission(submission, documents, authority.seal(seal), **options)
    documents[entry.entry_uuid] = Attachment.from_bytes(content, "text/xml")
    return submission, documents, entry


def with_uuids(submission, documents: dict | None = None) -> None:
    """New urn:uuid entryUUIDs for every object (and `documents`, keyed by them)."""
    renamed = {}
    for obj in (submission.submission_set, *submission.documents, *submission.associations):
        renamed[obj.entry_uuid] = f"urn:uuid:{uuid.uuid4()}"
        obj.entry_uuid = renamed[obj.entry_uuid]
    for association in submission.associations:
        association.source = renamed.get(association.source, association.source)
        association.target = renamed.get(association.target, association.target)
    if documents is not None:
        for old, new in renamed.items():
            if old in documents:
                documents[new] = documents.pop(old)


def fake_signed_submission(path: Path, patient: str, repository: str):
    """Outside test 19 F01: a CDA and a fake signature entry (its codes and `signs`, no bytes:
    hash 000…), every entry naming `repository`, as an ITI-42 sent straight to a registry.
    (submission, the fake signature entry)."""
    import hashlib

    from xds_server.dsig.produce import signature_entry
    from xds_server.model import vocabulary as v
    from xds_server.model.metadata import Association

    submission, documents = cda_submission([path], patient)
    package = submission.submission_set
    fake = signature_entry(submission, f"2.25.{uuid.uuid4().int}", "Signature01",
                           "1.2.840.10065.1.12.1.14", dt.datetime.now(dt.UTC))
    submission.documents.append(fake)
    submission.associations += [
        Association("SignatureMembership", v.HAS_MEMBER, package.entry_uuid, fake.entry_uuid,
                    slots={"SubmissionSetStatus": ["Original"]}),
        Association("SignatureSignsSet", v.SIGNS, fake.entry_uuid, package.entry_uuid)]
    for entry in submission.documents:
        content = documents.get(entry.entry_uuid)
        entry.hash = hashlib.sha1(content.read_bytes()).hexdigest() if content else "0" * 40
        entry.size = str(content.size) if content else "1"
        entry.repository_unique_id = repository
    return submission, fake
