"""Sign-in through the organisation's OpenID Connect provider, the pure part (authorization code + PKCE).

1. /sign-in/oidc makes an attempt (state, nonce, PKCE verifier; 10 minutes), keeps it in a signed
   cookie and sends the browser to the provider with the state, the nonce and the S256 challenge.
2. The provider sends the browser back with a code and the state: the state must be the attempt's.
3. The code and the verifier buy an ID token, accepted only when signed by a key of the provider's
   JWKS, issued by the issuer for this client, not expired, and carrying the attempt's nonce.
4. Its claims name the clinics and the scope exactly as a Frontdesk token does (auth.principal_from_claims).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import jwt
from fastapi import HTTPException

from frontdesk.common.auth import READ, Principal, principal_from_claims

from .session import sign, unsign

ATTEMPT_SECONDS = 10 * 60
# Asymmetric signatures only: never "none", never HS* (the client secret would then be a signing key).
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
LEEWAY_SECONDS = 30


class SignInRefused(Exception):
    """The provider's answer is not a valid sign-in for this console; the message says why."""


class UnknownSigningKey(SignInRefused):
    """The ID token names a key the JWKS we hold lacks: the provider may have rotated its keys."""


@dataclass(frozen=True)
class Attempt:
    state: str
    nonce: str
    verifier: str  # PKCE code_verifier (RFC 7636): 43+ characters of the unreserved alphabet
    expires_at: int  # Unix seconds


def new_attempt(now: datetime) -> Attempt:
    return Attempt(
        state=secrets.token_urlsafe(24),
        nonce=secrets.token_urlsafe(24),
        verifier=secrets.token_urlsafe(48),
        expires_at=int(now.timestamp()) + ATTEMPT_SECONDS,
    )


def challenge(verifier: str) -> str:
    """S256: BASE64URL(SHA256(verifier)), without padding."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def encode_attempt(attempt: Attempt, key: bytes) -> str:
    body = {"state": attempt.state, "nonce": attempt.nonce, "pkce": attempt.verifier, "exp": attempt.expires_at}
    return sign(body, key)


def decode_attempt(cookie: str, keys: Sequence[bytes], now: datetime) -> Attempt | None:
    body = unsign(cookie, keys)
    if body is None:
        return None
    try:
        attempt = Attempt(str(body["state"]), str(body["nonce"]), str(body["pkce"]), int(body["exp"]))
    except (KeyError, TypeError, ValueError):
        return None
    return attempt if now.timestamp() < attempt.expires_at else None


def state_matches(attempt: Attempt, given: str | None) -> bool:
    return given is not None and hmac.compare_digest(attempt.state.encode(), given.encode())


def authorization_url(endpoint: str, client_id: str, redirect_url: str, scopes: str, attempt: Attempt) -> str:
    query = urlencode(
        {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": redirect_url,
            "scope": scopes,
            "state": attempt.state,
            "nonce": attempt.nonce,
            "code_challenge": challenge(attempt.verifier),
            "code_challenge_method": "S256",
        }
    )
    return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}"


def _signing_key(id_token: str, jwks: dict[str, Any]) -> tuple[Any, str]:
    try:
        header = jwt.get_unverified_header(id_token)
    except jwt.PyJWTError:
        raise SignInRefused("the provider's ID token is not a JWT") from None
    algorithm = header.get("alg")
    if algorithm not in ALGORITHMS:
        raise SignInRefused(f"the ID token's algorithm {algorithm!r} is not accepted")
    try:
        keys = jwt.PyJWKSet.from_dict(jwks).keys
    except jwt.PyJWTError:
        raise SignInRefused("the provider's JWKS holds no usable key") from None
    kid = header.get("kid")
    matching = [k for k in keys if k.key_id == kid] if kid is not None else keys
    if len(matching) != 1:
        raise UnknownSigningKey(f"the ID token is signed by a key the provider does not publish ({kid!r})")
    return matching[0].key, str(algorithm)


def verify_id_token(
    id_token: str, jwks: dict[str, Any], issuer: str, client_id: str, nonce: str, now: datetime
) -> dict[str, Any]:
    """The ID token's claims, once its signature, issuer, audience, times and nonce are right."""
    key, algorithm = _signing_key(id_token, jwks)
    try:
        claims: dict[str, Any] = jwt.decode(
            id_token,
            key,
            algorithms=[algorithm],
            audience=client_id,
            issuer=issuer,
            leeway=LEEWAY_SECONDS,
            options={"require": ["exp", "iat", "sub", "iss", "aud"]},
        )
    except jwt.ExpiredSignatureError:
        raise SignInRefused("the provider's ID token has expired") from None
    except jwt.PyJWTError as exc:
        raise SignInRefused(f"the provider's ID token is not valid: {exc}") from None
    if claims["exp"] + LEEWAY_SECONDS <= now.timestamp():
        raise SignInRefused("the provider's ID token has expired")
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if len(audiences) > 1 and claims.get("azp") != client_id:
        raise SignInRefused("the ID token was issued to another client (azp)")
    given = claims.get("nonce")
    if not isinstance(given, str) or not hmac.compare_digest(given.encode(), nonce.encode()):
        raise SignInRefused("the ID token's nonce is not this sign-in's")
    return claims


def principal_of(claims: dict[str, Any], clinics_claim: str, scope_claim: str) -> Principal:
    """The clinics and scope the provider grants, read as a Frontdesk token's; the console needs read."""
    clinics = claims.get(clinics_claim)
    if isinstance(clinics, str):  # some providers flatten a one-element list, or join with spaces
        clinics = clinics.replace(",", " ").split()
    mapped: dict[str, Any] = {"sub": claims["sub"], "clinics": clinics}
    if scope_claim in claims:
        mapped["scope"] = claims[scope_claim]
    try:
        principal = principal_from_claims(mapped)
    except HTTPException as refused:
        raise SignInRefused(f"the provider's sign-in {str(refused.detail).removeprefix('the bearer token ')}") from None
    if READ not in principal.scopes:
        raise SignInRefused("the provider grants this sign-in no 'read' scope")
    return principal
