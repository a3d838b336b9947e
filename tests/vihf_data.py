"""A test certificate authority (made with the openssl CLI) and VIHF assertions signed with it,
shaped like the DMP's (reference/security/VIHF_example_automate_DMP.xml)."""

from __future__ import annotations

import datetime as dt
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

import xmlsec
from lxml import etree

from xds_server.security.vihf import DS, HL7, PURPOSE_OF_USE_SYSTEM, SAML

WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
SIGNER_DN = "C=FR, ST=Paris (75), O=Hopital Exemple, CN=DMP SIGN"
PROFESSION = "1.2.250.1.71.1.2.7"
NON_PROFESSIONAL = "1.2.250.1.213.1.1.4.6"


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


# One key per role and per process (an RSA-2048 key costs 0.1-1 s on a loaded machine): in an
# authority the CA, the signer and the impostor keep keys of their own, so the impostor still
# fails for its key and issuer; the certificates issued for the rules (`issue`) differ by what
# the CA writes in them, not by their key. Authorities of different modules are never used
# together.
_KEYS: dict[str, bytes] = {}


def _cached_key(role: str, key: str, path: Path) -> None:
    """Write the process's key for `role` (`key` 'rsa:BITS' or 'ec:CURVE') at `path`."""
    if role not in _KEYS:
        kind, _, size = key.partition(":")
        option = f"rsa_keygen_bits:{size}" if kind == "rsa" else f"ec_paramgen_curve:{size}"
        _openssl("genpkey", "-algorithm", kind.upper(), "-pkeyopt", option, "-out", path.name,
                 cwd=path.parent)
        _KEYS[role] = path.read_bytes()
    path.write_bytes(_KEYS[role])


@dataclass
class SigningAuthority:
    """A CA, a signing certificate it issued, and a self-signed impostor with the same DN."""

    directory: Path

    @classmethod
    def create(cls, directory: Path) -> SigningAuthority:
        directory.mkdir(parents=True, exist_ok=True)
        subject = "/" + "/".join(SIGNER_DN.split(", "))
        for role in ("ca", "signer", "impostor"):
            _cached_key(role, "rsa:2048", directory / f"{role}.key")
        _openssl("req", "-x509", "-key", "ca.key", "-out", "ca.pem", "-days", "3", "-subj",
                 "/C=FR/O=Test IGC-Sante/CN=Test CA", cwd=directory)
        _openssl("req", "-new", "-key", "signer.key", "-out", "signer.csr", "-subj", subject,
                 cwd=directory)
        _openssl("x509", "-req", "-in", "signer.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                 "-CAcreateserial", "-out", "signer.pem", "-days", "2", cwd=directory)
        _openssl("req", "-x509", "-key", "impostor.key", "-out", "impostor.pem", "-days", "2",
                 "-subj", subject, cwd=directory)
        return cls(directory)

    @property
    def trusted(self) -> Path:
        return self.directory / "ca.pem"

    def issue(self, name: str, *, key: str = "rsa:2048", digest: str = "sha256",
              extensions: str = "") -> str:
        """A signing certificate `name` the CA issues with the signer's DN (the openssl CLI:
        `cryptography` will not make the weak ones): `key` 'rsa:BITS' or 'ec:CURVE', the CA's
        `digest`, `extensions` as openssl config lines. Returns `name` for `sign(signer=)`."""
        _cached_key(f"issued {key}", key, self.directory / f"{name}.key")
        _openssl("req", "-new", "-key", f"{name}.key", "-out", f"{name}.csr", "-subj",
                 "/" + "/".join(SIGNER_DN.split(", ")), cwd=self.directory)
        (self.directory / f"{name}.ext").write_text(extensions + "\n")
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                 "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", f"-{digest}",
                 "-extfile", f"{name}.ext", cwd=self.directory)
        return name

    def sign(self, assertion: etree._Element, impostor: bool = False,
             sha1: bool = False, signer: str | None = None) -> etree._Element:
        """Sign with the signer's certificate, the impostor's, the CA's own ('ca') or one
        `issue` made."""
        name = signer or ("impostor" if impostor else "signer")
        method, digest = ((xmlsec.constants.TransformRsaSha1, xmlsec.constants.TransformSha1)
                          if sha1 else (xmlsec.constants.TransformRsaSha256,
                                        xmlsec.constants.TransformSha256))
        if _is_ec(self.directory / f"{name}.key"):
            method = xmlsec.constants.TransformEcdsaSha256
        signature = xmlsec.template.create(assertion, xmlsec.constants.TransformExclC14N, method)
        assertion.insert(1, signature)                     # after Issuer
        reference = xmlsec.template.add_reference(signature, digest,
                                                  uri=f"#{assertion.get('ID')}")
        xmlsec.template.add_transform(reference, xmlsec.constants.TransformEnveloped)
        xmlsec.template.add_transform(reference, xmlsec.constants.TransformExclC14N)
        key_info = xmlsec.template.ensure_key_info(signature)
        xmlsec.template.x509_data_add_certificate(xmlsec.template.add_x509_data(key_info))
        key = xmlsec.Key.from_file(str(self.directory / f"{name}.key"),
                                   xmlsec.constants.KeyDataFormatPem)
        key.load_cert_from_file(str(self.directory / f"{name}.pem"),
                                xmlsec.constants.KeyDataFormatPem)
        context = xmlsec.SignatureContext()
        context.key = key
        xmlsec.tree.add_ids(assertion, ["ID"])
        context.sign(signature)
        return assertion


def _is_ec(key: Path) -> bool:
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    return isinstance(load_pem_private_key(key.read_bytes(), None), ec.EllipticCurvePrivateKey)


def assertion(patient: str, *, role: tuple[str, str] = ("10", PROFESSION),
              speciality: tuple[str, str] | None = ("SM26", "1.2.250.1.71.4.2.5"),
              purpose: str = "normal", subject: str = "810101234567",
              structure: str = "1750099991", issued: dt.datetime | None = None,
              issuer: str = SIGNER_DN, omit: tuple[str, ...] = ()) -> etree._Element:
    """An unsigned VIHF assertion for `patient` (INS in CX form)."""
    issued = issued or dt.datetime.now(dt.UTC)
    root = etree.Element(f"{{{SAML}}}Assertion", nsmap={None: SAML, "xsi": XSI},
                         ID=f"_{uuid.uuid4()}", Version="2.0",
                         IssueInstant=issued.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
    etree.SubElement(root, f"{{{SAML}}}Issuer",
                     Format="urn:oasis:names:tc:SAML:1.1:nameid-format:X509SubjectName"
                     ).text = issuer
    etree.SubElement(etree.SubElement(root, f"{{{SAML}}}Subject"), f"{{{SAML}}}NameID"
                     ).text = subject
    statement = etree.SubElement(root, f"{{{SAML}}}AttributeStatement")

    def attribute(name: str, value: str | etree._Element) -> None:
        if name in omit:
            return
        holder = etree.SubElement(etree.SubElement(statement, f"{{{SAML}}}Attribute",
                                                   Name=name), f"{{{SAML}}}AttributeValue")
        if isinstance(value, str):
            holder.text = value
        else:
            holder.append(value)

    def coded(tag: str, code: str, system: str) -> etree._Element:
        element = etree.Element(f"{{{HL7}}}{tag}", nsmap={None: HL7}, code=code,
                                codeSystem=system)
        element.set(f"{{{XSI}}}type", "CE")
        return element

    attribute("VIHF_Version", "3.0")
    attribute("Authentification_Mode", "INDIRECTE")
    attribute("Secteur_Activite", "SA07^1.2.250.1.71.4.2.4")
    attribute("Identifiant_Structure", structure)
    attribute("urn:oasis:names:tc:xacml:2.0:resource:resource-id", patient)
    attribute("Ressource_URN", "urn:dmp")
    attribute("urn:oasis:names:tc:xspa:1.0:subject:subject-id", "DR EXEMPLE")
    attribute("urn:oasis:names:tc:xspa:1.0:subject:purposeofuse",
              coded("PurposeOfUse", purpose, PURPOSE_OF_USE_SYSTEM))
    if "urn:oasis:names:tc:xacml:2.0:subject:role" not in omit:
        role_attribute = etree.SubElement(statement, f"{{{SAML}}}Attribute",
                                          Name="urn:oasis:names:tc:xacml:2.0:subject:role")
        for code, system in [role, *([speciality] if speciality else [])]:
            etree.SubElement(role_attribute, f"{{{SAML}}}AttributeValue").append(
                coded("Role", code, system))
    return root


def security_header(signed: etree._Element) -> etree._Element:
    header = etree.Element(f"{{{WSSE}}}Security", nsmap={"wsse": WSSE})
    header.append(signed)
    return header


__all__ = ["DS", "SigningAuthority", "assertion", "security_header"]
