"""The FHIR front's authentication adapter: an IHE IUA bearer token (a JWT signed by a trusted
authorization server) → the same `Principal` a VIHF gives, the same access decision after it.

Claims read (docs/fhir.md, "Tokens"): `iss`, `aud`, `exp`, `nbf`, `iat`, `sub` (the caller's
national identifier, idNat_PS), `scope`, and the IUA extension `extensions.ihe_iua`:
`subject_role` (a Coding: profession TRE_G15/R38, or this server's PATIENT,
REPRESENTANT_LEGAL, ADMINISTRATEUR, AUTOMATE codes of TRE_A00, as in the VIHF),
`purpose_of_use` (a Coding: normal, bris_de_glace or centre_15 of 1.2.250.1.213.1.1.4.248),
`subject_organization_id` (Identifiant_Structure), `person_id` (the patient's INS as a CX:
the VIHF's resource-id), `subject_name`; and the DMP's VIHF attributes without an IUA name in
`extensions.ans_vihf`: `authentification_mode`, `secteur_activite`, `vihf_version`.

Each rule, and the attack it stops (tests/test_fhir_security.py mounts each):
1. Asymmetric algorithms only (RS/PS/ES), fixed by the server, never read from the token:
   `alg: none`; HS256 signed with the server's public key as the HMAC secret.
2. Keys from XDS_IUA_JWKS only (a JWKS file, or a PEM file of public keys or certificates);
   a `kid` must name one of them; `jku`, `x5u`, `jwk` headers are ignored: a token that
   brings its own key.
3. `iss` one of XDS_IUA_ISSUERS, `aud` this server (XDS_IUA_AUDIENCE), `exp` required and
   not passed (60 s leeway), `nbf`/`iat` not in the future: a token for another service,
   replayed after its life, or minted by an issuer this server does not trust.
4. The scope the transaction needs (SCOPES): a read token used to write.
5. The token at most MAX_TOKEN_BYTES, one Authorization header, one Bearer token: an input
   whose size is the attacker's choice.
6. Identity claims present, strings, the patient a CX with an ISO authority: an anonymous
   or patient-less caller skipping the scope check.
7. Every identity claim read held to the VIHF's rules (security/identity_text.py): `sub` and
   `subject_organization_id` at most 64 characters, the others 256, no control character or
   lone surrogate: an 81-character `sub` answered 500 on PostgreSQL and lost other callers'
   read audits, a `\ud800` in a claim did so on both databases (issue 16 re-test c).
"""

from __future__ import annotations

import base64
import json
import math
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from ..model.hl7 import Cx
from ..security.identity_text import IDENTIFIER_MAX, VALUE_MAX, identity_problem
from ..security.principal import Principal
from ..security.vihf_reading import PROFESSION_SYSTEMS, PURPOSE_OF_USE_SYSTEM, PURPOSES, ROLE_KINDS
from .outcome import FhirError, issue
from .texts import Duplicated, parse_pairs, shown

ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"]
MAX_TOKEN_BYTES = 16 * 1024
LEEWAY = 60
MAX_KEYS = 64
# the transaction → (resource, SMART v1 access, SMART v2 letter) a token's scope must grant:
# `[user/|patient/|system/](<Resource>|*).(read|write|*|<cruds letters>)`
SCOPES: dict[str, tuple[str, str, str]] = {
    "ITI-65": ("DocumentReference", "write", "c"), "ITI-57": ("DocumentReference", "write", "u"),
    "ITI-67": ("DocumentReference", "read", "s"), "ITI-66": ("List", "read", "s"),
    "ITI-68": ("Binary", "read", "r"), "read": ("DocumentReference", "read", "r"),
    "read List": ("List", "read", "r"),
}
_SCOPE = re.compile(r"(?:(?:user|patient|system)/)?([A-Za-z]+|\*)\.(read|write|\*|c?r?u?d?s?)")
DEFAULT_MAX_LIFETIME = 3600


class TokenError(Exception):
    pass


def load_keys(path: Path) -> dict[str | None, Any]:
    """kid → public key, from a JWKS (JSON) or a PEM file of keys or certificates (no kid)."""
    text = path.read_text(encoding="utf-8")
    keys: dict[str | None, Any] = {}
    if text.lstrip().startswith("{"):
        for jwk in json.loads(text).get("keys", [])[:MAX_KEYS]:
            if "d" in jwk or jwk.get("kty") == "oct":
                raise ValueError(f"{path}: JWKS holds a private or symmetric key")
            keys[jwk.get("kid")] = jwt.PyJWK(jwk).key
        return keys
    for position, block in enumerate(text.split("-----BEGIN ")[1:MAX_KEYS + 1]):
        pem = ("-----BEGIN " + block).encode()
        key = x509.load_pem_x509_certificate(pem).public_key() if block.startswith(
            "CERTIFICATE") else load_pem_public_key(pem)
        keys[f"pem-{position}"] = key
    return keys


class BearerVerifier:
    def __init__(self, keys: dict[str | None, Any], issuers: list[str], audience: str,
                 max_lifetime: int = DEFAULT_MAX_LIFETIME) -> None:
        if not keys or not issuers or not audience:
            raise ValueError("IUA tokens need keys (XDS_IUA_JWKS), issuers (XDS_IUA_ISSUERS) "
                             "and an audience (XDS_IUA_AUDIENCE)")
        self.keys = keys
        self.issuers = issuers
        self.audience = audience
        self.max_lifetime = max_lifetime

    def principal(self, authorization: str, transaction: str) -> Principal:
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or " " in token or "," in authorization:
            raise TokenError("Authorization must be one 'Bearer <token>'")
        if len(token) > MAX_TOKEN_BYTES:
            raise TokenError(f"the token is over {MAX_TOKEN_BYTES} bytes")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise TokenError(f"not a JWT: {exc}") from None
        if header.get("alg") not in ALGORITHMS:
            raise TokenError(f"algorithm {header.get('alg')!r} is refused (asymmetric "
                             "signatures only)")
        kid = header.get("kid")
        candidates = [self.keys[kid]] if kid in self.keys else (
            [] if kid is not None else list(self.keys.values()))
        if not candidates:
            raise TokenError("the token's kid names no trusted key")
        claims = None
        for key in candidates:
            try:
                claims = jwt.decode(token, key, algorithms=ALGORITHMS, audience=self.audience,
                                    issuer=self.issuers, leeway=LEEWAY,
                                    options={"require": ["exp", "iss", "aud", "sub"]})
                break
            except jwt.InvalidSignatureError:
                continue
            except jwt.PyJWTError as exc:
                raise TokenError(f"token refused: {exc}") from None
        if claims is None:
            raise TokenError("token refused: the signature does not verify with a trusted key")
        _check_unique(token)
        _check_times(claims, self.max_lifetime)
        _check_scope(claims, transaction)
        return _principal(claims)


def _check_unique(token: str) -> None:
    """Each header parameter and claim named once (RFC 7519 §4: a parser "MUST either reject
    JWTs with duplicate Claim Names or use a JSON parser that returns only the lexically last";
    this server rejects, as it rejects a duplicate member anywhere, 16e F3)."""
    def unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        value = parse_pairs(pairs)
        if isinstance(value, Duplicated):
            raise TokenError(f"the token names '{shown(value.repeated)}' twice")
        return value

    for segment in token.split(".")[:2]:
        json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)),
                   object_pairs_hook=unique)


def _check_times(claims: dict[str, Any], max_lifetime: int) -> None:
    """exp, iat, nbf are NumericDate numbers (a string "9999999999" passed the library's
    int()), and a token lives at most max_lifetime seconds from now (exp = 10^20: a stolen
    token good forever)."""
    for name in ("exp", "iat", "nbf"):
        value = claims.get(name)
        if name in claims and (isinstance(value, bool) or not isinstance(value, int | float)
                               or (isinstance(value, float) and not math.isfinite(value))):
            raise TokenError(f"claim {name} must be a number (NumericDate)")
    # compared, not subtracted: exp = 10^400 does not fit a float (an OverflowError, a 500
    # for a trusted issuer's malformed token: issue 16 re-test m13)
    if claims["exp"] > time.time() + max_lifetime + LEEWAY:
        raise TokenError(f"the token lives longer than {max_lifetime} s "
                         "(XDS_IUA_MAX_LIFETIME)")


def _check_scope(claims: dict[str, Any], transaction: str) -> None:
    """A scope grants the transaction's resource (or *) with SMART v1 access (read, write,
    *) or v2 letters (c r u d s); only the user/, patient/ and system/ prefixes are scopes of
    FHIR resources (evil/DocumentReference.read is not)."""
    resource, access, letter = SCOPES[transaction]
    granted = claims.get("scope", "")
    for scope in granted.split() if isinstance(granted, str) else ():
        match = _SCOPE.fullmatch(scope)
        if match is None:
            continue
        name, right = match.groups()
        if name in (resource, "*") and (right in (access, "*") or
                                        (right not in ("read", "write") and letter in right)):
            return
    raise TokenError(f"the token's scope does not grant {resource}.{access} (SMART v2: "
                     f"{resource}.{letter}) for {transaction}")


def _text(claims: dict[str, Any], name: str, required: bool = True,
          limit: int = VALUE_MAX) -> str:
    """A claim held to the rules of a VIHF value (rule 7, security/identity_text.py)."""
    value = claims.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or not value.strip():
        raise TokenError(f"claim {name} is missing or not a string")
    if (problem := identity_problem(value, limit)) is not None:
        raise TokenError(f"claim {name} {problem}")
    return value


def _coding(value: Any, name: str) -> tuple[str, str]:
    if not isinstance(value, dict) or not isinstance(value.get("code"), str) or \
            not isinstance(value.get("system", ""), str):
        raise TokenError(f"claim ihe_iua.{name} must be a Coding (system, code)")
    for part in ("system", "code"):
        if (problem := identity_problem(value.get(part, ""))) is not None:
            raise TokenError(f"claim ihe_iua.{name}.{part} {problem}")
    return value.get("system", "").removeprefix("urn:oid:"), value["code"]


def _principal(claims: dict[str, Any]) -> Principal:
    extensions = claims.get("extensions")     # a string or a list here was a 500 (m13)
    extensions = extensions if isinstance(extensions, dict) else {}
    iua = extensions.get("ihe_iua")
    vihf = extensions.get("ans_vihf") or {}
    if not isinstance(iua, dict) or not isinstance(vihf, dict):
        raise TokenError("claim extensions.ihe_iua (the IUA attributes) is missing")
    system, code = _coding(iua.get("subject_role"), "subject_role")
    kind = ROLE_KINDS.get((system, code)) or (
        "professional" if system in PROFESSION_SYSTEMS else None)
    if kind is None:
        raise TokenError(f"role {code} of {system} is not a role this server knows")
    purpose_system, purpose = _coding(iua.get("purpose_of_use"), "purpose_of_use")
    if purpose_system != PURPOSE_OF_USE_SYSTEM or purpose not in PURPOSES:
        raise TokenError(f"purpose_of_use must be one of {', '.join(PURPOSES)} in "
                         f"{PURPOSE_OF_USE_SYSTEM}")
    patient = _text(iua, "person_id")
    if Cx.parse(patient) is None:
        raise TokenError("ihe_iua.person_id must be the patient's INS as 'ID^^^&OID&ISO'")
    return Principal(
        subject_id=_text(claims, "sub", limit=IDENTIFIER_MAX), role=kind,
        structure_id=_text(iua, "subject_organization_id", limit=IDENTIFIER_MAX),
        purpose_of_use=purpose,
        patient_id=patient,
        attributes={"profession": f"{code}^{system}", "specialities": "",
                    "authentication_mode": _text(vihf, "authentification_mode", False),
                    "sector": _text(vihf, "secteur_activite", False),
                    "name": _text(iua, "subject_name", False),
                    "vihf_version": _text(vihf, "vihf_version", False),
                    "token_issuer": claims["iss"]})


Authenticator = Callable[[dict[str, Any], str], Principal]


def authenticator(verifier: BearerVerifier | None) -> Authenticator | None:
    """What the front runs before each call (None: XDS_SECURITY=none, the system caller)."""
    if verifier is None:
        return None

    def authenticate(environ: dict[str, Any], transaction: str) -> Principal:
        header = environ.get("HTTP_AUTHORIZATION", "")
        if not header:
            raise FhirError(401, [issue("a bearer token (IHE IUA) is required", "",
                                        "login")])
        try:
            return verifier.principal(header, transaction)
        except TokenError as exc:
            status = 403 if "scope" in str(exc) else 401
            raise FhirError(status, [issue(str(exc), "", "forbidden" if status == 403
                                           else "login")]) from None

    return authenticate
