"""IUA bearer tokens for the FHIR front's tests: a signing key of a test authorization server,
its JWKS file, and tokens with the claims docs/fhir.md names (made with PyJWT)."""

from __future__ import annotations

import datetime as dt
import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

ISSUER = "https://iua.test.example/auth"
AUDIENCE = "https://xds.test.example/fhir"
PROFESSION = "1.2.250.1.71.1.2.7"
NON_PROFESSIONAL = "1.2.250.1.213.1.1.4.6"
PURPOSE_SYSTEM = "1.2.250.1.213.1.1.4.248"
ROLES = {"professional": ("10", PROFESSION), "patient": ("PATIENT", NON_PROFESSIONAL),
         "legal_representative": ("REPRESENTANT_LEGAL", NON_PROFESSIONAL),
         "administrator": ("ADMINISTRATEUR", NON_PROFESSIONAL)}
ALL_SCOPES = "user/DocumentReference.read user/DocumentReference.write user/List.read " \
             "user/Binary.read"


@functools.cache
def _issuer_key() -> rsa.RSAPrivateKey:
    """One signing key per process (an RSA-2048 key costs 0.1-1 s on a loaded machine): the
    issuers of different modules are never used together, and a token "signed by another
    key" makes its own (tests/test_fhir_security.py)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass
class TokenIssuer:
    key: Any
    jwks_path: Path
    pem_path: Path
    kid: str = "k1"

    @classmethod
    def create(cls, directory: Path) -> TokenIssuer:
        directory.mkdir(parents=True, exist_ok=True)
        key = _issuer_key()
        public = key.public_key()
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(public))
        jwk.update(kid="k1", use="sig", alg="RS256")
        jwks = directory / "jwks.json"
        jwks.write_text(json.dumps({"keys": [jwk]}))
        pem = directory / "keys.pem"
        pem.write_bytes(public.public_bytes(serialization.Encoding.PEM,
                                            serialization.PublicFormat.SubjectPublicKeyInfo))
        return cls(key, jwks, pem)

    def settings(self) -> dict[str, str]:
        return {"security": "vihf", "iua_jwks": str(self.jwks_path), "iua_issuers": ISSUER,
                "iua_audience": AUDIENCE}

    def claims(self, patient: str, kind: str = "professional", subject: str = "810101234567",
               purpose: str = "normal", scope: str = ALL_SCOPES, lifetime: int = 300,
               **overrides: Any) -> dict[str, Any]:
        now = dt.datetime.now(dt.UTC)
        code, system = ROLES[kind]
        claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": subject, "iat": now,
                  "exp": now + dt.timedelta(seconds=lifetime), "scope": scope,
                  "extensions": {"ihe_iua": {
                      "subject_role": {"system": f"urn:oid:{system}", "code": code},
                      "purpose_of_use": {"system": f"urn:oid:{PURPOSE_SYSTEM}",
                                         "code": purpose},
                      "subject_organization_id": "1750099991", "person_id": patient,
                      "subject_name": "DR TEST"},
                      "ans_vihf": {"authentification_mode": "INDIRECTE",
                                   "vihf_version": "3.0"}}}
        claims.update(overrides)
        return claims

    def token(self, patient: str, **options: Any) -> str:
        return jwt.encode(self.claims(patient, **options), self.key, algorithm="RS256",
                          headers={"kid": self.kid})

    def header(self, patient: str, **options: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(patient, **options)}"}
