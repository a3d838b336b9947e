"""The XAdES signed properties a submission-set signature carries (ETSI TS 101 903, v1.1.1 as
the DMP's clients write it, or v1.3.2): when it was signed, with which certificate, for what.

Read by the same rules as the rest of the signature (shape.py): each value whole, each property
once (two SigningTimes: which one was checked?), from the SignedProperties element the
signature covers. In v1.1.1 the CertDigest's DigestMethod and DigestValue are XAdES elements,
in v1.3.2 XML-Signature ones: both are read.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
from dataclasses import dataclass

from cryptography import x509
from lxml import etree

from .certificates import der_of
from .problems import SignatureRefused
from .shape import ds, elements, local, no_text, whole_text
from .vocabulary import DIGESTS, DS

WHERE = "SignedProperties/SignedSignatureProperties"


@dataclass(frozen=True)
class CertReference:
    digest: str            # hashlib name
    value: bytes
    serial: int | None


@dataclass(frozen=True)
class SignedProperties:
    signing_time: dt.datetime
    certificates: tuple[CertReference, ...]
    purposes: tuple[str, ...]

    @property
    def uses_sha1(self) -> str | None:
        if any(c.digest == "sha1" for c in self.certificates):
            return f"{WHERE}/SigningCertificate/Cert/CertDigest"
        return None


def _one(parent: etree._Element, name: str, where: str, required: bool = True
         ) -> etree._Element | None:
    qualified = "}" + name          # local(c) == name, without splitting every tag
    found = [c for c in parent
             if isinstance(c.tag, str) and (c.tag == name or c.tag.endswith(qualified))]
    if len(found) > 1:
        raise SignatureRefused(where, f"{where} holds {name} {len(found)} times")
    if not found and required:
        raise SignatureRefused(where, f"{where} has no {name}")
    return found[0] if found else None


def signing_time(text: str, where: str) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise SignatureRefused(where, f"SigningTime '{text}' is not an xs:dateTime") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def read_signed_properties(signed_properties: etree._Element) -> SignedProperties:
    no_text(signed_properties, "SignedProperties")
    signature_properties = _one(signed_properties, "SignedSignatureProperties",
                                "SignedProperties")
    assert signature_properties is not None
    no_text(signature_properties, WHERE)
    time_element = _one(signature_properties, "SigningTime", WHERE)
    assert time_element is not None
    moment = signing_time(whole_text(time_element, f"{WHERE}/SigningTime"),
                          f"{WHERE}/SigningTime")
    certificate = _one(signature_properties, "SigningCertificate", WHERE)
    assert certificate is not None
    cert_references = tuple(_cert(cert) for cert in elements(certificate))
    if not cert_references or any(local(c) != "Cert" for c in elements(certificate)):
        raise SignatureRefused(f"{WHERE}/SigningCertificate", "SigningCertificate must hold "
                                                              "Cert elements")
    purposes: list[str] = []
    data_objects = _one(signed_properties, "SignedDataObjectProperties", "SignedProperties",
                        required=False)
    if data_objects is not None:
        for indication in (c for c in elements(data_objects)
                           if local(c) == "CommitmentTypeIndication"):
            type_id = _one(indication, "CommitmentTypeId", "CommitmentTypeIndication")
            identifier = _one(type_id, "Identifier", "CommitmentTypeId")
            text = whole_text(identifier, "CommitmentTypeId/Identifier")
            purposes.append(text.removeprefix("urn:oid:"))
    return SignedProperties(moment, cert_references, tuple(purposes))


def _cert(cert: etree._Element) -> CertReference:
    where = f"{WHERE}/SigningCertificate/Cert"
    no_text(cert, where)
    digest = _one(cert, "CertDigest", where)
    method = _one(digest, "DigestMethod", f"{where}/CertDigest")
    value = _one(digest, "DigestValue", f"{where}/CertDigest")
    algorithm = method.get("Algorithm") or ""
    if algorithm not in DIGESTS:
        raise SignatureRefused(f"{where}/CertDigest", f"CertDigest algorithm '{algorithm}' is "
                                                      "not accepted")
    try:
        decoded = base64.b64decode("".join(whole_text(value, f"{where}/CertDigest").split()),
                                   validate=True)
    except binascii.Error:
        raise SignatureRefused(f"{where}/CertDigest", "CertDigest/DigestValue is not base64"
                               ) from None
    serial = None
    issuer_serial = _one(cert, "IssuerSerial", where, required=False)
    if issuer_serial is not None:
        number = issuer_serial.find(ds("X509SerialNumber"))
        if number is None:
            raise SignatureRefused(f"{where}/IssuerSerial", "IssuerSerial has no "
                                                            f"X509SerialNumber in {DS}")
        text = whole_text(number, f"{where}/IssuerSerial/X509SerialNumber")
        if not text.isdigit():
            raise SignatureRefused(f"{where}/IssuerSerial", f"X509SerialNumber '{text}' is not "
                                                            "a decimal integer")
        serial = int(text)
    return CertReference(DIGESTS[algorithm], decoded, serial)


def signer_of(certificates: list[x509.Certificate], properties: SignedProperties
              ) -> x509.Certificate:
    """The certificate of KeyInfo that SigningCertificate names (by digest, and serial when
    given): the one whose key must verify the signature. A KeyInfo certificate nobody names
    is only a chain candidate."""
    for reference in properties.certificates:
        for certificate in certificates:
            if hashlib.new(reference.digest, der_of(certificate)).digest() != reference.value:
                continue
            if reference.serial is not None and reference.serial != certificate.serial_number:
                raise SignatureRefused(f"{WHERE}/SigningCertificate/Cert/IssuerSerial",
                                       f"SigningCertificate names serial {reference.serial}, "
                                       f"the certificate it digests has "
                                       f"{certificate.serial_number}")
            return certificate
    raise SignatureRefused(f"{WHERE}/SigningCertificate",
                           "the signed SigningCertificate digest matches no certificate of "
                           "KeyInfo: the signer's certificate is not the one the signature "
                           "carries")
