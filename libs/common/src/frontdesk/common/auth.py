"""Who is calling an HTTP API, and which clinics they may touch.

Staff and integration clients send `Authorization: Bearer <token>`. A token is a JWT signed with
Ed25519 (EdDSA) by the network's token issuer; services hold only public keys
(FRONTDESK_AUTH_PUBLIC_KEYS: one or more PEM blocks, so a new signing key can be rolled out before
the old one is retired). Claims:

- `sub`: who (a person or an integration client), recorded in the audit trail;
- `exp`: required, tokens are short-lived;
- `aud`: "frontdesk";
- `clinics`: the clinic ids this token may touch, or ["*"] for a network-wide client;
- `scope`: "read" or "read write". GET needs read; every other method needs write.

Object-level authorization is the endpoint's job, with the `Principal` this module hands it:
`require_clinic` for a clinic named in the request (403), `require_owner` for an object looked up by
id (404 when it belongs to another clinic, so ids of other clinics' objects cannot be probed),
`claim_patient` before changing a patient's contact details or consents (docs/patients.md: patients
shared by the clinics of a network), `author` for who wrote a note or an acknowledgement.
"""

from __future__ import annotations

import hashlib
import re
import time
import uuid
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

AUDIENCE = "frontdesk"
ALL_CLINICS = "*"
READ, WRITE = "read", "write"
_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_PEM_BLOCK = re.compile(r"-----BEGIN PUBLIC KEY-----.+?-----END PUBLIC KEY-----", re.S)
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="frontdesk"'}
_ID = re.compile(r"^[A-Za-z0-9._:@-]{1,128}$")  # contracts.Id: what may travel on a shared topic


@dataclass(frozen=True)
class Principal:
    subject: str
    clinics: frozenset[str] | None  # None: every clinic of the network
    scopes: frozenset[str]

    def can_see(self, clinic_id: str | None) -> bool:
        return clinic_id is not None and (self.clinics is None or clinic_id in self.clinics)

    def require_clinic(self, clinic_id: str) -> None:
        """A clinic named by the request itself (path, query or body)."""
        if not self.can_see(clinic_id):
            raise HTTPException(403, f"this token is not scoped to clinic {clinic_id}")

    def require_owner(self, clinic_id: str | None, what: str) -> None:
        """An object found by id: missing and someone else's look the same (no existence oracle)."""
        if not self.can_see(clinic_id):
            raise HTTPException(404, f"unknown {what}")

    def require_any(self, clinic_ids: Iterable[str], what: str) -> None:
        """An object shared by several clinics (a patient): visible when one of them is in scope."""
        if self.clinics is None:
            return
        if not any(c in self.clinics for c in clinic_ids):
            raise HTTPException(404, f"unknown {what}")

    def claim_patient(self, registered: Collection[str], linked: Collection[str], on_file: bool) -> bool:
        """Before changing a patient's contact details or consents: only a clinic that registered the
        patient (`registered`), or a network-wide token. A clinic merely linked to the patient (by an
        appointment, a waitlist entry, a message) may read but not change them (403); a clinic with no
        link at all is told nothing (404). A patient nobody registered and nothing is on file for is
        registered now by the token's clinics: True means "link them as the registering clinics"."""
        if self.clinics is None or any(c in self.clinics for c in registered):
            return False
        linked_here = any(c in self.clinics for c in linked)
        if registered or on_file:  # another clinic's registration, or the network's own record
            if linked_here:
                raise HTTPException(403, "only the clinic that registered this patient may change these details")
            raise HTTPException(404, "unknown patient")
        if linked and not linked_here:
            raise HTTPException(404, "unknown patient")
        return True

    def author(self, claimed: str | None = None) -> str:
        """Who wrote a note or an acknowledgement: the token's subject, never the request body. A body
        that names someone else is refused (403); naming the subject itself is accepted (older clients).
        A subject that is not a plain id (spaces, very long) is recorded as a digest of itself."""
        digest = hashlib.sha256(self.subject.encode()).hexdigest()[:32]
        author = self.subject if _ID.match(self.subject) else f"sub:{digest}"
        if claimed is not None and claimed not in (author, self.subject):
            raise HTTPException(403, "the author is the token's subject: omit the field or give that subject")
        return author

    def visible_clinics(self) -> list[str] | None:
        """For SQL filters on lists: None means no filter (network-wide token)."""
        return None if self.clinics is None else sorted(self.clinics)


def key_id(public_key: Ed25519PublicKey) -> str:
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()[:16]


class TokenVerifier:
    """Verifies tokens against the configured public keys (chosen by the token's `kid`)."""

    def __init__(self, public_keys_pem: str) -> None:
        self.keys: dict[str, Ed25519PublicKey] = {}
        for block in _PEM_BLOCK.findall(public_keys_pem or ""):
            key = serialization.load_pem_public_key(block.encode())
            if not isinstance(key, Ed25519PublicKey):
                raise ValueError("FRONTDESK_AUTH_PUBLIC_KEYS holds a key that is not Ed25519")
            self.keys[key_id(key)] = key

    def verify(self, token: str, method: str) -> Principal:
        if not self.keys:
            raise HTTPException(401, "this service has no token keys (FRONTDESK_AUTH_PUBLIC_KEYS)", _CHALLENGE)
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError:
            raise HTTPException(401, "the bearer token is not a JWT", _CHALLENGE) from None
        key = self.keys.get(kid) if isinstance(kid, str) else None
        if key is None:
            raise HTTPException(401, "the bearer token is signed by an unknown key", _CHALLENGE)
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=["EdDSA"],
                audience=AUDIENCE,
                leeway=30,
                options={"require": ["exp", "sub", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise HTTPException(401, "the bearer token has expired", _CHALLENGE) from None
        except jwt.PyJWTError as exc:
            raise HTTPException(401, f"the bearer token is not valid: {exc}", _CHALLENGE) from None
        principal = principal_from_claims(claims)
        needed = READ if method in _READ_METHODS else WRITE
        if needed not in principal.scopes:
            raise HTTPException(403, f"this token lacks the '{needed}' scope")
        return principal


def principal_from_claims(claims: dict[str, Any]) -> Principal:
    """Who the verified claims name: `sub`, `clinics` (ids, or ["*"]), `scope` (default read). Also the
    console's mapping of an OpenID Connect provider's ID token, so both sign-ins grant the same."""
    clinics = claims.get("clinics")
    if not isinstance(clinics, list) or not clinics or not all(isinstance(c, str) and c for c in clinics):
        raise HTTPException(401, "the bearer token names no clinics", _CHALLENGE)
    scope = claims.get("scope", READ)
    if not isinstance(scope, str):
        raise HTTPException(401, "the bearer token's scope is not a string", _CHALLENGE)
    return Principal(
        subject=str(claims["sub"]),
        clinics=None if ALL_CLINICS in clinics else frozenset(clinics),
        scopes=frozenset(scope.split()),
    )


_bearer = HTTPBearer(auto_error=False, description="A Frontdesk token: `frontdesk token --help`")


async def authenticate(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    """FastAPI dependency: the caller, or 401/403. Cached on the request for the audit trail."""
    cached = getattr(request.state, "principal", None)
    if isinstance(cached, Principal):
        return cached
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(401, "missing bearer token (Authorization: Bearer <token>)", _CHALLENGE)
    verifier: TokenVerifier = request.app.state.token_verifier
    principal = verifier.verify(credentials.credentials, request.method)
    request.state.principal = principal
    return principal


CurrentPrincipal = Annotated[Principal, Depends(authenticate)]


# --- issuing (the local stack, tests, and small deployments without an identity provider) -------


def generate_signing_key() -> tuple[str, str]:
    """A new Ed25519 key pair as (private PEM, public PEM)."""
    private = Ed25519PrivateKey.generate()
    private_pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public_pem = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private_pem, public_pem


def issue_token(
    private_key_pem: str,
    subject: str,
    clinics: Sequence[str] | None = None,
    scopes: Sequence[str] = (READ, WRITE),
    ttl_seconds: int = 8 * 3600,
) -> str:
    """A signed token for `subject`; `clinics=None` makes it network-wide."""
    key = serialization.load_pem_private_key(private_key_pem.encode(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("the signing key is not Ed25519")
    now = int(time.time())
    claims = {
        "sub": subject,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + ttl_seconds,
        "jti": uuid.uuid4().hex,
        "clinics": [ALL_CLINICS] if clinics is None else list(clinics),
        "scope": " ".join(scopes),
    }
    return jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": key_id(key.public_key())})
