"""A VIHF for the consumer CLI: a SAML 2.0 assertion shaped like the DMP's
(ANS, "VIHF_example_automate_DMP.xml"), signed with xmlsec by the caller's key and certificate.

The server verifies it (security/vihf.py): signature over the assertion itself (one Reference
to its ID), Issuer equal to the signing certificate's subject, a recent IssueInstant, and the
patient (resource-id), the person (NameID), a role and a purpose of use.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
import uuid
from dataclasses import dataclass
from pathlib import Path

import xmlsec
from lxml import etree

from ..model.metadata import Author
from ..security.acting_author import acting_author
from ..security.principal import Principal
from ..security.vihf_reading import ROLE_KINDS
from ..security.x509 import subject_of

SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
HL7 = "urn:hl7-org:v3"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
PURPOSE_OF_USE_SYSTEM = "1.2.250.1.213.1.1.4.248"
PROFESSION_SYSTEM = "1.2.250.1.71.1.2.7"          # TRE_G15-ProfessionSante
_PEM = re.compile(rb"-----BEGIN CERTIFICATE-----(.+?)-----END CERTIFICATE-----", re.S)


@dataclass(frozen=True)
class VihfClaims:
    """Who asks, for which patient, as what, why."""

    patient_id: str                 # the INS in CX form, as the transaction names it
    subject_id: str                 # NameID: the professional's national id (RPPS/ADELI)
    role: str = "10"                # a profession code (10: médecin)
    role_system: str = PROFESSION_SYSTEM
    structure_id: str = ""
    purpose_of_use: str = "normal"
    subject_name: str = ""
    activity_sector: str = "SA07^1.2.250.1.71.4.2.4"


def role_system(code: str) -> str:
    """The code system of a VIHF role code: PATIENT, REPRESENTANT_LEGAL, ADMINISTRATEUR and
    AUTOMATE are of TRE_A00 (1.2.250.1.213.1.1.4.6), any other a profession (TRE_G15): a
    PATIENT signed in the profession system made the server treat the caller as a
    professional (finding 29)."""
    return next((system for system, role in ROLE_KINDS if role == code), PROFESSION_SYSTEM)


def claims_principal(claims: VihfClaims) -> Principal:
    """The Principal the server will read from these claims (the author of the caller's
    changes: security/acting_author.py)."""
    kind = ROLE_KINDS.get((claims.role_system, claims.role), "professional")
    return Principal(claims.subject_id, kind, claims.structure_id, claims.purpose_of_use,
                     claims.patient_id, {"profession": f"{claims.role}^{claims.role_system}",
                                         "name": claims.subject_name})


def claims_author(claims: VihfClaims) -> Author | None:
    """The author of a change made under these claims (security/acting_author.py: the same
    rule as over FHIR)."""
    return acting_author(claims_principal(claims))


def issuer_of(certificate_pem: bytes) -> str:
    """The certificate's subject DN as the assertion's Issuer ('C=FR,O=…,CN=…')."""
    found = _PEM.search(certificate_pem)
    if found is None:
        raise ValueError("no PEM certificate in the file")
    der = base64.b64decode(b"".join(found.group(1).split()))
    return ",".join(f"{name}={value}" for name, value in sorted(subject_of(der)))


def build_assertion(claims: VihfClaims, issuer: str,
                    issued: dt.datetime | None = None) -> etree._Element:
    issued = issued or dt.datetime.now(dt.UTC)
    root = etree.Element(f"{{{SAML}}}Assertion", nsmap={None: SAML, "xsi": XSI},
                         ID=f"_{uuid.uuid4()}", Version="2.0",
                         IssueInstant=issued.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
    etree.SubElement(root, f"{{{SAML}}}Issuer",
                     Format="urn:oasis:names:tc:SAML:1.1:nameid-format:X509SubjectName"
                     ).text = issuer
    etree.SubElement(etree.SubElement(root, f"{{{SAML}}}Subject"), f"{{{SAML}}}NameID"
                     ).text = claims.subject_id
    statement = etree.SubElement(root, f"{{{SAML}}}AttributeStatement")

    def attribute(name: str, *values: str | etree._Element) -> None:
        holder = etree.SubElement(statement, f"{{{SAML}}}Attribute", Name=name)
        for value in values:
            element = etree.SubElement(holder, f"{{{SAML}}}AttributeValue")
            if isinstance(value, str):
                element.text = value
            else:
                element.append(value)

    def coded(tag: str, code: str, system: str) -> etree._Element:
        element = etree.Element(f"{{{HL7}}}{tag}", nsmap={None: HL7}, code=code,
                                codeSystem=system)
        element.set(f"{{{XSI}}}type", "CE")
        return element

    attribute("VIHF_Version", "3.0")
    attribute("Authentification_Mode", "INDIRECTE")
    attribute("Secteur_Activite", claims.activity_sector)
    attribute("Identifiant_Structure", claims.structure_id)
    attribute("urn:oasis:names:tc:xacml:2.0:resource:resource-id", claims.patient_id)
    attribute("Ressource_URN", "urn:dmp")
    attribute("urn:oasis:names:tc:xspa:1.0:subject:subject-id",
              claims.subject_name or claims.subject_id)
    attribute("urn:oasis:names:tc:xspa:1.0:subject:purposeofuse",
              coded("PurposeOfUse", claims.purpose_of_use, PURPOSE_OF_USE_SYSTEM))
    attribute("urn:oasis:names:tc:xacml:2.0:subject:role",
              coded("Role", claims.role, claims.role_system))
    return root


def sign(assertion: etree._Element, key_path: Path, certificate_path: Path) -> etree._Element:
    """Enveloped RSA-SHA256 signature over the assertion (exclusive c14n), certificate in
    KeyInfo, placed after the Issuer as SAML 2.0 requires."""
    signature = xmlsec.template.create(assertion, xmlsec.constants.TransformExclC14N,
                                       xmlsec.constants.TransformRsaSha256)
    assertion.insert(1, signature)
    reference = xmlsec.template.add_reference(signature, xmlsec.constants.TransformSha256,
                                              uri=f"#{assertion.get('ID')}")
    xmlsec.template.add_transform(reference, xmlsec.constants.TransformEnveloped)
    xmlsec.template.add_transform(reference, xmlsec.constants.TransformExclC14N)
    key_info = xmlsec.template.ensure_key_info(signature)
    xmlsec.template.x509_data_add_certificate(xmlsec.template.add_x509_data(key_info))
    key = xmlsec.Key.from_file(str(key_path), xmlsec.constants.KeyDataFormatPem)
    key.load_cert_from_file(str(certificate_path), xmlsec.constants.KeyDataFormatPem)
    context = xmlsec.SignatureContext()
    context.key = key
    xmlsec.tree.add_ids(assertion, ["ID"])
    context.sign(signature)
    return assertion


def signed_vihf(claims: VihfClaims, key_path: Path, certificate_path: Path) -> etree._Element:
    issuer = issuer_of(certificate_path.read_bytes())
    return sign(build_assertion(claims, issuer), key_path, certificate_path)


def security_header(assertion: etree._Element) -> etree._Element:
    """The wsse:Security header block that carries the assertion."""
    header = etree.Element(f"{{{WSSE}}}Security", nsmap={"wsse": WSSE})
    header.append(assertion)
    return header
